"""IO-log analytics: everything the original NFS dashboard showed, over any period.

Every function reads rollups (per block and user, per block and machine, per day with the size
buckets) or the per-block totals, never the raw histograms, except to name the machines of a
handful of users. Operations are NFS requests; bytes moved are each bucket's count times its
lower bound (``[16K, 32K)`` counts 16 KiB per request), a floor, not an exact volume.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from meterbook.connectors.iolog import FileState
from meterbook.connectors.iolog.parse import bucket_label, bucket_low
from meterbook.errors import ConfigError
from meterbook.periods import Period, day_start
from meterbook.store.dialect import month_of
from meterbook.store.schema import resources, sources, users
from meterbook.store.schema_io import (
    BUCKETS,
    READ,
    io_blocks,
    io_daily,
    io_files,
    io_machine_blocks,
    io_sessions,
    io_sizes_daily,
    io_user_blocks,
)

GRAINS = ("hour", "day", "month")
SIZE_GROUPS = ("role", "group", "user", "machine")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_B = io_blocks.c
_U = io_user_blocks.c
_M = io_machine_blocks.c
_D = io_daily.c


@dataclass(frozen=True)
class IoScope:
    """The period (whole days of the accounting zone) and, optionally, one log source."""

    period: Period
    zone: tzinfo
    source: str | None = None

    @property
    def first_ts(self) -> int:
        return int(day_start(self.period.start, self.zone).timestamp())

    @property
    def end_ts(self) -> int:
        return int(day_start(self.period.end, self.zone).timestamp())


@dataclass(frozen=True)
class Ops:
    read_ops: int = 0
    write_ops: int = 0
    read_bytes: int = 0
    write_bytes: int = 0

    @property
    def ops(self) -> int:
        return self.read_ops + self.write_ops

    @property
    def bytes(self) -> int:
        return self.read_bytes + self.write_bytes


@dataclass(frozen=True)
class IoStats(Ops):
    blocks: int = 0
    users: int = 0
    machines: int = 0
    sessions: int = 0
    first: datetime | None = None
    last: datetime | None = None


@dataclass(frozen=True)
class UserRow(Ops):
    user: str = ""
    role: str | None = None
    affiliation: str | None = None
    sessions: int = 0
    machines: int = 0


@dataclass(frozen=True)
class MachineRow(Ops):
    machine: str = ""
    group: str | None = None
    sessions: int = 0
    users: int = 0


@dataclass(frozen=True)
class SizeRow:
    """Operations in one size bucket (``group`` names the role, group, user or machine)."""

    group: str
    bucket: str
    low_bytes: int
    read_ops: int
    write_ops: int


@dataclass(frozen=True)
class SeriesPoint(Ops):
    """Operations at one hour (block), day or month, with the users and machines active."""

    time: str = ""
    users: int = 0
    machines: int = 0


@dataclass(frozen=True)
class PatternRow:
    slot: str
    blocks: int
    avg_ops: float
    avg_users: float


@dataclass(frozen=True)
class BlockUserRow(Ops):
    """A user in one block (history, heavy users) or over the last blocks (top)."""

    time: str = ""
    rank: int = 0
    user: str = ""
    machines: str = ""


@dataclass
class Detail:
    """One user (with machines) or one machine (with users): the rows, sizes, time series."""

    name: str
    total: Ops
    peers: list[Any] = field(default_factory=list)
    sizes: list[SizeRow] = field(default_factory=list)
    series: list[SeriesPoint] = field(default_factory=list)


# -- helpers ----------------------------------------------------------------------------------


def _sum(*columns: Any) -> Any:
    return func.coalesce(
        func.sum(columns[0] if len(columns) == 1 else sum(columns[1:], columns[0])), 0
    )


def _blocks_in(scope: IoScope) -> Any:
    where = and_(_B.block_ts >= scope.first_ts, _B.block_ts < scope.end_ts)
    if scope.source:
        where = and_(where, _B.source_id == _source_id(scope.source))
    return where


def _source_id(name: str) -> Any:
    return (select(sources.c.id).where(sources.c.kind == "iolog", sources.c.name == name)
            .scalar_subquery())  # fmt: skip


def _days_in(scope: IoScope) -> Any:
    where = and_(_D.day >= scope.period.start, _D.day < scope.period.end)
    if scope.source:
        where = and_(where, _D.source_id == _source_id(scope.source))
    return where


def _per_block_in(table: Any, scope: IoScope) -> Any:
    """Rows of a per-block rollup whose block is in scope (they carry the block's time)."""
    where = and_(table.c.block_ts >= scope.first_ts, table.c.block_ts < scope.end_ts)
    if scope.source:
        blocks = select(_B.id).where(_B.source_id == _source_id(scope.source))
        where = and_(where, table.c.block_id.in_(blocks))
    return where


def _ops(row: Any) -> dict[str, Any]:
    return {k: int(getattr(row, k) or 0) for k in ("read_ops", "write_ops", "read_bytes",
                                                    "write_bytes")}  # fmt: skip


def _when(ts: int, zone: tzinfo) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone)


