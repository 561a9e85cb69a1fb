"""Alerts: evaluate the rules of :mod:`meterbook.alert_rules`, store each condition once, tell
the notification channels about the new ones.

:func:`evaluate` checks every enabled rule as of one day (``as_of``, default today in the
accounting zone). Each condition a rule finds is a :class:`Finding` with a *fingerprint*: a
digest of what it is about (the team, month, basis and threshold of a budget alert; the user
and hour of an IO alert...). The table ``alerts`` holds one row per rule and fingerprint, so
evaluating again, every hour or after a restart, stores nothing twice and notifies nothing
twice. New alerts are committed first and handed to the notifier after: a failing channel
never loses an alert, its error is kept on the alert (``notify_error``).

Severities (``low`` < ``medium`` < ``high``): a budget threshold of 100% or more is high,
90% or more medium, below that low; an allocation used up is high, one projected to run out
within the rule's days medium; a measured value above a threshold is high at 4 times the
threshold, medium at twice, else low; a utilisation peak is high from three quarters of the
way between the threshold and 100 %, medium from half way, else low; anomalies carry their
own severity.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from meterbook import allocations as allocations_lib
from meterbook.alert_rules import (
    AlertRule,
    AllocationRule,
    AnomalyRule,
    BudgetRule,
    IoHeavyRule,
    UsageRule,
    UtilisationRule,
    severity_rank,
)
from meterbook.budgets import list_budgets, month_label, stored_amount
from meterbook.errors import ConfigError, MeterbookError
from meterbook.periods import Period, utc_bounds
from meterbook.store.queries.io import IoScope, io_heavy
from meterbook.store.queries.metrics import MetricScope, metric_series
from meterbook.store.queries.spend import SpendFilters, spend_summary
from meterbook.store.queries.usage import UsageFilters, usage_summary
from meterbook.store.schema_billing import alerts

log = logging.getLogger(__name__)

_DAY = timedelta(days=1)
_SIX = Decimal("0.000001")


@dataclass(frozen=True)
class Finding:
    """A condition one rule found, before it is stored."""

    rule: str
    kind: str
    #: What the condition is about; its digest is the fingerprint.
    about: tuple[str, ...]
    severity: str
    subject: str
    period: str
    metric: str
    value: Decimal
    message: str
    threshold: Decimal | None = None
    expected: Decimal | None = None
    unit: str | None = None

    @property
    def fingerprint(self) -> str:
        text = "\x1f".join((self.kind, *self.about))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Alert:
    id: int
    rule: str
    kind: str
    severity: str
    subject: str
    period: str
    metric: str
    value: Decimal
    threshold: Decimal | None
    expected: Decimal | None
    unit: str | None
    message: str
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    notified_at: datetime | None
    notify_error: str | None

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "period": self.period,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "expected": self.expected,
            "unit": self.unit,
            "message": self.message,
            "created_at": self.created_at,
            "acknowledged_at": self.acknowledged_at,
            "acknowledged_by": self.acknowledged_by,
            "notified_at": self.notified_at,
            "notify_error": self.notify_error,
        }


#: Tells someone about one new alert: raises on failure (the error is kept on the alert).
Notifier = Callable[[Alert, Sequence[str]], None]


@dataclass(frozen=True)
class Context:
    """What the checks need besides the rule."""

    as_of: date
    zone: tzinfo
    io_threshold: int = 250_000
    #: The engine, for checks that open their own connections (forecasts, anomalies).
    engine: Engine | None = None


@dataclass
class Evaluation:
    as_of: date
    findings: list[Finding] = field(default_factory=list)
    new: list[Alert] = field(default_factory=list)
    #: Findings already stored by an earlier evaluation.
    known: int = 0
    #: Rules that could not be checked, with the reason (the others still are).
    failed: dict[str, str] = field(default_factory=dict)
    notified: int = 0
    notify_failed: int = 0


# Checks -------------------------------------------------------------------------------------


def _severity_of_ratio(value: Decimal, threshold: Decimal) -> str:
    if value >= threshold * 4:
        return "high"
    if value >= threshold * 2:
        return "medium"
    return "low"


def _budget_severity(threshold: Decimal) -> str:
    if threshold >= 100:
        return "high"
    if threshold >= 90:
        return "medium"
    return "low"


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    return (part * 100 / whole).quantize(Decimal("0.01"))


def _fmt(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def team_month_actuals(conn: Connection, as_of: date, rule: BudgetRule) -> dict[str, Decimal]:
    """Billed cost per team from the first of ``as_of``'s month to ``as_of`` (included)."""
    first = as_of.replace(day=1)
    window = Period(first, as_of + _DAY, f"{first}..{as_of}")
    report = spend_summary(
        conn,
        window,
        ("team",),
        SpendFilters(providers=rule.providers, teams=rule.teams),
    )
    return {row.group[0]: row.billed_cost for row in report.rows}


