"""The spend report: monthly and daily spend by provider, team, division, project and workload
group, budget versus actual with responses, and unallocated costs, from the same queries as
``meterbook spend``, ``meterbook budgets overunder`` and ``meterbook spend unallocated``."""

from __future__ import annotations

from typing import Any

from meterbook.budgets import over_under
from meterbook.reports import charts
from meterbook.reports.model import Column, Headline, Section, Table
from meterbook.reports.types import Context, ReportType, register
from meterbook.reports.types.common import total_row
from meterbook.reports.types.spend_forecast import forecasts
from meterbook.store.queries.spend import SpendFilters, SpendReport, spend_summary, unallocated

COSTS = [
    Column("billed_cost", "billed", "money"),
    Column("effective_cost", "effective", "money"),
    Column("lines", "lines", "int"),
]


def _spend(ctx: Context, *by: str) -> SpendReport:
    def run() -> SpendReport:
        filters = SpendFilters(teams=(ctx.team,) if ctx.team else ())
        found = spend_summary(ctx.conn, ctx.period, by, filters)
        ctx.rows_read += len(found.rows)
        return found

    return ctx.shared("spend:" + ",".join(by), run)  # type: ignore[no-any-return]


def _table(ctx: Context, name: str, title: str, *by: str) -> Table:
    found = _spend(ctx, *by)
    values = [[getattr(r, c.name) for c in COSTS] for r in found.rows]
    total = [getattr(found.total, c.name) for c in COSTS]
    return Table(
        name,
        title,
        [*(Column(b, b, "text") for b in by), *COSTS],
        [[*r.group, *v] for r, v in zip(found.rows, values, strict=True)],
        total_row("total", len(by), total),
    )


def summary(ctx: Context) -> Section:
    total = _spend(ctx).total
    currencies = _spend(ctx).currencies
    unit = ", ".join(currencies)
    ctx.headlines += [
        Headline("Billed cost", total.billed_cost, "money", unit),
        Headline("Effective cost", total.effective_cost, "money", unit),
        Headline("Billing lines", total.lines, "int"),
    ]
    monthly = _table(ctx, "monthly_by_provider", "Monthly spend by provider", "month", "provider")
    daily = _table(ctx, "daily_by_provider", "Daily spend by provider", "day", "provider")
    points = [{"day": r[0], "provider": r[1], "billed": r[2]} for r in daily.rows]
    paragraphs = [
        "Billed cost includes derived lines (tax, charge rules). Costs of no project are "
        "reported as Unallocated."
    ]
    if len(currencies) > 1:
        paragraphs.append(f"Amounts are in several currencies ({unit}): totals mix them.")
    return Section(
        "summary", "Spend by provider", paragraphs, [monthly, daily],
        [charts.stacked("daily_spend", "Daily billed cost by provider", points,
                        x="day", y="billed", y_title=f"billed ({unit})", series="provider")],
    )  # fmt: skip


def organisation(ctx: Context) -> Section:
    tables = [
        _table(ctx, "by_division", "Spend by division", "division"),
        _table(ctx, "by_team", "Spend by team", "team"),
        _table(ctx, "by_project", "Spend by project", "project"),
        _table(ctx, "by_group", "Spend by workload group", "group"),
    ]
    teams = [{"team": r[0], "billed": r[1]} for r in tables[1].rows]
    return Section(
        "organisation", "Divisions, teams, projects and workload groups", [], tables,
        [charts.bar("team_spend", "Billed cost by team", teams, category="team",
                    value="billed", value_title="billed")],
    )  # fmt: skip


def budgets(ctx: Context) -> Section:
    found = over_under(ctx.conn, ctx.period, teams_=(ctx.team,) if ctx.team else ())
    ctx.rows_read += len(found.rows)
    columns = [
        Column("month", "month"), Column("team", "team"), Column("actual", "actual", "money"),
        Column("budget", "budget", "money"), Column("difference", "over (+) / under (-)", "money"),
        Column("currency", "budget currency"), Column("status", "status"),
        Column("response", "response"),
    ]  # fmt: skip
    rows: list[list[Any]] = [
        [r.month, r.team, r.actual, r.budget, r.difference, r.currency, r.status, r.response]
        for r in found.rows
    ]
    over = [r for r in found.rows if r.status == "over"]
    paragraphs = [
        "Actual is the billed cost of the whole months the period touches, as "
        "`meterbook budgets overunder` reports it.",
        f"{len(over)} team-month(s) over budget." if over else "No team is over budget.",
    ]
    return Section("budgets", "Budget versus actual", paragraphs,
                   [Table("budget_vs_actual", "Budget versus actual by team and month",
                          columns, rows)])  # fmt: skip


def unallocated_costs(ctx: Context) -> Section | None:
    if ctx.team:
        return None
    rows = unallocated(ctx.conn, ctx.period)
    ctx.rows_read += len(rows)
    columns = [
        Column("provider", "provider"), Column("project_ext", "project id"),
        Column("sub_account_name", "sub-account"), Column("currency", "currency"),
        Column("billed_cost", "billed", "money"), Column("lines", "lines", "int"),
        Column("first_day", "first day"), Column("last_day", "last day"),
    ]  # fmt: skip
    table = Table(
        "unallocated",
        "Unallocated costs by sub-account",
        columns,
        [[getattr(r, c.name) for c in columns] for r in rows],
        total_row("total", 4, [sum((r.billed_cost for r in rows), start=_zero()),
                               sum(r.lines for r in rows), "", ""]),
    )  # fmt: skip
    return Section(
        "unallocated",
        "Unallocated costs",
        ["Billing lines whose project id no project claims (claim one with "
         "`meterbook org projects add`)."],
        [table],
    )  # fmt: skip


def _zero() -> Any:
    from decimal import Decimal

    return Decimal(0)


register(
    ReportType(
        "spend",
        "Spend report",
        "Monthly and daily spend by provider, team, division, project, workload group; "
        "budgets; forecasts; unallocated",
        [summary, organisation, budgets, forecasts, unallocated_costs],
        source_data=("billing",),
        source_kinds=("billing",),
    )
)