def _id(conn: Connection, table: Any, name: str, what: str) -> int:
    found = conn.execute(select(table.c.id).where(table.c.name == name)).scalar()
    if found is None:
        raise ConfigError(f"no {what} {name!r} in the IO logs")
    return int(found)


# -- the dashboard ----------------------------------------------------------------------------


def io_stats(conn: Connection, scope: IoScope) -> IoStats:
    """Blocks, users, machines, sessions, operations and bytes, first and last block."""
    row = conn.execute(select(
        func.count().label("blocks"), _sum(_B.sessions).label("sessions"),
        _sum(_B.read_ops).label("read_ops"), _sum(_B.write_ops).label("write_ops"),
        _sum(_B.read_bytes).label("read_bytes"), _sum(_B.write_bytes).label("write_bytes"),
        func.min(_B.block_ts).label("first"), func.max(_B.block_ts).label("last"),
    ).where(_blocks_in(scope))).one()  # fmt: skip
    active = select(func.count(func.distinct(_D.user_id)), func.count(func.distinct(_D.machine_id)))
    users_, machines = conn.execute(active.where(_days_in(scope))).one()
    return IoStats(
        **_ops(row), blocks=int(row.blocks), users=int(users_ or 0), machines=int(machines or 0),
        sessions=int(row.sessions), first=None if row.first is None else _when(row.first,
                                                                               scope.zone),
        last=None if row.last is None else _when(row.last, scope.zone),
    )  # fmt: skip


def io_users(conn: Connection, scope: IoScope, limit: int | None = None) -> list[UserRow]:
    """Users by operations: sessions (machine-hours), distinct machines, operations, bytes."""
    machines = (select(_D.user_id, func.count(func.distinct(_D.machine_id)).label("n"))
                .where(_days_in(scope)).group_by(_D.user_id).subquery())  # fmt: skip
    sums = _per_block_sums(io_user_blocks, _U.user_id, _U.machines, scope)
    query = (
        select(users.c.name, users.c.role, users.c.affiliation, sums.c.sessions,
               machines.c.n.label("machines"), sums.c.read_ops, sums.c.write_ops,
               sums.c.read_bytes, sums.c.write_bytes)
        .join(users, users.c.id == sums.c.key)
        .join(machines, machines.c.user_id == sums.c.key, isouter=True)
        .order_by((sums.c.read_ops + sums.c.write_ops).desc(), users.c.name)
    )  # fmt: skip
    if limit:
        query = query.limit(limit)
    return [UserRow(**_ops(r), user=r.name, role=r.role, affiliation=r.affiliation,
                    sessions=int(r.sessions), machines=int(r.machines or 0))
            for r in conn.execute(query)]  # fmt: skip


