"""The usage report: CPU, GPU and memory hours and job counts of any ledger source, per user,
project (with distinct users), team, workload type and cluster, from the same queries as
``meterbook usage`` (the day rollups) and ``meterbook workloads`` (records)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from meterbook.reports import charts
from meterbook.reports.model import Column, Headline, Section, Table
from meterbook.reports.types import Context, ReportType, register
from meterbook.reports.types.common import seconds, team_of_projects, team_projects, total_row
from meterbook.store.queries.usage import UsageFilters, UsageReport, UsageRow, usage_summary
from meterbook.store.queries.workloads import workload_details, workload_summary

#: Workloads running longer than this many hours count as long-running.
LONG_HOURS = 24.0
MEASURES = [
    Column("cpu_hours", "CPU h", "float"),
    Column("gpu_hours", "GPU h", "float"),
    Column("mem_gb_hours", "mem GiB·h", "float"),
    Column("wall_hours", "wall h", "float"),
    Column("jobs_started", "jobs started", "int"),
    Column("jobs_running", "jobs running", "int"),
]


def _values(row: UsageRow) -> list[Any]:
    return [getattr(row, c.name) for c in MEASURES]


def _usage(ctx: Context, *by: str) -> UsageReport:
    def run() -> UsageReport:
        filters = UsageFilters(accounts=team_projects(ctx))
        found = usage_summary(ctx.conn, ctx.period, by, filters)
        ctx.rows_read += len(found.rows)
        return found

    return ctx.shared("usage:" + ",".join(by), run)  # type: ignore[no-any-return]


def _table(ctx: Context, name: str, title: str, by: str, label: str) -> Table:
    found = _usage(ctx, by)
    return Table(
        name,
        title,
        [Column(by, label), *MEASURES],
        [[r.group[0], *_values(r)] for r in found.rows],
        total_row("total", 1, _values(found.total)),
    )


def summary(ctx: Context) -> Section:
    total = _usage(ctx).total
    ctx.headlines += [
        Headline("CPU hours", total.cpu_hours, "float"),
        Headline("GPU hours", total.gpu_hours, "float"),
        Headline("Memory GiB-hours", total.mem_gb_hours, "float"),
        Headline("Jobs started", total.jobs_started, "int"),
    ]
    daily = _usage(ctx, "day")
    hours = [
        {"day": r.group[0], "measure": m, "hours": getattr(r, f)}
        for r in daily.rows
        for m, f in (("CPU h", "cpu_hours"), ("GPU h", "gpu_hours"))
    ]
    section = Section(
        "summary",
        "Summary",
        [
            "Hours are split across days in proportion to each job's overlap with the day; "
            "jobs running counts the jobs that ran at some time in the period."
        ],
        [_table(ctx, "by_day", "Usage by day", "day", "day")],
        [
            charts.line(
                f"daily_{key}", f"{label} by day", [p for p in hours if p["measure"] == m],
                x="day", y="hours", y_title=label,
            )
            for key, label, m in (("cpu_hours", "CPU hours", "CPU h"),
                                  ("gpu_hours", "GPU hours", "GPU h"))
        ],
    )  # fmt: skip
    return section


def by_user(ctx: Context) -> Section:
    table = _table(ctx, "by_user", "Usage by user", "user", "user")
    top = [{"user": r[0], "cpu_hours": r[1]} for r in table.rows[:15]]
    return Section(
        "users",
        "Users",
        [],
        [table],
        [charts.bar("top_users", "Top users by CPU hours", top, category="user",
                    value="cpu_hours", value_title="CPU h")],
    )  # fmt: skip


def by_project(ctx: Context) -> Section:
    table = _table(ctx, "by_project", "Usage by project (account)", "account", "project")
    pairs = _usage(ctx, "account", "user")
    users: dict[str, int] = defaultdict(int)
    for r in pairs.rows:
        users[r.group[0]] += 1
    table.columns.insert(1, Column("users", "distinct users", "int"))
    for row in table.rows:
        row.insert(1, users.get(row[0], 0))
    assert table.total is not None
    table.total.insert(1, "")
    teams = team_of_projects(ctx)
    team_values: dict[str, list[float]] = {}
    for r in _usage(ctx, "account").rows:
        team = teams.get(r.group[0]) or "(no team)"
        acc = team_values.setdefault(team, [0.0] * len(MEASURES))
        for i, v in enumerate(_values(r)):
            acc[i] += v
    team_rows = sorted(team_values.items(), key=lambda kv: (-kv[1][0], kv[0]))
    team_table = Table(
        "by_team",
        "Usage by team (team of the project)",
        [Column("team", "team"), *MEASURES],
        [[t, *(int(v) if c.kind == "int" else v for c, v in zip(MEASURES, vals, strict=True))]
         for t, vals in team_rows],
        total_row("total", 1, _values(_usage(ctx).total)),
    )  # fmt: skip
    return Section("projects", "Projects and teams", [], [table, team_table])


def by_workload(ctx: Context) -> Section:
    return Section(
        "workloads",
        "Workload types and clusters",
        [],
        [
            _table(ctx, "by_workload", "Usage by workload type", "workload", "workload type"),
            _table(ctx, "by_cluster", "Usage by cluster", "cluster", "cluster"),
        ],
    )


RECORD_COLUMNS = [
    Column("workloads", "workloads", "int"),
    Column("gpu_workloads", "GPU workloads", "int"),
    Column("users", "users", "int"),
    Column("cpu_hours", "CPU h", "float"),
    Column("gpu_hours", "GPU h", "float"),
    Column("mem_gb_hours", "mem GiB·h", "float"),
    Column("avg_duration_hours", "avg duration h", "float"),
    Column("long_running", f"> {LONG_HOURS:g} h", "int"),
]


def records(ctx: Context) -> Section | None:
    """Workloads attributed whole to the period of their start (the workbench reports)."""
    start, end = seconds(ctx)
    if ctx.team:
        return None  # workload records carry projects; the rollup tables above are scoped
    tables = []
    for by, label in (("source", "source"), ("workload_type", "workload type"),
                      ("project", "project"), ("user", "user")):  # fmt: skip
        rows = workload_summary(ctx.conn, start, end, by, long_hours=LONG_HOURS)
        ctx.rows_read += len(rows)
        tables.append(
            Table(
                f"records_by_{by}",
                f"Workloads by {label} (whole workloads by start)",
                [Column(by, label), *RECORD_COLUMNS],
                [[r.group, *(getattr(r, c.name) for c in RECORD_COLUMNS)] for r in rows],
            )
        )
    details = workload_details(ctx.conn, start, end)
    ctx.rows_read += len(details)
    detail_columns = [
        Column("created_at", "started", "datetime"), Column("source", "source"),
        Column("name", "name"), Column("user", "user"), Column("project", "project"),
        Column("workload_type", "workload type"), Column("status", "status"),
        Column("duration_hours", "duration h", "float"), Column("cpu_hours", "CPU h", "float"),
        Column("mem_gb_hours", "mem GiB·h", "float"), Column("gpu_hours", "GPU h", "float"),
    ]  # fmt: skip
    tables.append(
        Table(
            "records",
            "Detailed records",
            detail_columns,
            [[getattr(d, c.name) for c in detail_columns] for d in details],
            data_only=True,
            note="Every workload started in the period (CSV, JSON and XLSX only).",
        )
    )
    return Section(
        "records",
        "Workloads",
        [
            "Whole workloads attributed to the period of their start, with their full "
            f"duration, as the workbench chargeback reports count them; long-running: more "
            f"than {LONG_HOURS:g} hours."
        ],
        tables,
    )


register(
    ReportType(
        "usage",
        "Usage report",
        "CPU, GPU and memory hours and jobs per user, project, team, workload type, cluster",
        [summary, by_user, by_project, by_workload, records],
        source_data=("usage",),
    )
)
