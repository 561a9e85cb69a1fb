"""Spend aggregates from the day rollup ``cost_daily``: ``meterbook spend`` and reports.

Costs are grouped by any of :data:`DIMENSIONS` over a period of UTC days. A line attributed
to no project reports under :data:`UNALLOCATED` for project, team and division; derived lines
(tax, charge rules) are part of every total and can be told apart by ``--by rule``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, literal, or_, select

from meterbook.errors import ConfigError
from meterbook.periods import Period
from meterbook.store.dialect import backend, month_of
from meterbook.store.schema import divisions, projects, providers, teams
from meterbook.store.schema_billing import cost_daily, cost_lines

d = cost_daily.c
UNALLOCATED = "Unallocated"
DIMENSIONS = (
    "provider", "division", "team", "project", "group", "service", "account", "category",
    "rule", "currency", "day", "month",
)  # fmt: skip
COSTS = ("billed_cost", "effective_cost", "list_cost")


@dataclass(frozen=True)
class SpendFilters:
    """Names to keep (empty: keep all)."""

    providers: tuple[str, ...] = ()
    divisions: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    unallocated_only: bool = False


@dataclass(frozen=True)
class SpendRow:
    group: tuple[str, ...]
    billed_cost: Decimal
    effective_cost: Decimal
    list_cost: Decimal
    lines: int

    def as_dict(self, by: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(by, self.group, strict=True))
        out.update(billed_cost=self.billed_cost, effective_cost=self.effective_cost,
                   list_cost=self.list_cost, lines=self.lines)  # fmt: skip
        return out


@dataclass
class SpendReport:
    period: Period
    by: tuple[str, ...]
    rows: list[SpendRow]
    total: SpendRow
    currencies: list[str] = field(default_factory=list)


def _dimension(conn: Connection, name: str) -> ColumnElement[Any]:
    unallocated = literal(UNALLOCATED)
    columns: dict[str, ColumnElement[Any]] = {
        "provider": providers.c.name,
        "division": func.coalesce(divisions.c.name, unallocated),
        "team": func.coalesce(teams.c.name, unallocated),
        "project": func.coalesce(projects.c.name, unallocated),
        "group": d.group_name,
        "service": d.service,
        "account": d.sub_account,
        "category": d.charge_category,
        "rule": d.rule,
        "currency": d.currency,
        "day": d.day,
    }
    if name == "month":
        return month_of(conn, d.day)
    if name not in columns:
        raise ConfigError(f"--by: unknown dimension {name!r} (use {', '.join(DIMENSIONS)})")
    return columns[name]


def _joined() -> Any:
    return (
        cost_daily.join(providers, providers.c.id == d.provider_id)
        .outerjoin(projects, projects.c.id == d.project_id)
        .outerjoin(teams, teams.c.id == projects.c.team_id)
        .outerjoin(divisions, divisions.c.id == teams.c.division_id)
    )


def _where(period: Period, filters: SpendFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [d.day >= period.start, d.day < period.end]
    pairs = (
        (filters.providers, providers.c.name),
        (filters.divisions, divisions.c.name),
        (filters.teams, teams.c.name),
        (filters.projects, projects.c.name),
        (filters.groups, d.group_name),
        (filters.services, d.service),
        (filters.currencies, d.currency),
    )
    for names, column in pairs:
        if names:
            if UNALLOCATED in names and column is not providers.c.name:
                where.append(or_(column.in_(names), column.is_(None)))
            else:
                where.append(column.in_(names))
    if filters.unallocated_only:
        where.append(d.project_id == 0)
    return where


_FLOAT_PLACES = Decimal(1).scaleb(-12)


def _money(value: Any) -> Decimal:
    """An amount as Decimal. SQLite keeps binary doubles: their sums are cut to 12 decimals
    (beyond what a double holds for amounts up to millions), so 1.45 prints as 1.45."""
    if value is None:
        return Decimal(0)
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(_FLOAT_PLACES).normalize()
    return Decimal(value)


def spend_summary(
    conn: Connection,
    period: Period,
    by: Sequence[str] = (),
    filters: SpendFilters | None = None,
    top: int | None = None,
    currency: str | None = None,
) -> SpendReport:
    """Costs over ``period`` grouped by ``by`` (largest billed cost first, time in order).

    With ``currency``, each day's costs convert at that day's rate (:mod:`meterbook.fx`)
    before they are summed."""
    filters = filters or SpendFilters()
    keys = [_dimension(conn, n).label(f"k{i}") for i, n in enumerate(by)]
    measures = [func.sum(d[c]).label(c) for c in COSTS] + [func.sum(d.lines).label("lines")]
    extra = [d.day.label("day_"), d.currency.label("currency_")] if currency else []
    stmt = (
        select(*keys, *extra, *measures)
        .select_from(_joined())
        .where(and_(*_where(period, filters)))
    )
    if keys or extra:
        stmt = stmt.group_by(*keys, *extra)
    floats = backend(conn) == "sqlite"
    if currency:
        rows = _converted(conn, stmt, len(keys), floats, currency)
    else:
        rows = [_row(r, len(keys), floats) for r in conn.execute(stmt)]
    time_keys = [i for i, n in enumerate(by) if n in ("day", "month")]
    if time_keys:
        rows.sort(key=lambda r: tuple(r.group[i] for i in time_keys))
    else:
        rows.sort(key=lambda r: (-r.billed_cost, r.group))
    if top is not None and not time_keys:
        rows = rows[:top]
    total = SpendRow(
        (),
        sum((r.billed_cost for r in rows), Decimal(0)),
        sum((r.effective_cost for r in rows), Decimal(0)),
        sum((r.list_cost for r in rows), Decimal(0)),
        sum(r.lines for r in rows),
    )
    currencies = [currency] if currency else sorted(
        {c for (c,) in conn.execute(
            select(d.currency).select_from(_joined()).where(and_(*_where(period, filters)))
            .distinct()
        )}
    )  # fmt: skip
    if len(by) == 0 and rows:
        total = rows[0]
    return SpendReport(period, tuple(by), rows, total, currencies)


def _converted(
    conn: Connection, stmt: Any, keys: int, floats: bool, currency: str
) -> list[SpendRow]:
    """Rows grouped by day and currency too, converted at each day's rate, then summed."""
    from meterbook.store.queries.fx import converter

    into = converter(conn, currency)
    sums: dict[tuple[str, ...], list[Any]] = {}
    for values in conn.execute(stmt):
        day, code = values[keys], values[keys + 1]
        row = _row((*values[:keys], *values[keys + 2 :]), keys, floats)
        rate = into.rate(code, day if not isinstance(day, str) else date.fromisoformat(day))
        found = sums.setdefault(row.group, [Decimal(0), Decimal(0), Decimal(0), 0])
        found[0] += row.billed_cost * rate
        found[1] += row.effective_cost * rate
        found[2] += row.list_cost * rate
        found[3] += row.lines
    return [SpendRow(g, v[0], v[1], v[2], v[3]) for g, v in sums.items()]


