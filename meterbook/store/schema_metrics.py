"""Tables of metric samples (cloud and workbench utilisation) and of collector state.

A *metric* is one named measurement of one source (``CPUUtilization`` of an Alibaba account,
``cml_cpu`` of a workbench), a *sample* its value for one resource at one instant: the
average, minimum and maximum over the source's period (a source with one value fills the
average only). The natural key of a sample is (resource, metric, time), which is also the
primary key: collecting the same range twice rewrites the same rows. Times are Unix epoch
seconds, as the usage records' ``*_ts`` columns.

``metric_hourly`` is the hourly rollup (count, sum, minimum, maximum of the averages and the
extremes of the minimum and maximum columns); the collector rebuilds the hours it touched in
the same transaction as the samples, so utilisation series and summaries at hour grain or
coarser never read the raw samples.

``collect_state`` keeps, per source and stream (``usage``, ``metrics``...), how far the last
successful collection reached: the watermark the next collection starts from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from meterbook.store.schema import NAME, Ident, metadata

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, nullable=False),
    Column("name", Ident(NAME), nullable=False),
    Column("unit", String(20)),
    UniqueConstraint("source_id", "name", name="uq_metrics_source_name"),
)

metric_samples = Table(
    "metric_samples",
    metadata,
    Column("resource_id", Integer, nullable=False),
    Column("metric_id", Integer, nullable=False),
    Column("ts", Double, nullable=False),
    Column("average", Double),
    Column("minimum", Double),
    Column("maximum", Double),
    PrimaryKeyConstraint("resource_id", "metric_id", "ts", name="pk_metric_samples"),
    sqlite_with_rowid=False,
)

metric_hourly = Table(
    "metric_hourly",
    metadata,
    Column("resource_id", Integer, nullable=False),
    Column("metric_id", Integer, nullable=False),
    Column("hour_ts", BigInteger, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("total", Double, nullable=False),
    Column("low", Double),
    Column("high", Double),
    Column("minimum", Double),
    Column("maximum", Double),
    PrimaryKeyConstraint("resource_id", "metric_id", "hour_ts", name="pk_metric_hourly"),
    sqlite_with_rowid=False,
)

collect_state = Table(
    "collect_state",
    metadata,
    Column("source_id", Integer, nullable=False),
    Column("stream", String(60), nullable=False),
    Column("watermark_ts", Double, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("run_id", Integer),
    PrimaryKeyConstraint("source_id", "stream", name="pk_collect_state"),
)
