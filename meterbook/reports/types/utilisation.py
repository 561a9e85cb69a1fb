"""The utilisation report (the cloud sprint report): per environment, servers and databases,
CPU and memory range and average, points above the threshold (incidents), one line chart per
environment and metric, incidents and recommendations, from the queries of ``meterbook
metrics``; the incidents and recommendations sections also list the stored ``utilisation``
alerts (``meterbook alerts``) of the period's days. Workbench series (the ML trends) are left
to the trends report."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from meterbook.alert_rules import severity_rank
from meterbook.alerts import Alert, list_alerts
from meterbook.collecting import WORKBENCH
from meterbook.reports import charts
from meterbook.reports.model import Column, Headline, Section, Table
from meterbook.reports.types import Context, ReportType, register
from meterbook.reports.types.common import seconds
from meterbook.store.queries.metrics import (
    MetricScope,
    MetricSummary,
    metric_series,
    metric_summary,
)

THRESHOLD = 80.0
#: Recommendation rules: below LOW average and below HALF maximum -> downsize; p95 above
#: THRESHOLD -> upsize or spread the load.
LOW, HALF = 20.0, 50.0
SUMMARY = [
    Column("samples", "samples", "int"),
    Column("minimum", "min %", "float"),
    Column("maximum", "max %", "float"),
    Column("average", "avg %", "float"),
    Column("p95", "p95 %", "float"),
    Column("above", f"points > {THRESHOLD:g} %", "int"),
]


def _summaries(ctx: Context, level: str) -> list[MetricSummary]:
    def run() -> list[MetricSummary]:
        start, end = seconds(ctx)
        found = metric_summary(ctx.conn, start, end, level=level, threshold=THRESHOLD)
        found = [m for m in found if m.kind != WORKBENCH]
        ctx.rows_read += len(found)
        return found

    return ctx.shared(f"metrics:{level}", run)  # type: ignore[no-any-return]


def _cells(m: MetricSummary) -> list[object]:
    return [getattr(m, c.name) for c in SUMMARY]


def overall(ctx: Context) -> Section:
    envs = _summaries(ctx, "environment")
    ctx.headlines += [
        Headline("Environments", len({m.environment for m in envs}), "int"),
        Headline("Instances", len({(m.environment, m.instance)
                                    for m in _summaries(ctx, "instance")}), "int"),
        Headline("Incident points", sum(m.above for m in envs), "int"),
    ]  # fmt: skip
    paragraphs = []
    for m in envs:
        if m.minimum is None or m.average is None:
            continue
        paragraphs.append(
            f"{m.environment or '(none)'}, {_kind(m.kind)}: {m.metric} utilisation range "
            f"{m.minimum:.1f}% to {m.maximum:.1f}% (average {m.average:.1f}%)."
        )
    table = Table(
        "by_environment", "Overall summary by environment",
        [Column("environment", "environment"), Column("kind", "kind"),
         Column("metric", "metric"), *SUMMARY],
        [[m.environment, _kind(m.kind), m.metric, *_cells(m)] for m in envs],
    )  # fmt: skip
    return Section("overall", "Overall summary", paragraphs, [table])


def _kind(kind: str) -> str:
    if kind.lower() in {"rds", "database"}:
        return "database"
    if kind.lower() in {"ecs", "server"}:
        return "servers"
    return kind


def instances(ctx: Context) -> Section:
    rows = _summaries(ctx, "instance")
    table = Table(
        "by_instance", "Instances",
        [Column("environment", "environment"), Column("group", "group"),
         Column("instance", "instance"), Column("kind", "kind"), Column("metric", "metric"),
         *SUMMARY],
        [[m.environment, m.group, m.instance, _kind(m.kind), m.metric, *_cells(m)] for m in rows],
    )  # fmt: skip
    return Section("instances", "Instances", [], [table])


def period_alerts(ctx: Context) -> list[Alert]:
    """Stored ``utilisation`` alerts of a day in the report period, by day and instance."""

    def run() -> list[Alert]:
        first, end = ctx.period.start.isoformat(), ctx.period.end.isoformat()
        found = [a for a in list_alerts(ctx.conn, kinds=["utilisation"])
                 if first <= a.period < end]  # fmt: skip
        ctx.rows_read += len(found)
        return sorted(found, key=lambda a: (a.period, a.subject, a.metric))

    return ctx.shared("utilisation_alerts", run)  # type: ignore[no-any-return]


def _alerts_table(found: list[Alert]) -> Table:
    return Table(
        "incident_alerts", "Utilisation alerts",
        [Column("day", "day"), Column("subject", "subject"), Column("metric", "metric"),
         Column("severity", "severity"), Column("peak", "peak %", "float"),
         Column("threshold", "threshold %", "float"), Column("status", "status"),
         Column("message", "message")],
        [[a.period, a.subject, a.metric, a.severity, float(a.value),
          float(a.threshold) if a.threshold is not None else None,
          "open" if a.open else f"acknowledged by {a.acknowledged_by}", a.message]
         for a in found],
    )  # fmt: skip


def incidents(ctx: Context) -> Section:
    rows = [m for m in _summaries(ctx, "instance") if m.above]
    table = Table(
        "incidents", "Incidents",
        [Column("environment", "environment"), Column("instance", "instance"),
         Column("metric", "metric"), Column("above", f"points > {THRESHOLD:g} %", "int"),
         Column("above_share", "share of time", "percent"), Column("maximum", "max %", "float")],
        [[m.environment, m.instance, m.metric, m.above, m.above_share, m.maximum] for m in rows],
    )  # fmt: skip
    text = (
        f"{len(rows)} instance metric(s) went above {THRESHOLD:g} %."
        if rows
        else f"No instance went above {THRESHOLD:g} %."
    )
    stored = period_alerts(ctx)
    told = (
        f"{len(stored)} utilisation alert(s) were raised for days of the period "
        f"({sum(1 for a in stored if a.open)} open)."
        if stored
        else "No utilisation alert was raised for a day of the period."
    )
    return Section("incidents", "Incidents", [text, told], [table, _alerts_table(stored)])


@dataclass(frozen=True)
class Recommendation:
    environment: str
    instance: str
    metric: str
    action: str
    reason: str


def recommend(m: MetricSummary) -> Recommendation | None:
    """The rule for one instance metric (None: nothing to change)."""
    if m.average is None or m.maximum is None or m.p95 is None:
        return None
    if m.p95 > THRESHOLD:
        return Recommendation(m.environment, m.instance, m.metric, "upsize or spread load",
                              f"p95 {m.p95:.1f} % is above {THRESHOLD:g} %")  # fmt: skip
    if m.average < LOW and m.maximum < HALF:
        return Recommendation(m.environment, m.instance, m.metric, "downsize",
                              f"average {m.average:.1f} % and maximum {m.maximum:.1f} % "
                              f"stay low (< {LOW:g} %, < {HALF:g} %)")  # fmt: skip
    return None


def from_alerts(ctx: Context, computed: list[Recommendation]) -> list[Recommendation]:
    """One recommendation per instance metric with stored alerts that the computed rules left
    out: the alerts say it ran hot on some days."""
    done = {(r.instance, r.metric) for r in computed}
    where = {m.instance: m.environment for m in _summaries(ctx, "instance")}
    grouped: dict[tuple[str, str], list[Alert]] = defaultdict(list)
    for a in period_alerts(ctx):
        grouped[(a.subject.removeprefix("instance "), a.metric)].append(a)
    out = []
    for (instance, metric), found in sorted(grouped.items()):
        if (instance, metric) in done:
            continue
        worst = max((a.severity for a in found), key=severity_rank)
        out.append(
            Recommendation(where.get(instance, ""), instance, metric, "upsize or spread load",
                           f"{len(found)} utilisation alert day(s), worst severity {worst}")
        )  # fmt: skip
    return out


def recommendations(ctx: Context) -> Section:
    found = [r for r in map(recommend, _summaries(ctx, "instance")) if r is not None]
    found += from_alerts(ctx, found)
    table = Table(
        "recommendations", "Recommendations",
        [Column("environment", "environment"), Column("instance", "instance"),
         Column("metric", "metric"), Column("action", "action"), Column("reason", "reason")],
        [[r.environment, r.instance, r.metric, r.action, r.reason] for r in found],
    )  # fmt: skip
    rules = (
        f"Rules: p95 above {THRESHOLD:g} % -> upsize or spread the load; average below "
        f"{LOW:g} % with maximum below {HALF:g} % -> downsize; an instance metric with stored "
        f"utilisation alerts in the period -> upsize or spread the load."
    )
    return Section("recommendations", "Recommendations", [rules], [table])


def trend_charts(ctx: Context) -> Section:
    start, end = seconds(ctx)
    pairs = sorted({(m.environment, m.metric) for m in _summaries(ctx, "instance")})
    made = []
    by_env: dict[str, list[str]] = defaultdict(list)
    for env, metric in pairs:
        by_env[env].append(metric)
    for env, names in by_env.items():
        for metric in names:
            scope = MetricScope(environments=(env,) if env else (), metrics=(metric,))
            points = [
                p
                for p in metric_series(ctx.conn, start, end, scope, grain="hour", zone=ctx.zone)
                if p.average is not None
            ]
            ctx.rows_read += len(points)
            rows = [{"time": p.time, "instance": p.instance, "percent": p.average}
                    for p in points]  # fmt: skip
            made.append(
                charts.line(
                    _slug(f"{env or 'none'}_{metric}"), f"{env or '(none)'}: {metric} by hour",
                    rows, x="time", y="percent", y_title="%", series="instance",
                )
            )  # fmt: skip
    return Section("charts", "Charts by environment and metric", [], [], made)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


register(
    ReportType(
        "utilisation",
        "Resources utilisation report",
        "Per environment, servers and databases: CPU and memory range, average, incidents, "
        "recommendations, charts",
        [overall, incidents, recommendations, instances, trend_charts],
        source_data=("metrics",),
        team_scoped=False,
    )
)
