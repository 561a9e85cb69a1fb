"""``collect``: API sources into the ledger, through the local servers that speak their wire
protocols, on every database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from meterbook.collecting import collect, requested_period
from meterbook.errors import ConfigError, FatalSourceError, RetryableSourceError
from meterbook.samples.cml_server import CmlServer, sample_series, sample_workloads
from meterbook.samples.cms_server import CmsServer, instance_kinds, sample_inventory
from meterbook.settings import Settings
from meterbook.sources import AlibabaSource, CmlSource, Instance
from meterbook.store.core import Store
from meterbook.store.metric_ingest import MetricWriter
from meterbook.store.queries.metrics import MetricScope, metric_summary
from meterbook.store.queries.usage import UsageFilters, usage_summary
from meterbook.store.queries.workloads import workload_details, workload_summary
from meterbook.store.schema import import_runs, resources, usage_records
from meterbook.store.schema_metrics import collect_state, metric_samples

KEYS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "test-key-id",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "test-key-secret"}  # fmt: skip
SPRINT_15 = (datetime(2025, 2, 13, tzinfo=UTC), datetime(2025, 2, 27, tzinfo=UTC))
NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


def alibaba_source(endpoint: str, inventory: dict[str, dict[str, dict[str, str]]],
                   **extra: object) -> AlibabaSource:  # fmt: skip
    return AlibabaSource(
        name="ali-hk",
        type="alibaba-cms",
        region="cn-hongkong",
        endpoint=endpoint,
        protocol="http",
        period=3600,
        max_attempts=2,
        timeout_seconds=5,
        inventory={
            env: {
                group: [
                    Instance(id=i, name=n, kind="RDS" if group == "rds" else "ECS")
                    for i, n in members.items()
                ]
                for group, members in groups.items()
            }
            for env, groups in inventory.items()
        },
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def cms() -> Iterator[CmsServer]:
    inventory = sample_inventory()
    with CmsServer(instance_kinds(inventory), empty={_dev_db(inventory)}) as server:
        yield server


def _dev_db(inventory: dict[str, dict[str, dict[str, str]]]) -> str:
    return next(iter(inventory["DEV"]["rds"]))


def _with(settings: Settings, *configs: AlibabaSource | CmlSource) -> Settings:
    return settings.model_copy(update={"sources": {c.name: c for c in configs}})


def _count(store: Store, table: object, *where: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def test_alibaba_sprint_collected_once_and_summarised(
    store: Store, settings: Settings, cms: CmsServer
) -> None:
    inventory = sample_inventory()
    settings = _with(settings, alibaba_source(cms.endpoint, inventory))
    sprint = requested_period(settings, sprint="15")
    first = collect(store, settings, "ali-hk", period=sprint, env=KEYS, now=NOW)
    hours = 14 * 24
    # 15 instances x 2 metrics each, but the DEV database has no data points.
    assert first.samples == 28 * hours
    assert first.new_samples == first.samples
    assert sorted(first.empty) == sorted([("CpuUsage", _dev_db(inventory)),
                                          ("MemoryUsage", _dev_db(inventory))])  # fmt: skip
    again = collect(store, settings, "ali-hk", period=sprint, env=KEYS, now=NOW)
    assert (again.samples, again.new_samples) == (first.samples, 0)
    assert _count(store, metric_samples) == first.samples
    # An explicit range never moves the watermark.
    assert _count(store, collect_state) == 0
    start, end = (t.timestamp() for t in SPRINT_15)
    with store.engine.connect() as conn:
        rows = metric_summary(conn, start, end, MetricScope(environments=("PROD",)),
                              level="group")  # fmt: skip
        names = dict(conn.execute(select(resources.c.name, resources.c.display_name)).all())
    assert {(r.group, r.metric) for r in rows} == {
        ("web", "CPUUtilization"), ("web", "memory_usedutilization"),
        ("app", "CPUUtilization"), ("app", "memory_usedutilization"),
        ("rds", "CpuUsage"), ("rds", "MemoryUsage"),
    }  # fmt: skip
    assert all(r.samples == (hours if r.group == "rds" else 2 * hours) for r in rows)
    assert all(0 <= r.minimum <= r.average <= r.maximum <= 100 for r in rows)  # type: ignore[operator]
    assert names[next(iter(inventory["PROD"]["web"]))] == "prod-web-01"
    # Every request stayed within the API's limits.
    assert all(int(r["Period"]) == 3600 for r in cms.requests)


def test_alibaba_watermark_and_overlap(store: Store, settings: Settings, cms: CmsServer) -> None:
    inventory = {"PROD": {"web": dict(list(sample_inventory()["PROD"]["web"].items())[:1])}}
    settings = _with(settings, alibaba_source(cms.endpoint, inventory, initial_days=2,
                                              overlap_minutes=120))  # fmt: skip
    first = collect(store, settings, "ali-hk", env=KEYS, now=NOW)
    assert first.window.start == NOW - timedelta(days=2)
    assert first.samples == 2 * 48
    later = NOW + timedelta(hours=5)
    second = collect(store, settings, "ali-hk", env=KEYS, now=later)
    assert second.window.start == NOW - timedelta(hours=2)
    assert (second.samples, second.new_samples) == (2 * 7, 2 * 5)
    with store.engine.connect() as conn:
        mark = conn.execute(select(collect_state.c.watermark_ts)).scalar_one()
    assert mark == later.timestamp()


def test_alibaba_wrong_key_stops_with_nothing_written(
    store: Store, settings: Settings, cms: CmsServer
) -> None:
    settings = _with(settings, alibaba_source(cms.endpoint, sample_inventory()))
    wrong = {**KEYS, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "not-the-secret"}
    with pytest.raises(FatalSourceError, match=r"source ali-hk: .*SignatureDoesNotMatch"):
        collect(store, settings, "ali-hk", env=wrong, now=NOW)
    assert len(cms.requests) == 1  # no retry
    assert _count(store, metric_samples) == 0
    assert _count(store, collect_state) == 0
    assert _count(store, import_runs, import_runs.c.status == "failed") == 1


def test_alibaba_failure_midway_rolls_the_whole_collection_back(
    store: Store, settings: Settings, cms: CmsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _with(settings, alibaba_source(cms.endpoint, sample_inventory()))
    write = MetricWriter.write

    def write_then_break_the_server(self: MetricWriter, conn: object, table: object) -> int:
        cms.faults.server_error = 100  # every later call fails, beyond the retries
        return write(self, conn, table)  # type: ignore[arg-type]

    monkeypatch.setattr(MetricWriter, "write", write_then_break_the_server)
    with pytest.raises(RetryableSourceError, match=r"source ali-hk: .*after 2 attempts"):
        collect(store, settings, "ali-hk", env=KEYS, now=NOW)
    assert _count(store, metric_samples) == 0
    assert _count(store, collect_state) == 0
    with store.engine.connect() as conn:
        run = conn.execute(select(import_runs.c.status, import_runs.c.message)).one()
    assert run.status == "failed" and "source ali-hk" in run.message


def test_cml_month_collected_into_usage_and_workloads(store: Store, settings: Settings) -> None:
    start, end = datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 8, 1, tzinfo=UTC)
    records = sample_workloads(300, start - timedelta(days=5), end + timedelta(days=5), seed=3)
    inside = [r for r in records if start.isoformat() <= r["created_at"] < end.isoformat()]
    with CmlServer(
        records, series=sample_series(start, end, step_s=3600), honour_time_filter=False
    ) as server:
        config = CmlSource(name="ml-prod", type="cml", url=server.url, api_key_env="K",
                           page_size=50, max_attempts=2)  # fmt: skip
        settings = _with(settings, config)
        period = requested_period(settings, period="2024-07")
        result = collect(store, settings, "ml-prod", period=period, env={"K": "test-api-key"},
                         now=NOW)  # fmt: skip
        again = collect(store, settings, "ml-prod", period=period, env={"K": "test-api-key"},
                        now=NOW)  # fmt: skip
    assert result.usage is not None and again.usage is not None
    assert result.usage.inserted == len(inside) and result.usage.rejected == 0
    assert (again.usage.inserted, again.usage.unchanged) == (0, len(inside))
    assert result.samples == 3 * 31 * 24 and again.new_samples == 0
    lo, hi = start.timestamp(), end.timestamp()
    hours = sum(float(r["duration"]) / 3600 for r in inside)
    cpu = sum(float(r["cpu"]) * float(r["duration"]) / 3600 for r in inside)
    gpu_jobs = sum(1 for r in inside if float(r["nvidia_gpu"]) > 0)
    with store.engine.connect() as conn:
        by_type = workload_summary(conn, lo, hi, "workload_type", ("ml-prod",))
        by_project = workload_summary(conn, lo, hi, "project", ("ml-prod",))
        details = workload_details(conn, lo, hi, ("ml-prod",))
        usage = usage_summary(conn, period, ("source",), UsageFilters(sources=("ml-prod",)))  # type: ignore[arg-type]
    assert sum(r.workloads for r in by_type) == len(inside) == len(details)
    assert sum(r.hours for r in by_type) == pytest.approx(hours)
    assert sum(r.cpu_hours for r in by_project) == pytest.approx(cpu)
    assert sum(r.gpu_workloads for r in by_type) == gpu_jobs
    project_users = {p: len({r["creator"] for r in inside if r["project_name"] == p})
                     for p in {r["project_name"] for r in inside}}  # fmt: skip
    assert {r.group: r.users for r in by_project} == project_users
    # The day rollups count the hours that fall inside July, wherever the workload started.
    assert usage.total.cpu_hours > 0
    assert _count(store, usage_records) == len(inside)


def test_cml_bad_key_is_fatal(store: Store, settings: Settings) -> None:
    with CmlServer([]) as server:
        settings = _with(settings, CmlSource(name="ml-prod", type="cml", url=server.url))
        with pytest.raises(FatalSourceError, match="source ml-prod: authentication failed"):
            collect(store, settings, "ml-prod", env={"CML_API_KEY": "wrong"}, now=NOW)
    assert _count(store, usage_records) == 0


def test_unknown_source_and_missing_credentials(settings: Settings, store: Store) -> None:
    with pytest.raises(ConfigError, match="unknown source 'nope'"):
        collect(store, settings, "nope", env={})
    settings = _with(settings, alibaba_source("127.0.0.1:1", sample_inventory()))
    with pytest.raises(ConfigError, match="source ali-hk: no credentials"):
        collect(store, settings, "ali-hk", env={})


def test_sprint_periods() -> None:
    settings = Settings()
    sprint = requested_period(settings, sprint="16")
    assert sprint is not None and (sprint.start, sprint.end) == (
        date(2025, 2, 27),
        date(2025, 3, 13),
    )
    with pytest.raises(ConfigError, match="either --sprint or"):
        requested_period(settings, sprint="16", period="2025-02")
    with pytest.raises(ConfigError, match="is not a sprint"):
        requested_period(settings, sprint="soon")
