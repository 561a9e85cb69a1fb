"""Derived quantities and day contributions of usage records, computed on columns.

Pure logic over the model (no SQL): the reader process runs it on each batch, the store runs
the same functions when it must subtract an old version of a record or rebuild the rollups.

Hours: a record running over ``[start, end)`` has ``wall_hours = end - start`` and CPU, GPU,
node and memory hours equal to its CPUs, GPUs, nodes and memory (GiB) times that. Days: it adds
to each day of the accounting time zone that it overlaps its rates times the hours of overlap,
as Open XDMoD does. Counts: ``jobs_started`` on the day holding ``start`` (with the record's
wait, counted in ``jobs_waited`` when known, and IO operations), ``jobs_ended`` on the day
holding the last instant before ``end``, ``jobs_carried`` on every later day it overlaps, so
that the jobs running in a window are ``started`` in it plus ``carried`` on its first day and
every measure stays additive. A record
without a start adds nothing; one without an end (still running), or with ``end == start``,
counts as started (and ended when it has an end) but has no hours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, tzinfo

import pyarrow as pa
import pyarrow.compute as pc

#: The additive measures of a day rollup row, in order.
MEASURES = (
    "wall_hours",
    "cpu_hours",
    "gpu_hours",
    "node_hours",
    "mem_gb_hours",
    "wait_hours",
    "io_ops",
    "jobs_started",
    "jobs_ended",
    "jobs_carried",
    "jobs_waited",
)
#: The columns of a record that :func:`contributions` reads, besides its dimensions.
INPUTS = ("start_ts", "end_ts", "cpus", "gpus", "nodes", "mem_gb", "wait_hours", "io_ops")
#: Rollup dimensions of a prepared batch, by name (ids replace names in the store).
NAME_DIMS = ("source", "resource", "user", "project", "partition", "qos", "state", "workload_type")
_DAY = 86400.0
_EPS = 1e-6


def digests(fingerprints: pa.Array) -> pa.Array:
    """A 64-bit digest of each fingerprint (signed, to fit any database's BIGINT): equal digests,
    unchanged record. It detects change, not tampering; a collision needs 2**32 versions of one
    record."""
    blake = hashlib.blake2b
    return pa.array(
        [
            int.from_bytes(blake(t.encode(), digest_size=8).digest(), "big", signed=True)
            for t in fingerprints.to_pylist()
        ],
        pa.int64(),
    )


def _f(column: pa.Array) -> pa.Array:
    return pc.cast(pc.fill_null(column, 0), pa.float64())


def wait_hours(table: pa.Table) -> pa.Array:
    """Hours from submission to start (never negative; null when either is unknown)."""
    waited = pc.subtract(table["start_ts"], table["submit_ts"])
    return pc.divide(pc.max_element_wise(waited, 0.0, skip_nulls=False), 3600.0)


def derive(table: pa.Table) -> pa.Table:
    """Add ``row_hash`` and ``wait_hours``."""
    return table.append_column("row_hash", digests(table["fingerprint"])).append_column(
        "wait_hours", wait_hours(table)
    )


def _zone_name(zone: tzinfo) -> str | None:
    return None if zone is UTC else str(zone)


def _next_midnight(t: pa.Array, zone: tzinfo) -> pa.Array:
    """The first local midnight strictly after each instant (epoch seconds)."""
    if zone is UTC:
        return pc.multiply(pc.add(pc.floor(pc.divide(t, _DAY)), 1.0), _DAY)
    stamps = _stamps(t, zone)
    ceil = pc.ceil_temporal(stamps, unit="day", ceil_is_strictly_greater=True)
    return pc.divide(pc.cast(pc.cast(ceil, pa.int64()), pa.float64()), 1e6)


def _stamps(t: pa.Array, zone: tzinfo) -> pa.Array:
    micros = pc.cast(pc.round(pc.multiply(t, 1e6)), pa.int64())
    return pc.cast(micros, pa.timestamp("us", tz=_zone_name(zone) or "UTC"))


def local_days(t: pa.Array, zone: tzinfo) -> pa.Array:
    """The local date (date32) of each instant."""
    if zone is UTC:
        return pc.cast(pc.cast(pc.floor(pc.divide(t, _DAY)), pa.int32()), pa.date32())
    return pc.cast(pc.local_timestamp(_stamps(t, zone)), pa.date32())


def contributions(table: pa.Table, dims: Sequence[str], zone: tzinfo, sign: int = 1) -> pa.Table:
    """Day rollup rows (``day``, ``*dims``, ``*MEASURES``) of ``table``'s records, summed.

    ``table`` needs the :data:`INPUTS` columns and the ``dims`` columns (no nulls in those).
    ``sign=-1`` gives the negation, to remove records.
    """
    table = table.filter(pc.is_valid(table["start_ts"]))
    interval = pc.fill_null(pc.greater(table["end_ts"], table["start_ts"]), False)
    ranged = table.filter(interval)
    pieces = [
        _segments(ranged, dims, zone, sign),
        _ends(ranged, dims, zone, sign),
        _points(table.filter(pc.invert(interval)), dims, zone, sign),
    ]
    rows = pa.concat_tables([p for p in pieces if p.num_rows] or [_empty(table, dims)])
    return group_sum(rows, dims)


def group_sum(rows: pa.Table, dims: Sequence[str]) -> pa.Table:
    """Sum the measures of rows with the same day and dimensions."""
    keys = ["day", *dims]
    grouped = rows.group_by(keys, use_threads=False).aggregate([(m, "sum") for m in MEASURES])
    names = {f"{m}_sum": m for m in MEASURES}
    grouped = grouped.rename_columns([names.get(c, c) for c in grouped.column_names])
    return grouped.select([*keys, *MEASURES])


_COUNTS = ("io_ops", "jobs_started", "jobs_ended", "jobs_carried", "jobs_waited")


def _frame(days: pa.Array, dim_cols: dict[str, pa.Array], values: dict[str, pa.Array]) -> pa.Table:
    """Rows of day, dimensions and measures; measures not given are zero."""
    n = len(days)
    zeros = {
        m: pa.array([0] * n, pa.int64()) if m in _COUNTS else pa.array([0.0] * n, pa.float64())
        for m in MEASURES
    }
    return pa.table({"day": days, **dim_cols, **{**zeros, **values}})


def _constant(n: int, value: int) -> pa.Array:
    return pa.array([value] * n, pa.int64())


def _segments(t: pa.Table, dims: Sequence[str], zone: tzinfo, sign: int) -> pa.Table:
    """One row per (record, day overlapped), with the hours of that overlap."""
    frames = []
    index = pa.array(range(t.num_rows), pa.int64())
    cursor, end = t["start_ts"].combine_chunks(), t["end_ts"].combine_chunks()
    first = True
    while len(index):
        cut = pc.min_element_wise(_next_midnight(cursor, zone), end)
        hours = pc.multiply(pc.subtract(cut, cursor), sign / 3600.0)
        rows = t.take(index)
        values = {
            "wall_hours": hours,
            "cpu_hours": pc.multiply(_f(rows["cpus"]), hours),
            "gpu_hours": pc.multiply(_f(rows["gpus"]), hours),
            "node_hours": pc.multiply(_f(rows["nodes"]), hours),
            "mem_gb_hours": pc.multiply(_f(rows["mem_gb"]), hours),
        }
        if first:
            values.update(_start_measures(rows, sign))
        else:
            values["jobs_carried"] = _constant(len(index), sign)
        frames.append(_frame(local_days(cursor, zone), {d: rows[d] for d in dims}, values))
        more = pc.less(cut, end)
        index, cursor, end = index.filter(more), cut.filter(more), end.filter(more)
        first = False
    return pa.concat_tables(frames) if frames else _empty(t, dims)


def _ends(t: pa.Table, dims: Sequence[str], zone: tzinfo, sign: int) -> pa.Table:
    """``jobs_ended`` on the day holding the last instant of each interval."""
    days = local_days(pc.subtract(t["end_ts"], _EPS), zone)
    return _frame(days, {d: t[d] for d in dims}, {"jobs_ended": _constant(t.num_rows, sign)})


def _points(t: pa.Table, dims: Sequence[str], zone: tzinfo, sign: int) -> pa.Table:
    """Records without hours: started (and ended, when they have an end) on their start day."""
    ended = pc.multiply(pc.cast(pc.is_valid(t["end_ts"]), pa.int64()), sign)
    return _frame(
        local_days(t["start_ts"], zone),
        {d: t[d] for d in dims},
        {**_start_measures(t, sign), "jobs_ended": ended},
    )


def _start_measures(t: pa.Table, sign: int) -> dict[str, pa.Array]:
    """What a record adds on its start day: one job started, its wait (when known, counted
    in ``jobs_waited`` so that the average wait leaves unknown waits out) and its IO."""
    waited = pc.cast(pc.is_valid(t["wait_hours"]), pa.int64())
    return {
        "jobs_started": _constant(t.num_rows, sign),
        "jobs_waited": pc.multiply(waited, sign),
        "wait_hours": pc.multiply(_f(t["wait_hours"]), float(sign)),
        "io_ops": pc.multiply(pc.fill_null(t["io_ops"], 0), sign),
    }


def _empty(t: pa.Table, dims: Sequence[str]) -> pa.Table:
    return _frame(
        pa.array([], pa.date32()), {d: pa.array([], t.schema.field(d).type) for d in dims}, {}
    )
