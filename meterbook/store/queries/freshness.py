"""Data freshness: the last day with data of each source, as reports state "complete through".

Cluster and workbench sources report the last day of their usage rollup, IO logs the day of
their last hour block, metric sources the day of their last hourly rollup, billing the last day
of each provider's spend rollup. Days are those of ``zone`` (rollup days already are).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy import Connection, func, select

from meterbook.store.schema import providers, sources, usage_daily
from meterbook.store.schema_billing import cost_daily
from meterbook.store.schema_io import io_blocks
from meterbook.store.schema_metrics import metric_hourly, metrics


@dataclass(frozen=True)
class SourceFreshness:
    kind: str
    name: str
    #: What the day is of: ``usage``, ``io``, ``metrics`` or ``billing``.
    data: str
    last_day: date | None


def _day(value: object, zone: tzinfo) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromtimestamp(float(value), zone).date()  # type: ignore[arg-type]


def freshness(conn: Connection, zone: tzinfo) -> list[SourceFreshness]:
    """Every source with data and its last day, by kind and name."""
    s = sources.c
    found: list[SourceFreshness] = []
    usage = (
        select(s.kind, s.name, func.max(usage_daily.c.day))
        .join(usage_daily, usage_daily.c.source_id == s.id)
        .group_by(s.kind, s.name)
    )
    io = (
        select(s.kind, s.name, func.max(io_blocks.c.block_ts))
        .join(io_blocks, io_blocks.c.source_id == s.id)
        .group_by(s.kind, s.name)
    )
    metric = (
        select(s.kind, s.name, func.max(metric_hourly.c.hour_ts))
        .select_from(metric_hourly)
        .join(metrics, metrics.c.id == metric_hourly.c.metric_id)
        .join(sources, s.id == metrics.c.source_id)
        .group_by(s.kind, s.name)
    )
    for data, stmt in (("usage", usage), ("io", io), ("metrics", metric)):
        found += [SourceFreshness(k, n, data, _day(v, zone)) for k, n, v in conn.execute(stmt)]
    billing = (
        select(providers.c.name, func.max(cost_daily.c.day))
        .join(cost_daily, cost_daily.c.provider_id == providers.c.id)
        .group_by(providers.c.name)
    )
    found += [
        SourceFreshness("billing", n, "billing", _day(v, zone)) for n, v in conn.execute(billing)
    ]
    return sorted(found, key=lambda f: (f.data, f.kind, f.name))
