"""Storing metric samples: names to ids, upserts on the natural key, the hourly rollup.

:class:`MetricWriter` takes :class:`~meterbook.connectors.base.MetricBatch` tables inside the
caller's transaction. A sample whose (resource, metric, time) is already stored is rewritten
with the new values (a source may revise recent points), so collecting a range twice changes
nothing. :meth:`MetricWriter.flush` rebuilds, from the stored samples, every hour the
transaction touched, and returns how many samples were new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, func, select, update

from meterbook.connectors.base import METRIC_SCHEMA
from meterbook.store.dialect import _copy_csv, _mark, _q, _stage, backend, insert_ignore, rows_of
from meterbook.store.dimensions import Dimensions
from meterbook.store.ingest import last_of_each, map_names
from meterbook.store.schema import environments, resources
from meterbook.store.schema_metrics import collect_state, metric_samples, metrics

_SAMPLE_COLUMNS = ("resource_id", "metric_id", "ts", "average", "minimum", "maximum")
_VALUES = ("average", "minimum", "maximum")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ResourceInfo:
    """What the inventory says about a resource."""

    kind: str
    display_name: str | None = None
    group: str | None = None
    environment: str | None = None


def sync_resources(
    conn: Connection, dims: Dimensions, info: Mapping[str, ResourceInfo]
) -> dict[str, int]:
    """Create or update the resources of an inventory; returns name -> id."""
    env_names = {i.environment for i in info.values() if i.environment}
    env_ids: dict[str, int] = {}
    if env_names:
        conn.execute(
            insert_ignore(conn, environments),
            [
                {"name": n, "archived": False, "created_at": _now(), "description": None}
                for n in sorted(env_names)
            ],
        )
        env_ids = dict(
            conn.execute(
                select(environments.c.name, environments.c.id).where(
                    environments.c.name.in_(env_names)
                )
            ).all()
        )
    ids = dims.names(conn, resources, info, defaults={"kind": "resource"})
    for name, item in info.items():
        conn.execute(
            update(resources)
            .where(resources.c.id == ids[name])
            .values(
                kind=item.kind,
                display_name=item.display_name,
                group_name=item.group,
                environment_id=env_ids.get(item.environment or ""),
            )
        )
    return {name: ids[name] for name in info}


class MetricWriter:
    """Writes the samples of one source, batch by batch, inside the caller's transaction."""

    def __init__(self, kind: str, source: str, default_kind: str = "resource") -> None:
        self.kind = kind
        self.source = source
        self.default_kind = default_kind
        self.dims = Dimensions()
        self._metric_ids: dict[str, int] = {}
        self._touched: dict[tuple[int, int], list[float]] = {}
        self._new = 0
        self.samples = 0

    def source_id(self, conn: Connection) -> int:
        return self.dims.source(conn, self.kind, self.source, None)

    def _metrics(self, conn: Connection, names: Iterable[str]) -> dict[str, int]:
        missing = [n for n in names if n not in self._metric_ids]
        if missing:
            source_id = self.source_id(conn)
            conn.execute(
                insert_ignore(conn, metrics),
                [{"source_id": source_id, "name": n, "unit": None} for n in missing],
            )
            found = conn.execute(
                select(metrics.c.name, metrics.c.id).where(
                    metrics.c.source_id == source_id, metrics.c.name.in_(missing)
                )
            ).all()
            self._metric_ids.update(dict(found))
        return self._metric_ids

    def write(self, conn: Connection, table: pa.Table) -> int:
        """Store one batch of samples; returns how many rows it held."""
        if not table.num_rows:
            return 0
        table = table.cast(METRIC_SCHEMA)
        resource_ids = self.dims.names(
            conn,
            resources,
            set(pc.unique(table["resource"]).to_pylist()),
            defaults={"kind": self.default_kind},
        )
        metric_ids = self._metrics(conn, pc.unique(table["metric"]).to_pylist())
        rows = pa.table(
            {
                "resource_id": map_names(table["resource"], resource_ids),
                "metric_id": map_names(table["metric"], metric_ids),
                "ts": table["ts"],
                "average": table["average"],
                "minimum": table["minimum"],
                "maximum": table["maximum"],
            }
        )
        rows = last_of_each(rows, ("resource_id", "metric_id", "ts"))
        spans = _spans(rows)
        if backend(conn) == "postgresql":
            if _beyond_stored(conn, spans):
                # Every row is later than anything stored of its series: all new, no conflict.
                _copy_csv(conn, metric_samples.name, _SAMPLE_COLUMNS, rows)
                self._new += int(rows.num_rows)
            else:  # the upsert itself tells which rows are new
                self._new += _upsert_postgresql(conn, rows)
        else:
            before = _stored(conn, spans)
            _upsert(conn, rows)
            self._new += _stored(conn, spans) - before
        for key, low, high in spans:
            span = self._touched.setdefault(key, [low, high])
            span[0], span[1] = min(span[0], low), max(span[1], high)
        self.samples += int(rows.num_rows)
        return int(rows.num_rows)

    def flush(self, conn: Connection) -> int:
        """Rebuild the hours touched since the last flush; returns the new samples."""
        for (resource_id, metric_id), (low, high) in self._touched.items():
            rebuild_hours(conn, resource_id, metric_id, low, high)
        self._touched.clear()
        new, self._new = self._new, 0
        return new