def _per_block_sums(table: Any, key: Any, count: Any, scope: IoScope) -> Any:
    """A per-block rollup summed over the scope's blocks by ``key``: sessions (the sum of
    ``count``), operations and bytes (summed before joining names: fewer rows to join)."""
    t = table.c
    return (select(key.label("key"), _sum(count).label("sessions"),
                   _sum(t.read_ops).label("read_ops"), _sum(t.write_ops).label("write_ops"),
                   _sum(t.read_bytes).label("read_bytes"),
                   _sum(t.write_bytes).label("write_bytes"))
            .where(_per_block_in(table, scope)).group_by(key).subquery())  # fmt: skip


def io_machines(conn: Connection, scope: IoScope, limit: int | None = None) -> list[MachineRow]:
    """Machines by operations: sessions (user-hours), distinct users, operations, bytes."""
    people = (select(_D.machine_id, func.count(func.distinct(_D.user_id)).label("n"))
              .where(_days_in(scope)).group_by(_D.machine_id).subquery())  # fmt: skip
    sums = _per_block_sums(io_machine_blocks, _M.machine_id, _M.users, scope)
    query = (
        select(resources.c.name, resources.c.group_name, sums.c.sessions,
               people.c.n.label("users"), sums.c.read_ops, sums.c.write_ops,
               sums.c.read_bytes, sums.c.write_bytes)
        .join(resources, resources.c.id == sums.c.key)
        .join(people, people.c.machine_id == sums.c.key, isouter=True)
        .order_by((sums.c.read_ops + sums.c.write_ops).desc(), resources.c.name)
    )  # fmt: skip
    if limit:
        query = query.limit(limit)
    return [MachineRow(**_ops(r), machine=r.name, group=r.group_name, sessions=int(r.sessions),
                       users=int(r.users or 0)) for r in conn.execute(query)]  # fmt: skip


def io_sizes(conn: Connection, scope: IoScope, by: str | None = None,
             where: Any = None) -> list[SizeRow]:  # fmt: skip
    """Operations per size bucket, overall or per role, machine group, user or machine.

    Overall, by role and by group come from the small sizes rollup; per user or machine (and
    ``where``, used for one user or machine) from the day rollup, which has them.
    """
    if by is not None and by not in SIZE_GROUPS:
        raise ConfigError(f"--by: {by!r} is not one of {', '.join(SIZE_GROUPS)}")
    small = by in (None, "role", "group") and where is None
    t = (io_sizes_daily if small else io_daily).c
    labels: dict[str | None, Any] = {None: None, "role": t.role, "group": t.machine_group,
                                     "user": users.c.name, "machine": resources.c.name}  # fmt: skip
    label = labels[by]
    query = select(*([label] if label is not None else []), t.direction,
                   *(_sum(t[b]).label(b) for b in BUCKETS))  # fmt: skip
    if by == "user":
        query = query.join(users, users.c.id == t.user_id)
    elif by == "machine":
        query = query.join(resources, resources.c.id == t.machine_id)
    query = query.where(t.day >= scope.period.start, t.day < scope.period.end)
    if scope.source:
        query = query.where(t.source_id == _source_id(scope.source))
    if where is not None:
        query = query.where(where)
    query = query.group_by(*([label] if label is not None else []), t.direction)
    counts: dict[str, list[list[int]]] = {}
    for row in conn.execute(query):
        name = "all" if label is None else str(row[0])
        pair = counts.setdefault(name, [[0] * len(BUCKETS), [0] * len(BUCKETS)])
        pair[row.direction] = [int(getattr(row, b)) for b in BUCKETS]
    out = []
    for name in sorted(counts):
        reads, writes = counts[name]
        used = [k for k in range(len(BUCKETS)) if reads[k] or writes[k]]
        if not used:
            continue
        for k in range(min(used), max(used) + 1):
            out.append(SizeRow(name, bucket_label(k), bucket_low(k), reads[k], writes[k]))
    return out