def team_month_budgets(
    conn: Connection, month: str, rule: BudgetRule
) -> dict[str, tuple[Decimal, str]]:
    """Budget per team for ``month`` (summed over providers) and its currencies."""
    found: dict[str, tuple[Decimal, set[str]]] = {}
    for budget in list_budgets(conn, months=[month], providers_=rule.providers, teams_=rule.teams):
        amount, currencies = found.get(budget.team, (Decimal(0), set()))
        found[budget.team] = (amount + budget.amount, currencies | {budget.currency})
    return {team: (amount, ", ".join(sorted(c))) for team, (amount, c) in found.items()}


#: Month-end projections per team for a budget rule's ``forecast`` basis: (conn, as_of, rule)
#: -> {team: projected billed cost of the month}. Set by :mod:`meterbook.forecast` users.
ForecastFn = Callable[[Context, BudgetRule], dict[str, Decimal]]


def _budget_findings(
    rule: BudgetRule,
    month: str,
    basis: str,
    figures: dict[str, Decimal],
    planned: dict[str, tuple[Decimal, str]],
    as_of: date,
) -> list[Finding]:
    out: list[Finding] = []
    for team, (budget, currency) in sorted(planned.items()):
        if budget <= 0:
            continue
        value = figures.get(team, Decimal(0))
        used = _percent(value, budget)
        what = "spent" if basis == "actual" else "projected for the month end"
        for threshold in rule.thresholds:
            if value * 100 < threshold * budget:  # exact: the rounded percent could reach it
                continue
            out.append(
                Finding(
                    rule=rule.name,
                    kind="budget",
                    about=(month, team, basis, f"{threshold.normalize():f}"),
                    severity=_budget_severity(threshold),
                    subject=f"team {team}",
                    period=month,
                    metric=f"{basis} % of budget",
                    value=used,
                    threshold=threshold,
                    expected=budget,
                    unit="%",
                    message=(
                        f"team {team}: {_fmt(value)} {currency} {what} by {as_of} is {used}% "
                        f"of its {month} budget of {_fmt(budget)} {currency} "
                        f"(threshold {threshold.normalize():f}%)"
                    ),
                )
            )
    return out


def check_budget(
    conn: Connection, rule: BudgetRule, ctx: Context, forecast: ForecastFn | None = None
) -> list[Finding]:
    month = month_label(ctx.as_of)
    planned = team_month_budgets(conn, month, rule)
    if not planned:
        return []
    found: list[Finding] = []
    if "actual" in rule.basis:
        actual = team_month_actuals(conn, ctx.as_of, rule)
        found += _budget_findings(rule, month, "actual", actual, planned, ctx.as_of)
    if "forecast" in rule.basis:
        projected = (forecast or forecast_month_end)(ctx, rule)
        found += _budget_findings(rule, month, "forecast", projected, planned, ctx.as_of)
    return found


def forecast_month_end(ctx: Context, rule: BudgetRule) -> dict[str, Decimal]:
    """Projected billed cost of ``as_of``'s month per team, from :mod:`meterbook.forecast`."""
    from meterbook import forecast as forecasting

    if ctx.engine is None:
        raise ConfigError("a forecast needs the store's engine")
    filters: dict[str, tuple[str, ...]] = {}
    if rule.providers:
        filters["providers"] = rule.providers
    if rule.teams:
        filters["teams"] = rule.teams
    series = forecasting.forecast(
        ctx.engine,
        by="team",
        metric="cost",
        months=0,
        method=rule.forecast_method,
        as_of=ctx.as_of,
        filters=filters or None,
    )
    month = month_label(ctx.as_of)
    out: dict[str, Decimal] = {}
    for item in series:
        for point in item.months:
            if point.month == month:
                out[item.key] = Decimal(str(point.forecast)).quantize(_SIX)
    return out