#: ((resource id, metric id), first time, last time) of each series in a batch.
_Span = tuple[tuple[int, int], float, float]


def _spans(rows: pa.Table) -> list[_Span]:
    grouped = rows.group_by(["resource_id", "metric_id"]).aggregate([("ts", "min"), ("ts", "max")])
    columns = (grouped[c].to_pylist() for c in ("resource_id", "metric_id", "ts_min", "ts_max"))
    return [((r, m), low, high) for r, m, low, high in zip(*columns, strict=True)]


def _stored(conn: Connection, spans: list[_Span]) -> int:
    """Samples stored within the spans."""
    s = metric_samples.c
    total = 0
    for (resource_id, metric_id), low, high in spans:
        found = conn.execute(
            select(func.count()).where(
                s.resource_id == resource_id, s.metric_id == metric_id, s.ts >= low, s.ts <= high
            )
        ).scalar_one()
        total += int(found)
    return total


def _beyond_stored(conn: Connection, spans: list[_Span]) -> bool:
    """PostgreSQL: whether no series of ``spans`` has a sample stored at or after the span's
    first time (one query for the whole batch)."""
    values = ", ".join(f"({int(r)}, {int(m)}, {float(low)!r})" for (r, m), low, _ in spans)
    found = conn.exec_driver_sql(
        f"SELECT 1 FROM (VALUES {values}) AS v (r, m, low) WHERE EXISTS ("  # noqa: S608
        "SELECT 1 FROM metric_samples s WHERE s.resource_id = v.r AND s.metric_id = v.m "
        "AND s.ts >= v.low) LIMIT 1"
    ).first()
    return found is None


def _upsert_postgresql(conn: Connection, rows: pa.Table) -> int:
    """COPY into a staging table, then one upsert; returns how many rows were new (a row
    inserted, not updated, has ``xmax = 0``)."""
    columns = _q(conn, *_SAMPLE_COLUMNS)
    stage = _stage(conn, metric_samples)
    _copy_csv(conn, stage.name, _SAMPLE_COLUMNS, rows)
    change = ", ".join(f"{c} = excluded.{c}" for c in _VALUES)
    new = conn.exec_driver_sql(
        f"WITH up AS (INSERT INTO metric_samples ({columns}) SELECT {columns} "  # noqa: S608
        f"FROM {stage.name} "
        f"ON CONFLICT (resource_id, metric_id, ts) DO UPDATE SET {change} "
        "RETURNING (xmax = 0) AS fresh) SELECT COUNT(*) FILTER (WHERE fresh) FROM up"
    ).scalar_one()
    conn.exec_driver_sql(f"TRUNCATE {stage.name}")
    return int(new)