def io_timeseries(conn: Connection, scope: IoScope, grain: str = "day") -> list[SeriesPoint]:
    """Operations with active users and machines per hour (block), day or month."""
    if grain not in GRAINS:
        raise ConfigError(f"--grain: {grain!r} is not one of {', '.join(GRAINS)}")
    if grain == "hour":
        query = (
            select(
                _B.block_ts,
                _B.read_ops,
                _B.write_ops,
                _B.read_bytes,
                _B.write_bytes,
                _B.users,
                _B.machines,
            )
            .where(_blocks_in(scope))
            .order_by(_B.block_ts)
        )
        return [SeriesPoint(**_ops(r), time=_when(r.block_ts, scope.zone).strftime(
            "%Y-%m-%d %H:%M"), users=r.users, machines=r.machines)
            for r in conn.execute(query)]  # fmt: skip
    bucket = _D.day if grain == "day" else month_of(conn, _D.day)
    read = _D.direction == READ
    query = (
        select(bucket.label("slot"), func.count(func.distinct(_D.user_id)).label("users"),
               func.count(func.distinct(_D.machine_id)).label("machines"),
               _sum(_ops_where(read, _D.ops)).label("read_ops"),
               _sum(_ops_where(~read, _D.ops)).label("write_ops"),
               _sum(_ops_where(read, _D.bytes)).label("read_bytes"),
               _sum(_ops_where(~read, _D.bytes)).label("write_bytes"))
        .where(_days_in(scope)).group_by(bucket).order_by(bucket)
    )  # fmt: skip
    found = {_text(r.slot): r for r in conn.execute(query)}
    return [SeriesPoint(**(_ops(found[t]) if t in found else {}), time=t,
                        users=int(found[t].users) if t in found else 0,
                        machines=int(found[t].machines) if t in found else 0)
            for t in _slots(scope.period, grain)]  # fmt: skip


def _ops_where(condition: Any, column: Any) -> Any:
    return case((condition, column), else_=0)


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _slots(period: Period, grain: str) -> list[str]:
    """Every day or month of the period (the zero-filled axis)."""
    if grain == "month":
        return [m.strftime("%Y-%m") for m in period.months()]
    return [(period.start + timedelta(days=i)).isoformat() for i in range(period.days)]


def io_patterns(conn: Connection, scope: IoScope) -> tuple[list[PatternRow], list[PatternRow]]:
    """Average operations and active users per block, by hour of day and by day of week."""
    hours: dict[int, list[int]] = {h: [0, 0, 0] for h in range(24)}
    days: dict[int, list[int]] = {d: [0, 0, 0] for d in range(7)}
    query = select(_B.block_ts, _B.read_ops, _B.write_ops, _B.users).where(_blocks_in(scope))
    for row in conn.execute(query):
        moment = _when(row.block_ts, scope.zone)
        for slot in (hours[moment.hour], days[moment.weekday()]):
            slot[0] += 1
            slot[1] += row.read_ops + row.write_ops
            slot[2] += row.users

    def rows(slots: dict[int, list[int]], name: Any) -> list[PatternRow]:
        return [PatternRow(name(k), n, total / n if n else 0.0, people / n if n else 0.0)
                for k, (n, total, people) in slots.items()]  # fmt: skip

    return rows(hours, lambda h: f"{h:02d}:00"), rows(days, lambda d: WEEKDAYS[d])


def io_top(conn: Connection, scope: IoScope, blocks: int = 24, limit: int = 10
           ) -> list[BlockUserRow]:  # fmt: skip
    """The most active users over the last ``blocks`` blocks of the scope, with their machines."""
    last = [r.id for r in conn.execute(select(_B.id).where(_blocks_in(scope))
                                       .order_by(_B.block_ts.desc()).limit(blocks))]  # fmt: skip
    if not last:
        return []
    query = (
        select(users.c.id, users.c.name, _sum(_U.read_ops).label("read_ops"),
               _sum(_U.write_ops).label("write_ops"), _sum(_U.read_bytes).label("read_bytes"),
               _sum(_U.write_bytes).label("write_bytes"))
        .join(users, users.c.id == _U.user_id).where(_U.block_id.in_(last))
        .group_by(users.c.id, users.c.name)
        .order_by((_sum(_U.read_ops) + _sum(_U.write_ops)).desc(), users.c.name).limit(limit)
    )  # fmt: skip
    rows = conn.execute(query).all()
    names = _machines_of(conn, last, [r.id for r in rows])
    return [BlockUserRow(**_ops(r), time=f"last {len(last)} blocks", rank=i + 1, user=r.name,
                         machines=", ".join(names.get(r.id, [])))
            for i, r in enumerate(rows)]  # fmt: skip


