"""Daily series from the store's day rollups, for forecasts, backtests and anomalies.

Spend series are a cost of the spend rollup by provider, team or project; usage series a
quantity of the usage rollup by account (= project), user or cluster. ``total`` is one series
of everything. Both come from the existing queries (:mod:`meterbook.store.queries.spend` and
:mod:`meterbook.store.queries.usage`); days without a row are zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from meterbook.errors import ConfigError
from meterbook.periods import Period
from meterbook.store.queries.spend import SpendFilters, spend_summary
from meterbook.store.queries.usage import UsageFilters, usage_summary

#: Metric name -> the spend rollup's column.
SPEND_METRICS = {
    "cost": "billed_cost",
    "effective_cost": "effective_cost",
    "list_cost": "list_cost",
}
USAGE_METRICS = ("cpu_hours", "gpu_hours", "node_hours", "wall_hours", "mem_gb_hours",
                 "jobs_started")  # fmt: skip
METRICS = (*SPEND_METRICS, *USAGE_METRICS)
SPEND_BY = ("provider", "team", "project", "total")
USAGE_BY = ("account", "project", "user", "cluster", "total")
BY = tuple(dict.fromkeys((*SPEND_BY, *USAGE_BY)))
TOTAL = "total"
#: Every day the ledger can hold.
ALL_DAYS = Period(date(1900, 1, 1), date(9999, 1, 1), "all")


@dataclass(frozen=True)
class DailySeries:
    """Consecutive days from ``start``: one value a day (Decimal for money)."""

    key: str
    start: date
    values: list[Decimal] | list[float]

    @property
    def end(self) -> date:
        """The last day."""
        return self.start + timedelta(days=len(self.values) - 1)


def kind_of(metric: str) -> str:
    """``spend`` or ``usage``: where ``metric`` is kept."""
    if metric in SPEND_METRICS:
        return "spend"
    if metric in USAGE_METRICS:
        return "usage"
    raise ConfigError(f"--metric: unknown metric {metric!r} (use {', '.join(METRICS)})")


def check_by(by: str, metric: str) -> str:
    """The kind of series ``by`` x ``metric`` are, or a clear error."""
    kind = kind_of(metric)
    allowed = SPEND_BY if kind == "spend" else USAGE_BY
    if by not in allowed:
        raise ConfigError(
            f"--by {by}: {kind} ({metric}) is by {', '.join(allowed)}"
            + (" (usage metrics: --metric cpu_hours ...)" if kind == "spend" else "")
        )
    return kind


def _filters(kind: str, given: Mapping[str, Any] | None) -> SpendFilters | UsageFilters:
    cls: type[SpendFilters] | type[UsageFilters] = SpendFilters if kind == "spend" else UsageFilters
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for name, value in (given or {}).items():
        if name not in names:
            raise ConfigError(f"filter {name!r}: {kind} filters are {', '.join(sorted(names))}")
        if isinstance(value, bool):
            values[name] = value
        else:
            values[name] = (value,) if isinstance(value, str) else tuple(value)
    return cls(**values)


def daily_totals(
    conn: Connection,
    *,
    by: str,
    metric: str,
    period: Period = ALL_DAYS,
    filters: Mapping[str, Any] | None = None,
) -> dict[str, dict[date, Decimal | float]]:
    """Per group value of ``by``: the day -> value of ``metric`` over ``period``."""
    kind = check_by(by, metric)
    group = () if by == TOTAL else (by,)
    out: dict[str, dict[date, Decimal | float]] = {}
    if kind == "spend":
        spend_filters = _filters(kind, filters)
        assert isinstance(spend_filters, SpendFilters)
        report = spend_summary(conn, period, (*group, "day"), spend_filters)
        column = SPEND_METRICS[metric]
        for row in report.rows:
            key = row.group[0] if group else TOTAL
            day = date.fromisoformat(row.group[-1])
            out.setdefault(key, {})[day] = getattr(row, column)
    else:
        usage_filters = _filters(kind, filters)
        assert isinstance(usage_filters, UsageFilters)
        usage = usage_summary(conn, period, (*group, "day"), usage_filters)
        for urow in usage.rows:
            key = urow.group[0] if group else TOTAL
            day = date.fromisoformat(urow.group[-1])
            out.setdefault(key, {})[day] = float(getattr(urow, metric))
    return out


def to_series(
    key: str, days: Mapping[date, Decimal | float], *, start: date | None, end: date
) -> DailySeries | None:
    """The days from ``start`` (default: the first day with a value) to ``end``, zeros where
    there is no value; None when nothing is left."""
    kept = {d: v for d, v in days.items() if d <= end and (start is None or d >= start)}
    if not kept:
        return None
    first = start if start is not None else min(kept)
    count = (end - first).days + 1
    if any(isinstance(v, Decimal) for v in kept.values()):
        money = [Decimal(0)] * count
        for d, v in kept.items():
            money[(d - first).days] = Decimal(v)
        return DailySeries(key, first, money)
    hours = [0.0] * count
    for d, v in kept.items():
        hours[(d - first).days] = float(v)
    return DailySeries(key, first, hours)


def load_series(
    conn: Connection,
    *,
    by: str,
    metric: str,
    as_of: date | None = None,
    filters: Mapping[str, Any] | None = None,
) -> tuple[list[DailySeries], date | None]:
    """Every series of ``by`` x ``metric`` up to ``as_of`` (default: the last day with data
    in any of them), each from its own first day; also the ``as_of`` used (None: no data)."""
    totals = daily_totals(conn, by=by, metric=metric, filters=filters)
    if as_of is None:
        last_days = [max(days) for days in totals.values() if days]
        if not last_days:
            return [], None
        as_of = max(last_days)
    series = [to_series(k, v, start=None, end=as_of) for k, v in sorted(totals.items())]
    return [s for s in series if s is not None], as_of