def check_allocation(conn: Connection, rule: AllocationRule, ctx: Context) -> list[Finding]:
    found: list[Finding] = []
    for allocation in allocations_lib.list_allocations(conn):
        if rule.allocations and allocation.name not in rule.allocations:
            continue
        if not allocation.start <= ctx.as_of <= allocation.end:
            continue
        burn = allocations_lib.burn_down(conn, allocation.name, ctx.as_of)
        about = (allocation.name, allocation.start.isoformat(), allocation.end.isoformat())
        span = f"{allocation.start}..{allocation.end}"
        amount = f"{_fmt(allocation.amount)} {allocation.unit}"
        percent = burn.percent_used or Decimal(0)
        if burn.remaining <= 0:
            found.append(
                Finding(
                    rule=rule.name, kind="allocation", about=(*about, "exhausted"),
                    severity="high", subject=f"allocation {allocation.name}", period=span,
                    metric="percent used", value=percent, threshold=Decimal(100), unit="%",
                    message=(f"allocation {allocation.name} ({amount}) is used up: "
                             f"{_fmt(burn.used)} used by {ctx.as_of}"
                             + (f", since {burn.exhaustion}" if burn.exhaustion else "")),
                )
            )  # fmt: skip
            continue
        if burn.exhaustion is None or burn.exhaustion > allocation.end:
            continue
        days_left = (burn.exhaustion - ctx.as_of).days
        if days_left > rule.within_days:
            continue
        found.append(
            Finding(
                rule=rule.name, kind="allocation", about=(*about, "runs-out"),
                severity="medium", subject=f"allocation {allocation.name}", period=span,
                metric="days to exhaustion", value=Decimal(days_left),
                threshold=Decimal(rule.within_days), unit="days",
                message=(f"allocation {allocation.name} ({amount}, {percent}% used) is projected "
                         f"to run out on {burn.exhaustion}, {days_left} days after {ctx.as_of} "
                         f"and before its end on {allocation.end}"),
            )
        )  # fmt: skip
    return found


def _window(ctx: Context, days: int) -> Period:
    first = ctx.as_of - timedelta(days=days - 1)
    return Period(first, ctx.as_of + _DAY, f"{first}..{ctx.as_of}")


def check_io_heavy(conn: Connection, rule: IoHeavyRule, ctx: Context) -> list[Finding]:
    limit = rule.threshold or ctx.io_threshold
    scope = IoScope(_window(ctx, rule.lookback_days), ctx.zone)
    found = []
    for row in io_heavy(conn, scope, limit):
        value = Decimal(row.ops)
        found.append(
            Finding(
                rule=rule.name, kind="io-heavy", about=(row.user, row.time),
                severity=_severity_of_ratio(value, Decimal(limit)), subject=f"user {row.user}",
                period=row.time, metric="io ops per hour", value=value,
                threshold=Decimal(limit), unit="ops",
                message=(f"user {row.user}: {row.ops:,} IO operations in the hour from "
                         f"{row.time} on {row.machines} (threshold {limit:,})"),
            )
        )  # fmt: skip
    return found


def check_usage(conn: Connection, rule: UsageRule, ctx: Context) -> list[Finding]:
    window = _window(ctx, rule.lookback_days)
    report = usage_summary(conn, window, (rule.per, "day"), UsageFilters())
    found = []
    for row in report.rows:
        who, day = row.group
        value = Decimal(repr(float(getattr(row, rule.metric)))).quantize(_SIX)
        if value <= rule.threshold:
            continue
        limit = f"{rule.threshold.normalize():f}"
        found.append(
            Finding(
                rule=rule.name, kind="usage", about=(rule.metric, rule.per, who, day),
                severity=_severity_of_ratio(value, rule.threshold), subject=f"{rule.per} {who}",
                period=day, metric=rule.metric, value=value, threshold=rule.threshold,
                unit="hours",
                message=(f"{rule.per} {who}: {value.normalize():f} {rule.metric} on {day} "
                         f"(threshold {limit} a day)"),
            )
        )  # fmt: skip
    return found


def utilisation_severity(peak: float, threshold: float) -> str:
    """How far above ``threshold`` (percent) the day's ``peak`` went, relative to the room
    left below 100 %: three quarters of the way or more is high, half way medium, else low."""
    room = 100.0 - threshold
    if peak >= threshold + room * 0.75:
        return "high"
    if peak >= threshold + room * 0.5:
        return "medium"
    return "low"


