"""Writing prepared batches into the ledger, one batch per transaction.

Per batch: resolve names to ids, look up which natural keys exist, insert the new records,
update the changed ones, leave the unchanged ones, and apply the rollup deltas (minus the old
contribution of an updated record, plus the new one), all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from meterbook.accounting import INPUTS, MEASURES, contributions, group_sum, wait_hours
from meterbook.pipeline import Batch
from meterbook.store.charging import RECORD_FIELDS, Charger
from meterbook.store.cubes import apply_cubes
from meterbook.store.dialect import (
    analyze,
    bulk_insert,
    bulk_update,
    greatest,
    select_in,
    table_rows,
    upsert_add,
)
from meterbook.store.dimensions import Dimensions
from meterbook.store.schema import (
    ROLLUP_KEYS,
    projects,
    resources,
    usage_daily,
    usage_records,
    users,
)

#: Columns written for each record: storage name <- prepared batch column.
RECORD_COLUMNS = {
    "source_id": "source_id",
    "record_key": "key",
    "row_hash": "row_hash",
    "run_id": "run_id",
    "resource_id": "resource_id",
    "user_id": "user_id",
    "project_id": "project_id",
    "group_name": "group",
    "partition": "partition",
    "qos": "qos",
    "workload_type": "workload_type",
    "state": "state",
    "state_reason": "state_reason",
    "name": "name",
    "submit_ts": "submit_ts",
    "eligible_ts": "eligible_ts",
    "start_ts": "start_ts",
    "end_ts": "end_ts",
    "timelimit_s": "timelimit_s",
    "cpus": "cpus",
    "gpus": "gpus",
    "gpu_type": "gpu_type",
    "nodes": "nodes",
    "mem_gb": "mem_gb",
    "io_ops": "io_ops",
    "cost": "cost",
    "currency": "currency",
    "exit_code": "exit_code",
    "hosts": "hosts",
    "attrs": "attrs",
}
#: Rollup dimensions by id, as stored (ROLLUP_KEYS without the day).
ID_DIMS = ROLLUP_KEYS[1:]
#: What rollups need of a stored record to subtract it.
SHAPE_COLUMNS = (*ID_DIMS, "submit_ts", *(c for c in INPUTS if c != "wait_hours"))
_SHAPE_SCHEMA = pa.schema(
    [
        *((d, pa.int64()) for d in ID_DIMS[:4]),
        *((d, pa.string()) for d in ID_DIMS[4:]),
        ("submit_ts", pa.float64()),
        ("start_ts", pa.float64()),
        ("end_ts", pa.float64()),
        ("cpus", pa.float64()),
        ("gpus", pa.float64()),
        ("nodes", pa.int64()),
        ("mem_gb", pa.float64()),
        ("io_ops", pa.int64()),
    ]
)


@dataclass
class BatchCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


def map_names(column: pa.ChunkedArray | pa.Array, ids: dict[str, int]) -> pa.Array:
    """Ids for a column of names; null and unknown names give null."""
    distinct = pc.unique(column)
    values = pa.array([ids.get(v) if v else None for v in distinct.to_pylist()], pa.int64())
    return pc.take(values, pc.index_in(column, value_set=distinct))


def last_of_each(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """The rows of ``table`` without those whose ``keys`` a later row repeats: a batch naming
    the same record twice keeps its last version, as a later batch would (row order kept)."""
    numbered = table.append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    last = numbered.group_by(list(keys), use_threads=False).aggregate([("_row", "max")])
    if last.num_rows == table.num_rows:
        return table
    kept = last["_row_max"]
    return table.take(pc.take(kept, pc.sort_indices(kept)))


def _distinct(column: pa.ChunkedArray) -> set[str]:
    return {v for v in pc.unique(column).to_pylist() if v}


def shape_table(rows: Sequence[Any]) -> pa.Table:
    """Stored records (SHAPE_COLUMNS) as a table ready for :func:`contributions`."""
    columns = {name: [getattr(r, name) for r in rows] for name in _SHAPE_SCHEMA.names}
    table = pa.table(columns, schema=_SHAPE_SCHEMA)
    return fill_dims(table.append_column("wait_hours", wait_hours(table)))


def fill_dims(table: pa.Table) -> pa.Table:
    """Rollup keys cannot be null: 0 for a missing id, '' for a missing name."""
    for name in ID_DIMS:
        column = table[name]
        filler = 0 if pa.types.is_integer(column.type) else ""
        table = table.set_column(
            table.schema.get_field_index(name), name, pc.fill_null(column, filler)
        )
    return table


class LedgerWriter:
    """Writes prepared batches of one connector kind for one import run."""

    #: SQLite settings of the import's connection: none (a bigger page cache did not make
    #: Slurm imports faster, measured, and would add to their memory).
    sqlite_pragmas: tuple[str, ...] = ()

    def __init__(self, kind: str, run_id: int, zone: tzinfo) -> None:
        self.kind = kind
        self.run_id = run_id
        self.zone = zone
        self.dims = Dimensions()
        self._pending: list[pa.Table] = []
        self._planned: int | None = None  # rows the database's planner believes the table has
        self._added = 0  # rows inserted since
        self._charger: Charger | None = None
        self._rating_checked = False

    def _keep_statistics(self, conn: Connection) -> None:
        """Refresh the planner's statistics of the natural key each time this import has
        doubled the table (PostgreSQL; elsewhere nothing to do).

        A key lookup planned for the table as it was when last analysed (empty, for a first
        import) reads every row of the source instead of probing the index.
        """
        if self._planned is None:
            self._planned = table_rows(conn, usage_records)
        if self._planned is None or self._added <= max(10_000, self._planned):
            return
        analyze(conn, usage_records, ("source_id", "record_key"))
        self._planned = table_rows(conn, usage_records) or 0
        self._added = 0

    def flush(self, conn: Connection) -> None:
        """Apply the rollup deltas of the batches written since the last flush (call it just
        before committing: records and rollups commit together)."""
        if self._charger is not None:
            self._charger.flush(conn)
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        deltas = pending[0] if len(pending) == 1 else group_sum(pa.concat_tables(pending), ID_DIMS)
        apply_rollup(conn, deltas)

    def _resolve(self, conn: Connection, t: pa.Table) -> tuple[pa.Table, dict[str, dict[str, int]]]:
        """Add ``source_id``, ``resource_id``, ``user_id``, ``project_id`` and ``run_id``."""
        res_ids = self.dims.names(
            conn, resources, _distinct(t["resource"]), defaults={"kind": "cluster"}
        )
        pairs = t.select(["user", "uid"]).filter(pc.is_valid(t["user"]))
        uids = pairs.group_by("user").aggregate([("uid", "max")]).to_pylist()
        user_ids = self.dims.names(
            conn,
            users,
            {u["user"] for u in uids},
            extra={u["user"]: {"uid": u["uid_max"]} for u in uids},
        )
        proj_ids = self.dims.names(conn, projects, _distinct(t["project"]))
        firsts = (
            t.select(["source", "resource"])
            .group_by("source")
            .aggregate([("resource", "min")])
            .to_pylist()
        )
        source_ids = {
            f["source"]: self.dims.source(
                conn, self.kind, f["source"], res_ids.get(f["resource_min"] or "")
            )
            for f in firsts
        }
        ids = {"source": source_ids, "resource": res_ids, "user": user_ids, "project": proj_ids}
        for name, mapping in ids.items():
            t = t.append_column(f"{name}_id", map_names(t[name], mapping))
        t = t.append_column("run_id", pa.array([self.run_id] * t.num_rows, pa.int64()))
        return t, ids

    def write(self, conn: Connection, prepared: Batch) -> BatchCounts:
        """Write one prepared batch inside the caller's transaction; its rollup deltas wait
        for :meth:`flush`.

        The batch's day contributions by name (computed by the reader) are used when every
        record of the batch is new, the common case.
        """
        counts = BatchCounts()
        batch, rollup = prepared.table, prepared.rollup
        if not batch.num_rows:
            return counts
        t, ids = self._resolve(conn, batch)
        keys = list(zip(t["source_id"].to_pylist(), t["key"].to_pylist(), strict=True))
        last = {k: i for i, k in enumerate(keys)}
        if len(last) < len(keys):  # the same record twice in a batch: the last one wins
            hashes = t["row_hash"].to_pylist()
            for i, k in enumerate(keys):
                if last[k] != i:
                    same = hashes[i] == hashes[last[k]]
                    counts.unchanged += same
                    counts.updated += not same
            keep = sorted(last.values())
            t = t.take(pa.array(keep, pa.int64()))
            keys = [keys[i] for i in keep]
            rollup = None
        inserted, existing = self._insert_new(conn, t, keys)
        if len(inserted) == len(keys):
            deltas = (
                self._named_to_ids(rollup, ids)
                if rollup is not None
                else contributions(fill_dims(t), ID_DIMS, self.zone)
            )
            counts.inserted += len(keys)
            self._pending.append(deltas)
            self._charge(conn, t, None)
            return counts
        hashes = t["row_hash"].to_pylist()
        changed: list[tuple[int, Any]] = []
        for i, k in enumerate(keys):
            old = existing.get(k)
            if old is None:
                continue
            if old.row_hash == hashes[i]:
                counts.unchanged += 1
            else:
                changed.append((i, old))
        new = t.take(pa.array(inserted, pa.int64()))
        moved = t.take(pa.array([i for i, _ in changed], pa.int64()))
        parts = [
            contributions(fill_dims(new), ID_DIMS, self.zone),
            contributions(fill_dims(moved), ID_DIMS, self.zone),
        ]
        if changed:
            old_rows = shape_table([old for _, old in changed])
            parts.append(contributions(old_rows, ID_DIMS, self.zone, sign=-1))
            self._update(conn, moved, [old.id for _, old in changed])
        self._charge(conn, new, moved, [old for _, old in changed])
        counts.inserted += len(inserted)
        counts.updated += len(changed)
        self._pending.append(group_sum(pa.concat_tables(parts), ID_DIMS))
        return counts

    def _charge(
        self,
        conn: Connection,
        new: pa.Table,
        moved: pa.Table | None,
        old: Sequence[Any] = (),
    ) -> None:
        """Rate new records, and changed ones after removing their old charges (nothing to
        do, beyond one query per import, when no rate card exists)."""
        if not self._rating_checked:
            self._rating_checked = True
            self._charger = Charger.load(conn, self.zone)
        if self._charger is None:
            return
        if old:
            self._charger.remove(conn, [dict(o._mapping) for o in old])
        for part in (new, moved):
            if part is not None and part.num_rows:
                self._charger.add(conn, _rating_input(part))

    def _insert_new(
        self, conn: Connection, t: pa.Table, keys: list[tuple[int, str]]
    ) -> tuple[list[int], dict[tuple[int, str], Any]]:
        """Insert the records whose keys are new; return their positions and the stored
        version of the others.

        Keys that sort after their source's greatest stored key cannot be stored: they are
        inserted without a lookup. Slurm keys begin with the submit time, so new data mostly
        takes this path, at the cost of one index probe per source. The other keys are looked
        up.
        """
        newest = {
            source_id: greatest(conn, usage_records, "record_key", "source_id", source_id)
            for source_id in {s for s, _ in keys}
        }
        fresh: list[int] = []
        maybe: list[int] = []
        for i, (source_id, key) in enumerate(keys):
            top = newest[source_id]
            (fresh if top is None or key > top else maybe).append(i)
        existing: dict[tuple[int, str], Any] = {}
        if maybe:
            self._keep_statistics(conn)
            existing = self._existing(conn, [keys[i] for i in maybe])
        fresh += [i for i in maybe if keys[i] not in existing]
        self._added += len(fresh)
        if len(fresh) == len(keys):
            bulk_insert(conn, usage_records, _storage(t))
        elif fresh:
            bulk_insert(conn, usage_records, _storage(t.take(pa.array(sorted(fresh), pa.int64()))))
        return sorted(fresh), existing

    @staticmethod
    def _named_to_ids(rollup: pa.Table, ids: dict[str, dict[str, int]]) -> pa.Table:
        out = rollup
        for name in ("source", "resource", "user", "project"):
            position = out.schema.get_field_index(name)
            out = out.set_column(
                position, f"{name}_id", pc.fill_null(map_names(out[name], ids[name]), 0)
            )
        return out.select(["day", *ID_DIMS, *MEASURES])

    @staticmethod
    def _update(conn: Connection, moved: pa.Table, row_ids: list[int]) -> None:
        storage = _storage(moved)
        columns = [c for c in storage.column_names if c not in ("source_id", "record_key")]
        bulk_update(conn, usage_records, storage.select(columns), row_ids)

    @staticmethod
    def _existing(conn: Connection, keys: list[tuple[int, str]]) -> dict[tuple[int, str], Any]:
        """Stored records among ``keys``, with what rollups need to subtract them."""
        by_source: dict[int, list[str]] = {}
        for source_id, key in keys:
            by_source.setdefault(source_id, []).append(key)
        columns = ("id", "record_key", "row_hash", *SHAPE_COLUMNS)
        found: dict[tuple[int, str], Any] = {}
        for source_id, wanted in by_source.items():
            for row in select_in(
                conn, usage_records, columns, "source_id", source_id, "record_key", wanted
            ):
                found[(source_id, row.record_key)] = row
        return found


def _rating_input(t: pa.Table) -> list[dict[str, Any]]:
    """Records as rating reads them (stored names), without those with a provider cost."""
    if t["cost"].null_count < t.num_rows:
        t = t.filter(pc.is_null(t["cost"]))
    names = {n: RECORD_COLUMNS[n] for n in RECORD_FIELDS}
    rows: list[dict[str, Any]] = pa.table({n: t[s] for n, s in names.items()}).to_pylist()
    return rows


def _storage(t: pa.Table) -> pa.Table:
    """The prepared columns under their storage names, in storage order."""
    return pa.table({name: t[source] for name, source in RECORD_COLUMNS.items()})


def apply_rollup(conn: Connection, deltas: pa.Table) -> None:
    """Add day contributions (``day``, ID_DIMS, MEASURES) to ``usage_daily``."""
    if not deltas.num_rows:
        return
    day = pc.cast(deltas["day"], pa.string())
    upsert_add(conn, usage_daily, ROLLUP_KEYS, deltas.set_column(0, "day", day))
    apply_cubes(conn, deltas)