def _machines_of(conn: Connection, block_ids: Sequence[int], user_ids: Sequence[int]
                 ) -> dict[int, list[str]]:  # fmt: skip
    s = io_sessions.c
    query = (select(s.user_id, resources.c.name).distinct()
             .join(resources, resources.c.id == s.machine_id)
             .where(s.block_id.in_(block_ids), s.user_id.in_(user_ids)))  # fmt: skip
    found: dict[int, list[str]] = {}
    for user_id, name in conn.execute(query):
        found.setdefault(user_id, []).append(name)
    return {k: sorted(v) for k, v in found.items()}


def io_history(conn: Connection, scope: IoScope, top: int = 5) -> list[BlockUserRow]:
    """The ``top`` users of every block of the scope, by operations (ranks are stored)."""
    query = (select(_U.block_ts, users.c.name, _U.machines, _U.read_ops, _U.write_ops,
                    _U.read_bytes, _U.write_bytes, _U.rank)
             .join(users, users.c.id == _U.user_id)
             .where(_U.rank <= top, _per_block_in(io_user_blocks, scope))
             .order_by(_U.block_ts, _U.rank))  # fmt: skip
    return _block_rows(conn, query, scope)


def io_heavy(conn: Connection, scope: IoScope, threshold: int = 250_000) -> list[BlockUserRow]:
    """Users above ``threshold`` operations in one block (an hour), every time it happened."""
    query = (select(_U.block_ts, users.c.name, _U.machines, _U.read_ops, _U.write_ops,
                    _U.read_bytes, _U.write_bytes)
             .join(users, users.c.id == _U.user_id)
             .where(_per_block_in(io_user_blocks, scope), _U.read_ops + _U.write_ops > threshold)
             .order_by(_U.block_ts, (_U.read_ops + _U.write_ops).desc()))  # fmt: skip
    return _block_rows(conn, query, scope)


def _block_rows(conn: Connection, query: Any, scope: IoScope) -> list[BlockUserRow]:
    """Rows of (block_ts, user, machines, read_ops, write_ops, read_bytes, write_bytes[, rank])
    as :class:`BlockUserRow` (many: every block of a year; each block's time formatted once)."""
    times: dict[int, str] = {}
    out = []
    for ts, name, machines, read_ops, write_ops, read_bytes, write_bytes, *rank in conn.execute(
        query
    ):
        when = times.get(ts)
        if when is None:
            when = times[ts] = _when(ts, scope.zone).strftime("%Y-%m-%d %H:%M")
        out.append(BlockUserRow(int(read_ops or 0), int(write_ops or 0), int(read_bytes or 0),
                                int(write_bytes or 0), when, int(rank[0]) if rank else 0, name,
                                str(machines)))  # fmt: skip
    return out


def io_user(conn: Connection, scope: IoScope, name: str, grain: str = "day") -> Detail:
    """One user: machines used, size distribution, zero-filled time series."""
    user_id = _id(conn, users, name, "user")
    peers = _peers(conn, scope, _D.user_id == user_id, resources, _D.machine_id)
    series = _series(conn, scope, io_user_blocks, _U.user_id == user_id, grain)
    return Detail(name, _total(series), peers, io_sizes(conn, scope, None, _D.user_id == user_id),
                  series)  # fmt: skip


