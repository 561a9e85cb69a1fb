"""Collecting from API sources into the ledger: ``meterbook collect SOURCE``.

A collection covers a time range: the one asked for (dates, a period, a sprint), else from the
source's watermark (how far its last successful collection reached) minus the source's overlap
for late data, up to now; a source never collected starts ``initial_days`` back. Natural keys
(the workload id; resource + metric + time) make a repeated range change nothing.

- CML: workloads created in the range become usage records through the ordinary import path
  (:func:`meterbook.importing.run_import`, its own import run, rejects kept); the time series
  become metric samples of the resource named like the source.
- Alibaba CloudMonitor: the inventory is written to the org model (environments, resources with
  group and display name), then every metric of every instance is fetched and stored. The
  samples, the hourly rollup and the watermark are one transaction: a failed collection
  (bad key, retries exhausted) leaves nothing of itself behind.

The watermark moves only when a collection succeeds, to the end of its range.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from meterbook.errors import ConfigError, MeterbookError
from meterbook.importing import ImportResult, run_import
from meterbook.periods import Period, SprintCalendar, day_start, resolve_period
from meterbook.settings import Settings
from meterbook.sources import (
    NAMESPACES,
    AlibabaSource,
    CmlSource,
    alibaba_key,
    cml_endpoint,
)
from meterbook.store.core import Store
from meterbook.store.metric_ingest import (
    MetricWriter,
    ResourceInfo,
    set_watermark,
    sync_resources,
    watermark,
)
from meterbook.store.runs import add_progress, finish_run, start_run

if TYPE_CHECKING:  # the clients import their HTTP stacks: only when a source is used
    from meterbook.connectors.alibaba.client import CmsClient
    from meterbook.connectors.cml.client import CmlClient

log = logging.getLogger(__name__)

#: Samples per progress report (and per progress update of the run).
PROGRESS_EVERY = 50_000
#: Resource kind of a CML workbench.
WORKBENCH = "workbench"


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC; ``label`` says where it came from."""

    start: datetime
    end: datetime
    label: str


@dataclass
class CollectResult:
    """What a collection did."""

    source: str
    kind: str
    window: Window
    usage: ImportResult | None = None
    samples: int = 0
    new_samples: int = 0
    #: (metric, instance) pairs that returned no data point.
    empty: list[tuple[str, str]] = field(default_factory=list)
    calls: int = 0
    retries: int = 0
    seconds: float = 0.0
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """What ``meterbook collect --json`` prints and the API answers."""
        data: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "from": self.window.start.isoformat(),
            "to": self.window.end.isoformat(),
            "samples": self.samples,
            "new_samples": self.new_samples,
            "without_data": [{"metric": m, "instance": i} for m, i in self.empty],
            "calls": self.calls,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
        }
        if self.usage is not None:
            u = self.usage
            data["workloads"] = {"run": u.run_id, "inserted": u.inserted, "updated": u.updated,
                                 "unchanged": u.unchanged, "rejected": u.rejected}  # fmt: skip
        return data

    def summary(self) -> str:
        parts = []
        if self.usage is not None:
            parts.append(f"workloads: {self.usage.summary()}")
        parts.append(f"samples: {self.samples:,} ({self.new_samples:,} new)")
        if self.empty:
            parts.append(f"{len(self.empty)} instance metric(s) without data")
        parts.append(f"{self.calls:,} API calls, {self.retries:,} retries")
        return "; ".join(parts)


def sprint_calendar(settings: Settings) -> SprintCalendar:
    return SprintCalendar(
        settings.sprint_anchor, settings.sprint_anchor_start, settings.sprint_days
    )


def requested_period(
    settings: Settings,
    *,
    period: str | None = None,
    start: str | None = None,
    end: str | None = None,
    sprint: str | None = None,
) -> Period | None:
    """The period of ``--period``, ``--from/--to`` or ``--sprint`` (None when none is given)."""
    if sprint is not None:
        if period or start or end:
            raise ConfigError("give either --sprint or --period/--from/--to, not several")
        return sprint_calendar(settings).parse(sprint)
    if period or start or end:
        return resolve_period(period, start, end)
    return None


