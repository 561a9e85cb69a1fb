"""Coarser usage rollups ("cubes") beside ``usage_daily``, and which one answers a query.

``usage_daily`` keeps every dimension per day: with many users, accounts, partitions and
states that is hundreds of thousands of rows a year, too many to sum for every dashboard
request. The cubes keep fewer dimensions (per day and cluster; per day and account; per month,
account and user), so a month's top users or a year's daily series sums a few thousand rows.

They are written with ``usage_daily``, from the same day contributions, in the same
transaction (:func:`apply_cubes`), and recomputed from it by :func:`rebuild_cubes`. A monthly
cube's row is keyed by the first day of its month; its ``jobs_carried`` is what was carried
into that day, so "jobs running in a month" reads the same from the month as from its days.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Table, delete, text

from meterbook.accounting import MEASURES, group_sum
from meterbook.periods import Period
from meterbook.store.dialect import backend, upsert_add
from meterbook.store.schema import (
    CLUSTER_DAY_KEYS,
    PROJECT_DAY_KEYS,
    ROLLUP_KEYS,
    USER_MONTH_KEYS,
    usage_daily,
    usage_daily_clusters,
    usage_daily_projects,
    usage_monthly_users,
)


@dataclass(frozen=True)
class Cube:
    table: Table
    keys: tuple[str, ...]
    #: "day" or "month": the finest time a row stands for.
    grain: str

    @property
    def dims(self) -> frozenset[str]:
        return frozenset(self.keys[1:])


DAILY = Cube(usage_daily, ROLLUP_KEYS, "day")
#: The cubes derived from ``usage_daily``, smallest first (the order queries try them in).
CUBES = (
    Cube(usage_daily_clusters, CLUSTER_DAY_KEYS, "day"),
    Cube(usage_monthly_users, USER_MONTH_KEYS, "month"),
    Cube(usage_daily_projects, PROJECT_DAY_KEYS, "day"),
)


def month_aligned(period: Period) -> bool:
    return period.start.day == 1 and period.end.day == 1


def choose(columns: Collection[str], period: Period, by_day: bool) -> Cube:
    """The smallest rollup with every key column in ``columns`` whose rows fit ``period``
    (a monthly cube only for whole months, and not when grouping by day)."""
    needed = set(columns)
    whole_months = month_aligned(period) and not by_day
    for cube in CUBES:
        if needed <= cube.dims and (cube.grain == "day" or whole_months):
            return cube
    return DAILY


def cube_rows(cube: Cube, deltas: pa.Table) -> pa.Table:
    """``deltas`` (``day``, ROLLUP_KEYS' dimensions, MEASURES) summed to ``cube``'s keys."""
    if cube.grain == "month":
        day = deltas["day"]
        first = pc.equal(pc.day(day), 1)
        carried = deltas["jobs_carried"]
        zero = pa.scalar(0, carried.type)
        deltas = deltas.set_column(0, "day", pc.floor_temporal(day, unit="month"))
        position = deltas.schema.get_field_index("jobs_carried")
        deltas = deltas.set_column(position, "jobs_carried", pc.if_else(first, carried, zero))
    return group_sum(deltas.select([*cube.keys, *MEASURES]), cube.keys[1:])


def apply_cubes(conn: Connection, deltas: pa.Table) -> None:
    """Add day contributions (``day`` a date, ROLLUP_KEYS' dimensions, MEASURES) to every
    cube."""
    if not deltas.num_rows:
        return
    for cube in CUBES:
        rows = cube_rows(cube, deltas)
        day = pc.cast(rows["day"], pa.string())
        upsert_add(conn, cube.table, cube.keys, rows.set_column(0, "day", day))


def _month_start(conn: Connection) -> str:
    name = backend(conn)
    if name == "sqlite":
        return "date(day, 'start of month')"
    if name == "postgresql":
        return "CAST(date_trunc('month', day) AS DATE)"
    return "CAST(DATE_FORMAT(day, '%Y-%m-01') AS DATE)"


def _is_month_start(conn: Connection) -> str:
    name = backend(conn)
    if name == "sqlite":
        return "strftime('%d', day) = '01'"
    if name == "postgresql":
        return "EXTRACT(DAY FROM day) = 1"
    return "DAYOFMONTH(day) = 1"


def rebuild_cubes(conn: Connection) -> None:
    """Recompute every cube from ``usage_daily`` (one statement each, in the database)."""
    for cube in CUBES:
        conn.execute(delete(cube.table))
        dims = ", ".join(cube.keys[1:])
        day = _month_start(conn) if cube.grain == "month" else "day"
        sums = []
        for m in MEASURES:
            value = m
            if m == "jobs_carried" and cube.grain == "month":
                value = f"CASE WHEN {_is_month_start(conn)} THEN {m} ELSE 0 END"
            sums.append(f"SUM({value})")
        columns = ", ".join([*cube.keys, *MEASURES])
        statement = (
            f"INSERT INTO {cube.table.name} ({columns}) "  # noqa: S608 (names are ours)
            f"SELECT {day}, {dims}, {', '.join(sums)} FROM usage_daily "
            f"GROUP BY {day}, {dims}"
        )
        conn.execute(text(statement))