def io_machine(conn: Connection, scope: IoScope, name: str, grain: str = "day") -> Detail:
    """One machine: its users, size distribution, zero-filled time series."""
    machine_id = _id(conn, resources, name, "machine")
    peers = _peers(conn, scope, _D.machine_id == machine_id, users, _D.user_id)
    series = _series(conn, scope, io_machine_blocks, _M.machine_id == machine_id, grain)
    return Detail(name, _total(series), peers,
                  io_sizes(conn, scope, None, _D.machine_id == machine_id), series)  # fmt: skip


def _total(series: list[SeriesPoint]) -> Ops:
    return Ops(sum(p.read_ops for p in series), sum(p.write_ops for p in series),
               sum(p.read_bytes for p in series), sum(p.write_bytes for p in series))  # fmt: skip


def _peers(conn: Connection, scope: IoScope, where: Any, table: Any, key: Any) -> list[UserRow]:
    """The machines of a user (or users of a machine): sessions, operations, bytes."""
    read = _D.direction == READ
    query = (
        select(table.c.name, _sum(_D.sessions).label("sessions"),
               _sum(_ops_where(read, _D.ops)).label("read_ops"),
               _sum(_ops_where(~read, _D.ops)).label("write_ops"),
               _sum(_ops_where(read, _D.bytes)).label("read_bytes"),
               _sum(_ops_where(~read, _D.bytes)).label("write_bytes"))
        .join(table, table.c.id == key).where(_days_in(scope), where)
        .group_by(table.c.name).order_by((_sum(_D.ops)).desc(), table.c.name)
    )  # fmt: skip
    return [UserRow(**_ops(r), user=r.name, sessions=int(r.sessions))
            for r in conn.execute(query)]  # fmt: skip


def _series(conn: Connection, scope: IoScope, table: Any, where: Any, grain: str
            ) -> list[SeriesPoint]:  # fmt: skip
    """A per-block rollup's rows for one user or machine, zero-filled over the blocks (hour),
    days or months of the scope."""
    if grain not in GRAINS:
        raise ConfigError(f"--grain: {grain!r} is not one of {', '.join(GRAINS)}")
    mine = {r.block_ts: r for r in conn.execute(
        select(table.c.block_ts, table.c.read_ops, table.c.write_ops, table.c.read_bytes,
               table.c.write_bytes).where(_per_block_in(table, scope), where))}  # fmt: skip
    if grain == "hour":
        stamps = [r.block_ts for r in conn.execute(select(_B.block_ts).where(_blocks_in(scope))
                                                   .order_by(_B.block_ts))]  # fmt: skip
        return [SeriesPoint(**(_ops(mine[t]) if t in mine else {}),
                            time=_when(t, scope.zone).strftime("%Y-%m-%d %H:%M"))
                for t in stamps]  # fmt: skip
    sums: dict[str, list[int]] = {t: [0, 0, 0, 0] for t in _slots(scope.period, grain)}
    for stamp, row in mine.items():
        moment = _when(stamp, scope.zone)
        slot = moment.strftime("%Y-%m-%d" if grain == "day" else "%Y-%m")
        if slot in sums:
            values = _ops(row)
            for i, k in enumerate(("read_ops", "write_ops", "read_bytes", "write_bytes")):
                sums[slot][i] += values[k]
    return [SeriesPoint(read_ops=r, write_ops=w, read_bytes=rb, write_bytes=wb, time=t)
            for t, (r, w, rb, wb) in sums.items()]  # fmt: skip


def file_states(conn: Connection) -> dict[str, FileState]:
    """How far every known IO-log file was imported, by path."""
    f = io_files.c
    rows = conn.execute(select(f.path, sources.c.name, f.device, f.inode, f.head_digest,
                               f.offset, f.lines, f.size, f.last_block_ts)
                        .join(sources, sources.c.id == f.source_id))  # fmt: skip
    return {r.path: FileState(r.path, r.name, int(r.device or 0), int(r.inode or 0),
                              r.head_digest or "", int(r.offset), int(r.lines), int(r.size),
                              r.last_block_ts) for r in rows}  # fmt: skip