def source_config(settings: Settings, name: str) -> CmlSource | AlibabaSource:
    found = settings.sources.get(name)
    if found is None:
        known = ", ".join(sorted(settings.sources)) or "none is configured"
        raise ConfigError(f"unknown source {name!r} ({known}); see `meterbook sources`")
    return found


def _window(
    conn: Connection,
    source_id: int,
    stream: str,
    config: CmlSource | AlibabaSource,
    period: Period | None,
    settings: Settings,
    now: datetime,
) -> Window:
    if period is not None:
        start = day_start(period.start, settings.zone)
        end = min(day_start(period.end, settings.zone), now)
        if end <= start:
            raise ConfigError(f"{period.label} has not started yet: nothing to collect")
        return Window(start, end, period.label)
    mark = watermark(conn, source_id, stream)
    if mark is None:
        return Window(now - timedelta(days=config.initial_days), now, "first collection")
    start = datetime.fromtimestamp(mark, UTC) - timedelta(minutes=config.overlap_minutes)
    return Window(min(start, now), now, "since the watermark")


def _base(settings: Settings) -> Path | None:
    return settings.config_file.parent if settings.config_file else None


def collect(
    store: Store,
    settings: Settings,
    name: str,
    *,
    period: Period | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> CollectResult:
    """Collect source ``name`` over ``period`` (default: from its watermark)."""
    config = source_config(settings, name)
    env = os.environ if env is None else env
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if isinstance(config, CmlSource):
        return _collect_cml(store, settings, config, period, env, now, progress)
    return _collect_alibaba(store, settings, config, period, env, now, progress)


def describe_source(config: CmlSource | AlibabaSource) -> tuple[str, str, str, str]:
    """(name, type, where it is, what it collects) of a configured source."""
    if isinstance(config, CmlSource):
        what = "workloads" + (
            f", series {', '.join(config.timeseries)}" if config.timeseries else ""
        )
        return config.name, config.type, config.url or "$CDSW_API_URL", what
    where = config.endpoint or f"metrics.{config.region}.aliyuncs.com"
    count = len(config.instances())
    return config.name, config.type, where, f"{count} instances every {config.period} s"


def check_source(
    config: CmlSource | AlibabaSource, settings: Settings, env: Mapping[str, str] | None = None
) -> str:
    """One small call to the source with its credentials; what it answered, or raises."""
    env = os.environ if env is None else env
    if isinstance(config, CmlSource):
        with cml_client(config, env) as client:
            return f"{client.check():,} workloads visible"
    base = settings.config_file.parent if settings.config_file else None
    instances = config.instances()
    if not instances:
        return "no instances in the inventory"
    _env, _group, first = instances[0]
    kind = first.instance_kind
    metric = config.metrics.get(kind, [""])[0]  # type: ignore[call-overload]
    cms_client(config, env, base).check(NAMESPACES[kind], metric, first.id)
    return f"{metric} of {first.label} answered"


def cml_client(config: CmlSource, env: Mapping[str, str]) -> CmlClient:
    from meterbook.connectors.cml.client import CmlClient

    url, key = cml_endpoint(config, env)
    return CmlClient(
        config.name,
        url,
        key,
        page_size=config.page_size,
        timeout_s=config.timeout_seconds,
        max_attempts=config.max_attempts,
        timeseries_path=config.timeseries_path,
        verify_tls=config.verify_tls,
    )


def cms_client(config: AlibabaSource, env: Mapping[str, str], base: Path | None) -> CmsClient:
    from meterbook.connectors.alibaba.client import CmsClient

    key = alibaba_key(config, env, base)
    return CmsClient(
        config.name,
        key.key_id,
        key.secret,
        config.region,
        endpoint=config.endpoint or None,
        protocol=config.protocol,
        timeout_s=config.timeout_seconds,
        max_attempts=config.max_attempts,
    )


def _collect_cml(
    store: Store,
    settings: Settings,
    config: CmlSource,
    period: Period | None,
    env: Mapping[str, str],
    now: datetime,
    progress: Callable[[int], None] | None,
) -> CollectResult:
    from meterbook.connectors.cml.connector import CmlUsageConnector

    started = time.perf_counter()
    client = cml_client(config, env)
    writer = MetricWriter("cml", config.name, default_kind=WORKBENCH)
    with store.engine.begin() as conn:
        source_id = writer.source_id(conn)
        sync_resources(conn, writer.dims, {config.name: ResourceInfo(WORKBENCH, config.name)})
        window = _window(conn, source_id, "usage", config, period, settings, now)
    result = CollectResult(config.name, "cml", window)
    with client:
        connector = CmlUsageConnector(client, config.name, window.start, window.end,
                                      config.memory_unit)  # fmt: skip
        result.usage = run_import(store, connector, batch_size=settings.batch_size, parallel=False)
        result.run_id = result.usage.run_id
        with store.engine.begin() as conn:
            for series in config.timeseries:
                batch = client.time_series(series, window.start, window.end)
                result.samples += writer.write(conn, batch.table)
            result.new_samples = writer.flush(conn)
            if period is None:
                set_watermark(conn, source_id, "usage", window.end.timestamp(), result.run_id)
        result.calls, result.retries = client.stats.calls, client.stats.retries
    if progress:
        progress(result.samples)
    result.seconds = time.perf_counter() - started
    return result


def _inventory(config: AlibabaSource) -> dict[str, ResourceInfo]:
    return {
        instance.id: ResourceInfo(instance.instance_kind, instance.label, group, env)
        for env, group, instance in config.instances()
    }


def _collect_alibaba(
    store: Store,
    settings: Settings,
    config: AlibabaSource,
    period: Period | None,
    env: Mapping[str, str],
    now: datetime,
    progress: Callable[[int], None] | None,
) -> CollectResult:
    started = time.perf_counter()
    inventory = _inventory(config)
    if not inventory:
        raise ConfigError(f"source {config.name}: the inventory lists no instance")
    client = cms_client(config, env, _base(settings))
    writer = MetricWriter("alibaba-cms", config.name)
    # Periods of the API: a window ends on the period grid, so a later collection finds whole
    # points.
    now = datetime.fromtimestamp(now.timestamp() // config.period * config.period, UTC)
    with store.engine.begin() as conn:
        source_id = writer.source_id(conn)
        window = _window(conn, source_id, "metrics", config, period, settings, now)
    inputs = [f"{config.name}:DescribeMetricList"]
    options: dict[str, Any] = {
        "source": config.name,
        "from": window.start.isoformat(),
        "to": window.end.isoformat(),
        "period": config.period,
    }
    run_id = start_run(store.engine, "alibaba-cms", inputs, options)
    result = CollectResult(config.name, "alibaba-cms", window, run_id=run_id)
    reported = 0
    try:
        with store.engine.begin() as conn:
            sync_resources(conn, writer.dims, inventory)
            for kind, namespace in NAMESPACES.items():
                ids = [i for i, info in inventory.items() if info.kind == kind]
                if not ids:
                    continue
                for metric in config.metrics.get(kind, []):  # type: ignore[call-overload]
                    seen: set[str] = set()
                    for batch in client.fetch(
                        namespace, metric, ids, window.start, window.end, config.period
                    ):
                        seen.update(batch.table["resource"].unique().to_pylist())
                        result.samples += writer.write(conn, batch.table)
                        if progress and result.samples - reported >= PROGRESS_EVERY:
                            progress(result.samples - reported)
                            reported = result.samples
                    result.empty.extend((metric, i) for i in ids if i not in seen)
            result.new_samples = writer.flush(conn)
            add_progress(
                conn,
                run_id,
                inserted=result.new_samples,
                updated=0,
                unchanged=result.samples - result.new_samples,
                skipped=0,
                lines_read=result.samples,
                batch_rejects=[],
            )
            if period is None:
                set_watermark(conn, source_id, "metrics", window.end.timestamp(), run_id)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        message = str(exc) if isinstance(exc, MeterbookError) else repr(exc)
        finish_run(store.engine, run_id, status, message.splitlines()[0] if message else None)
        raise
    finally:
        result.calls, result.retries = client.stats.calls, client.stats.retries
    if progress and result.samples > reported:
        progress(result.samples - reported)
    for metric, instance in result.empty:
        log.warning("source %s: no data points for %s of %s", config.name, metric, instance)
    result.seconds = time.perf_counter() - started
    finish_run(store.engine, run_id, "ok", result.summary())
    return result