def _upsert(conn: Connection, rows: pa.Table) -> None:
    """SQLite and MariaDB/MySQL: INSERT, or replace the values of the row with the same key."""
    name = backend(conn)
    columns = _q(conn, *_SAMPLE_COLUMNS)
    if name == "mysql":
        change = ", ".join(f"{c} = VALUES({c})" for c in _VALUES)
        tail = f" ON DUPLICATE KEY UPDATE {change}"
    else:
        change = ", ".join(f"{c} = excluded.{c}" for c in _VALUES)
        tail = f" ON CONFLICT (resource_id, metric_id, ts) DO UPDATE SET {change}"
    marks = ", ".join([_mark(conn)] * len(_SAMPLE_COLUMNS))
    statement = f"INSERT INTO metric_samples ({columns}) VALUES ({marks}){tail}"  # noqa: S608
    data = rows_of(rows.select(list(_SAMPLE_COLUMNS)))
    if name == "sqlite":
        conn.connection.driver_connection.executemany(statement, data)  # type: ignore[union-attr]
    else:
        conn.exec_driver_sql(statement, list(data))


def _hour_expression(conn: Connection) -> str:
    name = backend(conn)
    if name == "postgresql":
        return "CAST(FLOOR(ts / 3600) * 3600 AS BIGINT)"
    if name == "mysql":
        return "CAST(FLOOR(ts / 3600) * 3600 AS SIGNED)"
    return "CAST(ts / 3600 AS INTEGER) * 3600"


def rebuild_hours(
    conn: Connection, resource_id: int, metric_id: int, low: float, high: float
) -> None:
    """Recompute the hourly rollup of one resource and metric over the hours of
    ``[low, high]`` from the stored samples."""
    first = int(low // 3600) * 3600
    last = int(high // 3600) * 3600
    mark = _mark(conn)
    conn.exec_driver_sql(
        "DELETE FROM metric_hourly WHERE resource_id = "  # noqa: S608
        f"{mark} AND metric_id = {mark} AND hour_ts >= {mark} AND hour_ts <= {mark}",
        (resource_id, metric_id, first, last),
    )
    hour = _hour_expression(conn)
    conn.exec_driver_sql(
        "INSERT INTO metric_hourly (resource_id, metric_id, hour_ts, samples, total, low, "  # noqa: S608
        f"high, minimum, maximum) SELECT resource_id, metric_id, {hour}, COUNT(average), "
        "COALESCE(SUM(average), 0), MIN(average), MAX(average), MIN(minimum), MAX(maximum) "
        f"FROM metric_samples WHERE resource_id = {mark} AND metric_id = {mark} "
        f"AND ts >= {mark} AND ts < {mark} GROUP BY resource_id, metric_id, {hour}",
        (resource_id, metric_id, float(first), float(last + 3600)),
    )


def watermark(conn: Connection, source_id: int, stream: str) -> float | None:
    """How far the last successful collection of ``stream`` reached (epoch seconds)."""
    c = collect_state.c
    found = conn.execute(
        select(c.watermark_ts).where(c.source_id == source_id, c.stream == stream)
    ).scalar()
    return None if found is None else float(found)


def set_watermark(
    conn: Connection, source_id: int, stream: str, ts: float, run_id: int | None
) -> None:
    """Move the watermark of ``stream`` forward to ``ts`` (never back)."""
    current = watermark(conn, source_id, stream)
    c = collect_state.c
    if current is None:
        conn.execute(
            collect_state.insert().values(
                source_id=source_id, stream=stream, watermark_ts=ts, updated_at=_now(),
                run_id=run_id,
            )
        )  # fmt: skip
    elif ts > current:
        conn.execute(
            update(collect_state)
            .where(c.source_id == source_id, c.stream == stream)
            .values(watermark_ts=ts, updated_at=_now(), run_id=run_id)
        )