def check_utilisation(conn: Connection, rule: UtilisationRule, ctx: Context) -> list[Finding]:
    """Per instance, metric and day (of the zone): the samples whose average is above the
    threshold; ``min_points`` of them or more raise one finding."""
    start, end = utc_bounds(_window(ctx, rule.lookback_days), ctx.zone)
    scope = MetricScope(environments=rule.environments, metrics=rule.metrics)
    # (environment, instance, metric, day) -> values above the threshold
    above: dict[tuple[str, str, str, str], list[float]] = {}
    for point in metric_series(
        conn, start.timestamp(), end.timestamp(), scope, grain="sample", zone=ctx.zone
    ):
        if point.samples and point.average is not None and point.average > rule.threshold:
            day = point.time.date().isoformat()
            key = (point.environment, point.instance, point.metric, day)
            above.setdefault(key, []).append(point.average)
    found = []
    limit = f"{rule.threshold:g}"
    for (environment, instance, metric, day), values in sorted(above.items()):
        if len(values) < rule.min_points:
            continue
        peak = max(values)
        where = f" in {environment}" if environment else ""
        found.append(
            Finding(
                rule=rule.name, kind="utilisation", about=(environment, instance, metric, day),
                severity=utilisation_severity(peak, rule.threshold),
                subject=f"instance {instance}", period=day, metric=metric,
                value=Decimal(repr(peak)).quantize(Decimal("0.01")),
                threshold=Decimal(limit), unit="%",
                message=(f"instance {instance}{where}: {metric} above {limit}% for "
                         f"{len(values)} points on {day} (peak {peak:.1f}%)"),
            )
        )  # fmt: skip
    return found


def check_anomaly(rule: AnomalyRule, ctx: Context) -> list[Finding]:
    from meterbook import anomalies as anomaly_lib

    if ctx.engine is None:
        raise ConfigError("anomaly detection needs the store's engine")
    window = _window(ctx, rule.lookback_days)
    found = []
    for item in anomaly_lib.detect(
        ctx.engine,
        start=window.start,
        end=window.end,
        kinds=rule.kinds,
        by=rule.by,
        min_severity=rule.min_severity,
    ):
        if severity_rank(item.severity) < severity_rank(rule.min_severity):
            continue
        actual = Decimal(str(item.actual)).quantize(_SIX)
        expected = Decimal(str(item.expected)).quantize(_SIX)
        day = item.day.isoformat()
        found.append(
            Finding(
                rule=rule.name, kind="anomaly",
                about=(item.kind, item.dimension, item.key, day, item.metric),
                severity=item.severity, subject=f"{item.dimension} {item.key}", period=day,
                metric=item.metric, value=actual, expected=expected,
                message=(f"{item.dimension} {item.key}: {item.metric} {_fmt(actual)} on {day}, "
                         f"expected about {_fmt(expected)} ({item.kind}, score "
                         f"{float(item.score):.1f}, {item.severity})"),
            )
        )  # fmt: skip
    return found


def findings_of(
    conn: Connection, rule: AlertRule, ctx: Context, forecast: ForecastFn | None = None
) -> list[Finding]:
    """Every condition ``rule`` finds as of ``ctx.as_of``."""
    if isinstance(rule, BudgetRule):
        return check_budget(conn, rule, ctx, forecast)
    if isinstance(rule, AllocationRule):
        return check_allocation(conn, rule, ctx)
    if isinstance(rule, IoHeavyRule):
        return check_io_heavy(conn, rule, ctx)
    if isinstance(rule, UsageRule):
        return check_usage(conn, rule, ctx)
    if isinstance(rule, UtilisationRule):
        return check_utilisation(conn, rule, ctx)
    return check_anomaly(rule, ctx)


# Storing and listing ------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _optional(value: Any) -> Decimal | None:
    return None if value is None else stored_amount(value).normalize()


def _alert(row: Any) -> Alert:
    return Alert(
        id=row.id,
        rule=row.rule,
        kind=row.kind,
        severity=row.severity,
        subject=row.subject,
        period=row.period,
        metric=row.metric,
        value=stored_amount(row.value).normalize(),
        threshold=_optional(row.threshold),
        expected=_optional(row.expected),
        unit=row.unit,
        message=row.message,
        created_at=row.created_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        notified_at=row.notified_at,
        notify_error=row.notify_error,
    )