def _row(values: Any, keys: int, floats: bool) -> SpendRow:
    billed, effective, listed, lines = (
        float(v) if floats and v is not None and i < 3 else v for i, v in enumerate(values[keys:])
    )
    group = tuple(_label(v) for v in values[:keys])
    return SpendRow(group, _money(billed), _money(effective), _money(listed), int(lines or 0))


def _label(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


@dataclass(frozen=True)
class UnallocatedRow:
    provider: str
    project_ext: str
    sub_account_name: str
    currency: str
    billed_cost: Decimal
    lines: int
    first_day: str
    last_day: str


def unallocated(conn: Connection, period: Period) -> list[UnallocatedRow]:
    """Costs of lines whose project id no project claims, by provider and external id."""
    c = cost_lines.c
    start = _epoch(period.start)
    end = _epoch(period.end)
    stmt = (
        select(
            providers.c.name, c.project_ext, func.max(c.sub_account_name), c.currency,
            func.sum(c.billed_cost), func.count(), func.min(c.start_ts), func.max(c.start_ts),
        )
        .select_from(cost_lines.join(providers, providers.c.id == c.provider_id))
        .where(c.project_id.is_(None), c.start_ts < end, c.end_ts > start)
        .group_by(providers.c.name, c.project_ext, c.currency)
    )  # fmt: skip
    floats = backend(conn) == "sqlite"
    rows = [
        UnallocatedRow(r[0], r[1] or "-", r[2] or "", r[3],
                       _money(float(r[4]) if floats and r[4] is not None else r[4]), int(r[5]),
                       _day(r[6]), _day(r[7]))
        for r in conn.execute(stmt)
    ]  # fmt: skip
    rows.sort(key=lambda r: (-r.billed_cost, r.provider, r.project_ext))
    return rows


def _epoch(day: Any) -> float:
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _day(ts: float | None) -> str:
    from meterbook.attribution import utc_day

    return utc_day(ts).isoformat() if ts is not None else ""
