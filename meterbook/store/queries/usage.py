"""Usage aggregates from the day rollups: ``meterbook usage`` and everything built on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from meterbook.errors import ConfigError
from meterbook.periods import Period
from meterbook.store.cubes import Cube, choose
from meterbook.store.dialect import month_of
from meterbook.store.schema import projects, resources, sources, users

TIME_DIMENSIONS = ("day", "month")
#: ``--by`` names and what they group on.
DIMENSIONS = (
    "user",
    "account",
    "project",
    "cluster",
    "partition",
    "qos",
    "state",
    "source",
    "workload",
    "day",
    "month",
)
MEASURES = (
    "cpu_hours",
    "gpu_hours",
    "node_hours",
    "wall_hours",
    "mem_gb_hours",
    "jobs_started",
    "jobs_ended",
    "jobs_running",
    "avg_wait_hours",
)


@dataclass(frozen=True)
class UsageFilters:
    """Names to keep (empty: keep all)."""

    clusters: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    qos: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class UsageRow:
    """One group: its values for each ``--by`` dimension, then the measures."""

    group: tuple[str, ...]
    cpu_hours: float
    gpu_hours: float
    node_hours: float
    wall_hours: float
    mem_gb_hours: float
    jobs_started: int
    jobs_ended: int
    jobs_running: int
    avg_wait_hours: float | None

    def as_dict(self, by: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(by, self.group, strict=True))
        out.update({m: getattr(self, m) for m in MEASURES})
        return out


@dataclass
class UsageReport:
    period: Period
    by: tuple[str, ...]
    rows: list[UsageRow]
    total: UsageRow
    filters: UsageFilters = field(default_factory=UsageFilters)


#: The rollup key column each dimension (other than time) groups or filters on.
_KEY_OF = {
    "user": "user_id",
    "account": "project_id",
    "project": "project_id",
    "cluster": "resource_id",
    "source": "source_id",
    "partition": "partition",
    "qos": "qos",
    "state": "state",
    "workload": "workload_type",
}
#: The org-model table behind an id key column, whose name is shown and filtered on.
_NAMES = {"user_id": users, "project_id": projects, "resource_id": resources, "source_id": sources}


def _filter_pairs(filters: UsageFilters) -> list[tuple[str, tuple[str, ...]]]:
    return [
        ("resource_id", filters.clusters),
        ("user_id", filters.users),
        ("project_id", filters.accounts),
        ("partition", filters.partitions),
        ("qos", filters.qos),
        ("state", tuple(s.upper() for s in filters.states)),
        ("source_id", filters.sources),
    ]


def rollup_for(period: Period, by: Sequence[str], filters: UsageFilters) -> Cube:
    """The smallest rollup that answers usage over ``period`` grouped by ``by`` with
    ``filters`` (see :mod:`meterbook.store.cubes`)."""
    columns = set()
    for name in by:
        if name in TIME_DIMENSIONS:
            continue
        if name not in _KEY_OF:
            raise ConfigError(f"--by: unknown dimension {name!r} (use {', '.join(DIMENSIONS)})")
        columns.add(_KEY_OF[name])
    columns |= {column for column, values in _filter_pairs(filters) if values}
    return choose(columns, period, by_day="day" in by)


def _dimension(conn: Connection, name: str, cube: Table) -> ColumnElement[Any]:
    if name == "month":
        return month_of(conn, cube.c.day)
    if name == "day":
        return cube.c.day
    key = _KEY_OF[name]
    return _NAMES[key].c.name if key in _NAMES else cube.c[key]


def _first_days(period: Period, by: Sequence[str]) -> list[date] | None:
    """Days whose carried-in jobs count as running (None: every day)."""
    if "day" in by:
        return None
    if "month" in by:
        return sorted({period.start, *(m for m in period.months() if m >= period.start)})
    return [period.start]


def _measures(first_days: list[date] | None, cube: Table) -> list[ColumnElement[Any]]:
    d = cube.c
    carried: ColumnElement[Any] = d.jobs_carried
    if first_days is not None:
        carried = case((d.day.in_(first_days), d.jobs_carried), else_=literal(0))
    return [
        func.sum(d.cpu_hours).label("cpu_hours"),
        func.sum(d.gpu_hours).label("gpu_hours"),
        func.sum(d.node_hours).label("node_hours"),
        func.sum(d.wall_hours).label("wall_hours"),
        func.sum(d.mem_gb_hours).label("mem_gb_hours"),
        func.sum(d.jobs_started).label("jobs_started"),
        func.sum(d.jobs_ended).label("jobs_ended"),
        (func.sum(d.jobs_started) + func.sum(carried)).label("jobs_running"),
        func.sum(d.wait_hours).label("wait_hours"),
        func.sum(d.jobs_waited).label("jobs_waited"),
    ]


def _base(
    stmt: Select[Any], period: Period, filters: UsageFilters, by: Sequence[str], cube: Table
) -> Select[Any]:
    """``stmt`` over ``cube`` in ``period`` with ``filters``, joined to the names it needs."""
    d = cube.c
    pairs = _filter_pairs(filters)
    wanted = {_KEY_OF[b] for b in by if b in _KEY_OF} | {k for k, v in pairs if v}
    source: Any = cube
    for key, table in _NAMES.items():
        if key in wanted:
            source = source.outerjoin(table, table.c.id == d[key])
    stmt = stmt.select_from(source).where(and_(d.day >= period.start, d.day < period.end))
    for key, values in pairs:
        if values:
            column = _NAMES[key].c.name if key in _NAMES else d[key]
            stmt = stmt.where(column.in_(values))
    return stmt


def _row(values: Sequence[Any], group: tuple[str, ...]) -> UsageRow:
    cpu, gpu, node, wall, mem, started, ended, running, wait, waited = values
    started, waited = int(started or 0), int(waited or 0)
    return UsageRow(
        group=group,
        cpu_hours=float(cpu or 0.0),
        gpu_hours=float(gpu or 0.0),
        node_hours=float(node or 0.0),
        wall_hours=float(wall or 0.0),
        mem_gb_hours=float(mem or 0.0),
        jobs_started=started,
        jobs_ended=int(ended or 0),
        jobs_running=int(running or 0),
        avg_wait_hours=float(wait or 0.0) / waited if waited else None,
    )


def _label(value: Any) -> str:
    if value is None or value == "":
        return "(none)"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def usage_summary(
    conn: Connection,
    period: Period,
    by: Sequence[str] = (),
    filters: UsageFilters | None = None,
    top: int | None = None,
) -> UsageReport:
    """Usage over ``period`` grouped by ``by``, with a total over everything that matched.

    Rows are in time order when grouped by day or month, else largest CPU hours first.
    ``top`` keeps the N largest groups by CPU hours over the whole period: with a time
    dimension too, the N largest of the other dimensions, each with all its days or months
    (grouped by time alone, there is nothing to rank).
    Groups whose every measure is zero (records that moved to another group) are left out.
    """
    filters = filters or UsageFilters()
    by = tuple(dict.fromkeys("account" if b == "project" else b for b in by))
    if top is not None and top < 1:
        raise ConfigError("--top must be at least 1")
    cube = rollup_for(period, by, filters).table
    dims = [_dimension(conn, b, cube).label(f"g{i}") for i, b in enumerate(by)]
    measures = _measures(_first_days(period, by), cube)
    stmt = _base(select(*dims, *measures), period, filters, by, cube)
    time_positions = [i for i, b in enumerate(by) if b in TIME_DIMENSIONS]
    if dims:
        stmt = stmt.group_by(*(dim.element for dim in dims))
        if time_positions:
            order = [dims[i] for i in time_positions]
            stmt = stmt.order_by(*order, *(x for x in dims if x not in order))
        else:
            stmt = stmt.order_by(measures[0].desc(), *dims)
    n = len(dims)
    fetched: Sequence[Any] | None = None
    if top and dims and not time_positions:
        fetched = _top_groups(conn, stmt, measures, top, n)
    if fetched is None:
        fetched = conn.execute(stmt).all()
    rows = [_row(r[n:], tuple(_label(v) for v in r[:n])) for r in fetched]
    rows = [r for r in rows if any(getattr(r, m) for m in MEASURES if m != "avg_wait_hours")]
    if top:
        rows = _top(rows, top, [i for i in range(n) if i not in time_positions])
    whole = rollup_for(period, (), filters).table
    total_values = conn.execute(
        _base(select(*_measures(_first_days(period, ()), whole)), period, filters, (), whole)
    ).one()
    return UsageReport(period, by, rows, _row(total_values, ()), filters)


def _top_groups(
    conn: Connection, stmt: Select[Any], measures: list[Any], top: int, n: int
) -> Sequence[Any] | None:
    """The ``top`` groups by CPU hours straight from the database (grouped by no time
    dimension): the non-zero groups in CPU order, one more than asked. None when that one
    ties with the last asked (then the ranking's tie rule, on the groups' labels, decides)."""
    counted = [m.element for m in measures if m.name in MEASURES]  # not the wait sums
    nonzero = or_(*(m != 0 for m in counted))
    fetched = conn.execute(stmt.having(nonzero).limit(top + 1)).all()
    if len(fetched) <= top or (fetched[top][n] or 0.0) < (fetched[top - 1][n] or 0.0):
        return fetched[:top]
    return None


def _top(rows: list[UsageRow], top: int, keys: list[int]) -> list[UsageRow]:
    """The rows of the ``top`` groups (over the ``keys`` positions) with most CPU hours; with
    no such positions (grouped by time only) there is nothing to rank and every row stays."""
    if not keys:
        return rows
    totals: dict[tuple[str, ...], float] = {}
    for r in rows:
        group = tuple(r.group[i] for i in keys)
        totals[group] = totals.get(group, 0.0) + r.cpu_hours
    chosen = set(sorted(totals, key=lambda g: (-totals[g], g))[:top])
    return [r for r in rows if tuple(r.group[i] for i in keys) in chosen]