def store_findings(conn: Connection, findings: Iterable[Finding]) -> tuple[list[Alert], int]:
    """Insert the findings not stored yet; returns the new alerts and how many were known."""
    pending: dict[tuple[str, str], Finding] = {}
    for finding in findings:
        pending.setdefault((finding.rule, finding.fingerprint), finding)
    if not pending:
        return [], 0
    known: set[tuple[str, str]] = set()
    rules = sorted({rule for rule, _ in pending})
    for row in conn.execute(
        select(alerts.c.rule, alerts.c.fingerprint).where(alerts.c.rule.in_(rules))
    ):
        known.add((row.rule, row.fingerprint))
    now = _now()
    new_ids = []
    for key, f in pending.items():
        if key in known:
            continue
        result = conn.execute(
            alerts.insert().values(
                rule=f.rule, kind=f.kind, fingerprint=f.fingerprint, severity=f.severity,
                subject=f.subject[:255], period=f.period[:32], metric=f.metric[:64],
                value=f.value, threshold=f.threshold, expected=f.expected, unit=f.unit,
                message=f.message, created_at=now,
            )
        )  # fmt: skip
        key_row = result.inserted_primary_key
        assert key_row is not None
        new_ids.append(key_row[0])
    new = [
        _alert(r)
        for r in conn.execute(select(alerts).where(alerts.c.id.in_(new_ids)).order_by(alerts.c.id))
    ]
    return new, len(pending) - len(new)


def list_alerts(
    conn: Connection,
    *,
    open_only: bool = False,
    rules: Sequence[str] = (),
    kinds: Sequence[str] = (),
    min_severity: str = "low",
    since: date | None = None,
    limit: int | None = None,
) -> list[Alert]:
    """Stored alerts, newest first."""
    query = select(alerts).order_by(alerts.c.id.desc())
    if open_only:
        query = query.where(alerts.c.acknowledged_at.is_(None))
    if rules:
        query = query.where(alerts.c.rule.in_(list(rules)))
    if kinds:
        query = query.where(alerts.c.kind.in_(list(kinds)))
    if since is not None:
        query = query.where(alerts.c.created_at >= datetime(since.year, since.month, since.day))
    rank = severity_rank(min_severity)
    found = [_alert(r) for r in conn.execute(query)]
    found = [a for a in found if severity_rank(a.severity) >= rank]
    return found[:limit] if limit else found


def acknowledge(conn: Connection, ids: Sequence[int], by: str) -> list[Alert]:
    """Acknowledge alerts (already acknowledged ones keep their first acknowledgement)."""
    wanted = sorted(set(ids))
    rows = {r.id: r for r in conn.execute(select(alerts).where(alerts.c.id.in_(wanted)))}
    missing = [str(i) for i in wanted if i not in rows]
    if missing:
        raise ConfigError(f"no alert {', '.join(missing)} (see `meterbook alerts`)")
    conn.execute(
        alerts.update()
        .where(alerts.c.id.in_(wanted), alerts.c.acknowledged_at.is_(None))
        .values(acknowledged_at=_now(), acknowledged_by=by[:120])
    )
    return [_alert(r) for r in conn.execute(select(alerts).where(alerts.c.id.in_(wanted)))]


# Evaluating ---------------------------------------------------------------------------------


def message_of(alert: Alert) -> Any:
    """The :class:`meterbook.delivery.Message` telling of one alert."""
    from meterbook.delivery import Message

    headline = [("Severity", alert.severity), ("Rule", alert.rule), ("Period", alert.period),
                ("Value", f"{alert.value.normalize():f} {alert.unit or ''}".strip())]  # fmt: skip
    if alert.threshold is not None:
        headline.append(("Threshold", f"{alert.threshold.normalize():f}"))
    if alert.expected is not None:
        headline.append(("Expected", f"{alert.expected.normalize():f}"))
    return Message(
        subject=f"[{alert.severity}] {alert.subject}: {alert.kind} alert ({alert.period})",
        headline=headline,
        text=alert.message,
        context={"period": alert.period, "severity": alert.severity, "rule": alert.rule},
    )


