"""Metric samples: upserts on the natural key, the hourly rollup, utilisation queries."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import func, select

from meterbook.connectors.base import METRIC_SCHEMA
from meterbook.store.core import Store
from meterbook.store.metric_ingest import (
    MetricWriter,
    ResourceInfo,
    set_watermark,
    sync_resources,
    watermark,
)
from meterbook.store.queries.metrics import MetricScope, metric_series, metric_summary
from meterbook.store.schema import resources
from meterbook.store.schema_metrics import metric_hourly, metric_samples

T0 = datetime(2025, 2, 13, tzinfo=UTC).timestamp()


def batch(resource: str, metric: str, values: list[float], start: float = T0, step: int = 300,
          spread: float = 1.0) -> pa.Table:  # fmt: skip
    n = len(values)
    return pa.table(
        {
            "resource": [resource] * n,
            "metric": [metric] * n,
            "ts": [start + i * step for i in range(n)],
            "average": values,
            "minimum": [v - spread for v in values],
            "maximum": [v + spread for v in values],
        },
        schema=METRIC_SCHEMA,
    )


INVENTORY = {
    "i-web1": ResourceInfo("ECS", "prod-web-01", "web", "PROD"),
    "i-web2": ResourceInfo("ECS", "prod-web-02", "web", "PROD"),
    "rm-db1": ResourceInfo("RDS", "prod-db", "rds", "PROD"),
    "i-dev1": ResourceInfo("ECS", "dev-web-01", "web", "DEV"),
}


def load(store: Store, tables: list[pa.Table]) -> MetricWriter:
    writer = MetricWriter("alibaba-cms", "ali-test")
    with store.engine.begin() as conn:
        sync_resources(conn, writer.dims, INVENTORY)
        for table in tables:
            writer.write(conn, table)
        writer.new_last = writer.flush(conn)  # type: ignore[attr-defined]
    return writer


def test_new_counts_whether_a_batch_is_beyond_what_is_stored_or_overlaps(store: Store) -> None:
    """Later samples of a series go in directly (PostgreSQL: COPY); a batch reaching back into
    stored samples, or repeating a key, is upserted. Either way the new ones are counted."""
    first = load(store, [batch("i-web1", "CPUUtilization", [1.0] * 10)])
    assert first.new_last == 10  # type: ignore[attr-defined]
    later = batch("i-web1", "CPUUtilization", [2.0] * 5, start=T0 + 3000)  # ts 10..14: beyond
    overlap = batch("i-web1", "CPUUtilization", [3.0] * 10, start=T0 + 3000 + 1500)  # 15..24
    back = batch("i-web1", "CPUUtilization", [4.0] * 10, start=T0 + 1500)  # 5..14: 0 new
    other = batch("i-web2", "CPUUtilization", [5.0] * 3)  # another series: beyond (nothing)
    repeated = pa.concat_tables([batch("rm-db1", "CpuUsage", [6.0] * 4)] * 2)  # keys twice
    writer = load(store, [later, overlap, back, other, repeated])
    assert writer.new_last == 5 + 10 + 0 + 3 + 4  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        web1 = select(resources.c.id).where(resources.c.name == "i-web1").scalar_subquery()
        values = dict(
            conn.execute(
                select(metric_samples.c.ts, metric_samples.c.average).where(
                    metric_samples.c.resource_id == web1
                )
            ).all()
        )
        total = conn.execute(select(func.count()).select_from(metric_samples)).scalar_one()
    assert total == 25 + 3 + 4
    assert len(values) == 25
    assert (values[T0], values[T0 + 5 * 300], values[T0 + 20 * 300]) == (1.0, 4.0, 3.0)


def test_collecting_twice_changes_nothing_and_revisions_replace(store: Store) -> None:
    cpu = [float(v % 100) for v in range(0, 288 * 7, 7)]  # one day at 300 s
    first = load(store, [batch("i-web1", "CPUUtilization", cpu)])
    assert first.samples == 288 and first.new_last == 288  # type: ignore[attr-defined]
    again = load(store, [batch("i-web1", "CPUUtilization", cpu)])
    assert again.new_last == 0  # type: ignore[attr-defined]
    revised = cpu[:]
    revised[5] = 99.5
    load(store, [batch("i-web1", "CPUUtilization", revised)])
    with store.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(metric_samples)).scalar_one()
        hours = conn.execute(
            select(metric_hourly.c.samples, metric_hourly.c.total, metric_hourly.c.high)
            .order_by(metric_hourly.c.hour_ts)
        ).all()  # fmt: skip
    assert rows == 288
    assert len(hours) == 24 and all(h.samples == 12 for h in hours)
    assert hours[0].total == pytest.approx(sum(revised[:12]))
    assert hours[0].high == 99.5
    assert sum(h.total for h in hours) == pytest.approx(sum(revised))


def test_pages_splitting_an_hour_roll_up_whole(store: Store) -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]  # 60 s apart: one hour, three pages
    load(store, [batch("i-web1", "CPUUtilization", values[i : i + 2], T0 + i * 60, 60)
                 for i in range(0, 6, 2)])  # fmt: skip
    with store.engine.connect() as conn:
        hour = conn.execute(select(metric_hourly)).one()
    assert (hour.samples, hour.total, hour.low, hour.high) == (6, 210.0, 10.0, 60.0)
    assert (hour.minimum, hour.maximum) == (9.0, 61.0)


def test_summary_per_instance_group_and_environment(store: Store) -> None:
    web1 = [50.0] * 10 + [90.0] * 2  # 12 samples, 2 above 80
    web2 = [20.0] * 12
    db = [85.0] * 6 + [70.0] * 6
    dev = [5.0] * 12
    tables = [
        batch("i-web1", "CPUUtilization", web1),
        batch("i-web2", "CPUUtilization", web2),
        batch("rm-db1", "CpuUsage", db),
        batch("i-dev1", "CPUUtilization", dev),
    ]
    load(store, tables)
    end = T0 + 86400
    with store.engine.connect() as conn:
        per = {(r.instance, r.metric): r for r in metric_summary(conn, T0, end)}
        groups = {(r.environment, r.group, r.metric): r
                  for r in metric_summary(conn, T0, end, level="group")}  # fmt: skip
        envs = metric_summary(conn, T0, end, MetricScope(environments=("PROD",)),
                              level="environment")  # fmt: skip
        only = metric_summary(conn, T0, end, MetricScope(instances=("prod-db",)))
    w = per[("prod-web-01", "CPUUtilization")]
    assert (w.samples, w.above, w.minimum, w.maximum) == (12, 2, 49.0, 91.0)
    assert w.average == pytest.approx(sum(web1) / 12)
    assert w.p95 == pytest.approx(float(np.percentile(web1, 95)))
    assert w.above_share == pytest.approx(2 / 12)
    assert (w.environment, w.group, w.kind) == ("PROD", "web", "ECS")
    g = groups[("PROD", "web", "CPUUtilization")]
    assert g.samples == 24 and g.above == 2
    assert g.average == pytest.approx((sum(web1) + sum(web2)) / 24)
    assert (g.minimum, g.maximum) == (19.0, 91.0)
    assert {(r.environment, r.metric, r.samples) for r in envs} == {
        ("PROD", "CPUUtilization", 24), ("PROD", "CpuUsage", 12),
    }  # fmt: skip
    assert [(r.instance, r.above) for r in only] == [("prod-db", 6)]
    with store.engine.connect() as conn:
        high = metric_summary(conn, T0, end, MetricScope(metrics=("CpuUsage",)), threshold=90)
    assert high[0].above == 0


def test_series_by_hour_day_and_sample(store: Store) -> None:
    values = [float(i) for i in range(48)]  # 4 hours at 300 s
    load(store, [batch("i-web1", "CPUUtilization", values), batch("i-web2", "CPUUtilization",
                 [100.0] * 48)])  # fmt: skip
    end = T0 + 86400
    with store.engine.connect() as conn:
        hourly = metric_series(conn, T0, end, MetricScope(instances=("i-web1",)), grain="hour")
        daily = metric_series(conn, T0, end, grain="day", level="group")
        samples = metric_series(conn, T0, end, MetricScope(instances=("i-web1",)), grain="sample")
    assert [p.average for p in hourly] == [5.5, 17.5, 29.5, 41.5]
    assert hourly[1].time == datetime(2025, 2, 13, 1, tzinfo=UTC)
    assert (hourly[1].minimum, hourly[1].maximum) == (11.0, 24.0)
    assert len(daily) == 1 and daily[0].samples == 96
    assert daily[0].average == pytest.approx((sum(values) + 4800) / 96)
    assert len(samples) == 48 and samples[-1].average == 47.0


def test_inventory_updates_and_watermark_moves_forward_only(store: Store) -> None:
    writer = MetricWriter("alibaba-cms", "ali-test")
    with store.engine.begin() as conn:
        ids = sync_resources(conn, writer.dims, INVENTORY)
        moved = {"i-web1": ResourceInfo("ECS", "uat-web-01", "web", "UAT")}
        assert sync_resources(conn, writer.dims, moved)["i-web1"] == ids["i-web1"]
        source = writer.source_id(conn)
        assert watermark(conn, source, "metrics") is None
        set_watermark(conn, source, "metrics", T0, None)
        set_watermark(conn, source, "metrics", T0 - 60, None)
        assert watermark(conn, source, "metrics") == T0
        set_watermark(conn, source, "metrics", T0 + 60, None)
        assert watermark(conn, source, "metrics") == T0 + 60
    load(store, [batch("i-web1", "CPUUtilization", [1.0])])
    with store.engine.connect() as conn:
        (row,) = metric_summary(conn, T0, T0 + 3600)
    assert (row.environment, row.instance) == ("PROD", "prod-web-01")  # load() re-synced
