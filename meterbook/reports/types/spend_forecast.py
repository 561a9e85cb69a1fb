"""The spend report's forecast section: the month-end projection of billed cost per team and
per provider (:func:`meterbook.forecast.forecast`, the month of the period's last day with
data and the month after), with 80 % and 95 % intervals and the budget of each month."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from meterbook import forecast as forecasting
from meterbook.budgets import list_budgets
from meterbook.errors import MeterbookError
from meterbook.forecast_series import load_series
from meterbook.reports import charts
from meterbook.reports.model import Chart, Column, Section, Table
from meterbook.reports.types import Context

COLUMNS = [
    Column("forecast", "forecast", "money"),
    Column("lo80", "80 % low", "money"),
    Column("hi80", "80 % high", "money"),
    Column("lo95", "95 % low", "money"),
    Column("hi95", "95 % high", "money"),
    Column("actual_to_date", "actual so far", "money"),
    Column("budget", "budget", "money"),
    Column("difference", "forecast - budget", "money"),
    Column("method", "method"),
]


def as_of(ctx: Context) -> date | None:
    """The last day with billed cost, at most the period's last day (None: no spend)."""
    filters = {"teams": (ctx.team,)} if ctx.team else None
    _, last = load_series(ctx.conn, by="total", metric="cost", filters=filters)
    if last is None:
        return None
    return min(last, ctx.period.end - timedelta(days=1))


def projections(ctx: Context, by: str) -> list[forecasting.SeriesForecast]:
    """:func:`meterbook.forecast.forecast` by ``by``, months=1, for the report's scope."""

    def run() -> list[forecasting.SeriesForecast]:
        day = as_of(ctx)
        if day is None:
            return []
        try:
            found = forecasting.forecast(
                ctx.conn.engine,
                by=by,
                metric="cost",
                months=1,
                method=ctx.forecast_method,
                as_of=day,
                filters={"teams": (ctx.team,)} if ctx.team else None,
            )
        except MeterbookError as exc:  # e.g. too little history for the method
            ctx.cache[f"forecast-error:{by}"] = str(exc)
            return []
        ctx.rows_read += sum(s.history_days for s in found)
        return found

    return ctx.shared(f"forecast:{by}", run)  # type: ignore[no-any-return]


def budgets_of(ctx: Context, by: str, months: list[str]) -> dict[tuple[str, str], Decimal]:
    """(month, team or provider) -> the sum of its budgets."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for b in list_budgets(ctx.conn, months=months, teams_=(ctx.team,) if ctx.team else ()):
        out[(b.month, b.team if by == "team" else b.provider)] += b.amount
    return dict(out)


def _table(ctx: Context, by: str) -> tuple[Table, list[dict[str, Any]]]:
    found = projections(ctx, by)
    months = sorted({m.month for s in found for m in s.months})
    planned = budgets_of(ctx, by, months)
    rows: list[list[Any]] = []
    points: list[dict[str, Any]] = []
    for series in found:
        for m in series.months:
            budget = planned.get((m.month, series.key))
            rows.append(
                [
                    m.month,
                    series.key,
                    m.forecast,
                    m.lo80,
                    m.hi80,
                    m.lo95,
                    m.hi95,
                    m.actual_to_date,
                    budget,
                    None if budget is None else m.forecast - budget,
                    series.method,
                ]
            )
            points.append(
                {
                    "month": m.month,
                    "key": series.key,
                    "forecast": m.forecast,
                    "lo80": m.lo80,
                    "hi80": m.hi80,
                    "lo95": m.lo95,
                    "hi95": m.hi95,
                    "budget": budget,
                }
            )
    rows.sort(key=lambda r: (r[0], r[1]))
    table = Table(
        f"forecast_by_{by}",
        f"Month-end forecast by {by}",
        [Column("month", "month"), Column(by, by), *COLUMNS],
        rows,
    )
    return table, points


def interval_chart(name: str, title: str, rows: list[dict[str, Any]]) -> Chart:
    """Bars = the forecast, rules = its 80 % (thick) and 95 % (thin) intervals, a tick = the
    budget; one panel per month."""
    return charts.interval(
        name,
        title,
        rows,
        category="key",
        value="forecast",
        value_title="billed cost",
        intervals=[("lo80", "hi80"), ("lo95", "hi95")],
        mark="budget",
        facet="month",
    )


def forecasts(ctx: Context) -> Section:
    teams, team_points = _table(ctx, "team")
    providers, provider_points = _table(ctx, "provider")
    day = as_of(ctx)
    paragraphs = [
        f"Month-end projections of billed cost ({ctx.forecast_method} method, from the "
        f"actuals through {day}) for that month and the next, with 80 % and 95 % prediction "
        "intervals, next to the month's budget (as stored, in its currency). Figures are "
        "those of `meterbook forecast --by team` and `--by provider` with `--months 1`."
        if day
        else "No spend to forecast from."
    ]
    for by in ("team", "provider"):
        if f"forecast-error:{by}" in ctx.cache:
            paragraphs.append(f"No forecast by {by}: {ctx.cache[f'forecast-error:{by}']}")
    made = [
        interval_chart("forecast_team", "Forecast by team: interval and budget", team_points),
        interval_chart(
            "forecast_provider", "Forecast by provider: interval and budget", provider_points
        ),
    ]
    return Section("forecast", "Forecasts", paragraphs, [teams, providers], made)
