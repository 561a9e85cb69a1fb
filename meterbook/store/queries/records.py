"""Usage records for drill-down: the records behind a rollup figure, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from meterbook.periods import Period, day_start
from meterbook.store.queries.usage import UsageFilters
from meterbook.store.schema import projects, resources, sources, usage_records, users

r = usage_records.c
COLUMNS = (
    "id",
    "source",
    "key",
    "cluster",
    "user",
    "account",
    "partition",
    "qos",
    "workload",
    "state",
    "name",
    "submit",
    "start",
    "end",
    "cpus",
    "gpus",
    "nodes",
    "mem_gb",
    "cost",
    "currency",
)


@dataclass(frozen=True)
class RecordPage:
    total: int
    page: int
    page_size: int
    rows: list[tuple[Any, ...]]


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_records_page(
    conn: Connection,
    period: Period,
    zone: Any,
    filters: UsageFilters,
    *,
    page: int = 1,
    page_size: int = 50,
) -> RecordPage:
    """Records that overlap ``period`` (or, not started, were submitted in it), newest first."""
    first = day_start(period.start, zone).timestamp()
    stop = day_start(period.end, zone).timestamp()
    overlap = and_(
        func.coalesce(r.start_ts, r.submit_ts) < stop,
        func.coalesce(r.end_ts, r.start_ts, r.submit_ts) >= first,
    )
    base = (
        select(usage_records.c.id)
        .select_from(usage_records)
        .outerjoin(users, users.c.id == r.user_id)
        .outerjoin(projects, projects.c.id == r.project_id)
        .outerjoin(resources, resources.c.id == r.resource_id)
        .outerjoin(sources, sources.c.id == r.source_id)
        .where(overlap)
    )
    pairs: list[tuple[Any, tuple[str, ...]]] = [
        (resources.c.name, filters.clusters),
        (users.c.name, filters.users),
        (projects.c.name, filters.accounts),
        (r.partition, filters.partitions),
        (r.qos, filters.qos),
        (r.state, tuple(s.upper() for s in filters.states)),
        (sources.c.name, filters.sources),
    ]
    for column, values in pairs:
        if values:
            base = base.where(column.in_(values))
    total = int(conn.execute(select(func.count()).select_from(base.subquery())).scalar() or 0)
    query = (
        base.with_only_columns(
            r.id,
            sources.c.name.label("source"),
            r.record_key,
            resources.c.name.label("cluster"),
            users.c.name.label("user"),
            projects.c.name.label("account"),
            r.partition,
            r.qos,
            r.workload_type,
            r.state,
            r.name,
            r.submit_ts,
            r.start_ts,
            r.end_ts,
            r.cpus,
            r.gpus,
            r.nodes,
            r.mem_gb,
            r.cost,
            r.currency,
        )
        .order_by(func.coalesce(r.start_ts, r.submit_ts).desc(), r.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    rows = [
        (
            row.id,
            row.source,
            row.record_key,
            row.cluster,
            row.user,
            row.account,
            row.partition,
            row.qos,
            row.workload_type,
            row.state,
            row.name,
            _when(row.submit_ts),
            _when(row.start_ts),
            _when(row.end_ts),
            row.cpus,
            row.gpus,
            row.nodes,
            row.mem_gb,
            row.cost,
            row.currency,
        )
        for row in conn.execute(query)
    ]
    return RecordPage(total, page, page_size, rows)