def _in_scope(conn: Connection, alert: Alert, team: str) -> bool:
    """Whether an alert is about ``team``: the team itself, or a user or project of it."""
    from meterbook.store.schema import projects, teams, users

    kind, _, key = alert.subject.partition(" ")
    if kind == "team":
        return key == team
    table = {"user": users, "project": projects, "account": projects}.get(kind)
    if table is None:
        return False
    row = conn.execute(
        select(teams.c.name).join(table, table.c.team_id == teams.c.id).where(table.c.name == key)
    ).first()
    return row is not None and row.name == team


def delivery_notifier(engine: Engine, settings: Any) -> Notifier:
    """Tell a rule's recipients through :mod:`meterbook.delivery`. A recipient bound to a
    team is told only of alerts about that team (its users and projects); one bound to a
    division, of its teams'. Raises when any delivery failed (the error is kept on the
    alert)."""
    from meterbook.delivery import deliver
    from meterbook.delivery.send import resolve
    from meterbook.errors import DeliveryError
    from meterbook.store.schema import divisions, teams

    def notify(alert: Alert, recipients: Sequence[str]) -> None:
        failed = []
        for name in recipients:
            recipient = resolve(settings, name)
            scope = recipient.scope
            if scope is not None:
                with engine.connect() as conn:
                    wanted = [scope.name]
                    if scope.kind == "division":
                        wanted = [r.name for r in conn.execute(
                            select(teams.c.name).join(divisions,
                                                      divisions.c.id == teams.c.division_id)
                            .where(divisions.c.name == scope.name))]  # fmt: skip
                    if not any(_in_scope(conn, alert, t) for t in wanted):
                        continue
            result = deliver(engine, settings, recipient, message_of(alert))
            if not result.ok:
                failed.append(f"{name}: {result.error}")
        if failed:
            raise DeliveryError("; ".join(failed))

    return notify


def log_notifier(alert: Alert, recipients: Sequence[str]) -> None:
    """The fallback channel: the log (WARNING), when a rule names no recipient."""
    log.warning("alert %d [%s] %s: %s", alert.id, alert.severity, alert.rule, alert.message)


def evaluate(
    engine: Engine,
    rules: dict[str, AlertRule],
    ctx: Context,
    *,
    notifier: Notifier | None = None,
    dry_run: bool = False,
    forecast: ForecastFn | None = None,
) -> Evaluation:
    """Check every enabled rule, store the new conditions in one transaction, then notify.

    A rule that cannot be checked (say, a forecast with too little history) is reported in
    :attr:`Evaluation.failed` and the others still run. ``dry_run`` stores and notifies
    nothing; :attr:`Evaluation.new` is then empty and every finding is counted.
    """
    if ctx.engine is None:
        ctx = Context(ctx.as_of, ctx.zone, ctx.io_threshold, engine)
    result = Evaluation(ctx.as_of)
    with engine.connect() as conn:
        for name, rule in rules.items():
            if not rule.enabled:
                continue
            try:
                result.findings += findings_of(conn, rule, ctx, forecast)
            except MeterbookError as exc:
                result.failed[name] = str(exc)
    if dry_run:
        return result
    for attempt in range(2):
        try:
            with engine.begin() as conn:
                result.new, result.known = store_findings(conn, result.findings)
            break
        except IntegrityError:  # another evaluation stored some meanwhile: read them again
            if attempt:
                raise
    for alert in result.new:
        raised_by = rules.get(alert.rule)
        recipients = raised_by.notify if raised_by is not None else ()
        tell = notifier if (notifier is not None and recipients) else log_notifier
        error: str | None = None
        try:
            tell(alert, recipients)
            result.notified += 1
        except Exception as exc:  # a channel failed: keep the alert, record why
            error = f"{type(exc).__name__}: {exc}"[:2000]
            result.notify_failed += 1
            log.error("alert %d: notification failed: %s", alert.id, error)
        with engine.begin() as conn:
            conn.execute(
                alerts.update()
                .where(alerts.c.id == alert.id)
                .values(notified_at=None if error else _now(), notify_error=error)
            )
    return result


__all__ = [
    "Alert",
    "Context",
    "Evaluation",
    "Finding",
    "Notifier",
    "acknowledge",
    "check_utilisation",
    "evaluate",
    "findings_of",
    "list_alerts",
    "log_notifier",
    "store_findings",
    "utilisation_severity",
]
