"""The CML connector: the client against the local workbench server, and record conversion."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from meterbook.connectors.base import Reject, UsageRecord
from meterbook.connectors.cml import (
    MEMORY_UNITS,
    CmlClient,
    map_state,
    record_key,
    to_record,
    workbench_from_env,
)
from meterbook.errors import ConfigError, FatalSourceError, RetryableSourceError
from meterbook.samples.cml_server import CmlFaults, CmlServer, sample_series, sample_workloads

KEY = "test-api-key"
START = datetime(2024, 7, 1, tzinfo=UTC)
END = datetime(2024, 8, 1, tzinfo=UTC)
# Workloads from before to after July, so that a range filter has something to drop.
RECORDS = sample_workloads(150, datetime(2024, 6, 20, tzinfo=UTC), END + timedelta(days=9), seed=3)


def created(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["created_at"])


IN_JULY = [r["id"] for r in RECORDS if START <= created(r) < END]


class Sleeps(list[float]):
    """A ``sleep`` that records its argument instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def server() -> Iterator[CmlServer]:
    with CmlServer(RECORDS, api_key=KEY) as srv:
        yield srv


def client(url: str, sleeps: Sleeps, key: str = KEY, **options: Any) -> CmlClient:
    options.setdefault("page_size", 7)
    return CmlClient("wb", url, key, sleep=sleeps, **options)


def ids(entries: Iterator[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries]


def statuses(srv: CmlServer) -> list[str]:
    return [r["status"] for r in srv.requests]


# -- paging and the time filter ------------------------------------------------------------------


def test_sample_covers_more_than_the_range() -> None:
    assert 60 < len(IN_JULY) < len(RECORDS)
    assert len(set(IN_JULY)) == len(IN_JULY)


def test_paging_exact(server: CmlServer, sleeps: Sleeps) -> None:
    with client(server.url, sleeps) as c:
        got = ids(c.usage(START, END))
    assert got == IN_JULY  # ascending created_at, each once
    pages = math.ceil(len(IN_JULY) / 7)
    assert (c.stats.pages, c.stats.records, c.stats.calls) == (pages, len(IN_JULY), pages)
    assert (c.stats.retries, c.stats.filtered_out, c.stats.duplicates) == (0, 0, 0)
    assert not c.stats.filter_ignored
    assert not c.stats.stopped_early
    assert sleeps == []
    first, second = server.requests[0], server.requests[1]
    assert first == {
        "path": "/api/v2/usage",
        "page_size": "7",
        "sort": "created_at",
        "time_range_search_filter": (
            '{"created_time":{"min":"2024-07-01 00:00:00","max":"2024-07-31 23:59:59"}}'
        ),
        "status": "200",
    }
    assert second["page_token"] != ""
    assert len({r.get("page_token") for r in server.requests}) == pages


def test_filter_ignored_gives_the_same_records(sleeps: Sleeps) -> None:
    with CmlServer(RECORDS, honour_time_filter=False) as srv, client(srv.url, sleeps) as c:
        got = ids(c.usage(START, END))
    assert got == IN_JULY
    assert c.stats.filter_ignored
    assert c.stats.records == len(IN_JULY)
    # The server sorts, so paging stopped after the first page past the end of July, once a
    # probe in each direction showed it.
    assert c.stats.stopped_early
    before = sum(1 for r in RECORDS if created(r) < START)
    read = c.stats.pages * 7
    assert c.stats.filtered_out == min(read, len(RECORDS)) - len(IN_JULY)
    assert before + len(IN_JULY) <= read < before + len(IN_JULY) + 7 + 7
    probes = [r for r in srv.requests if r["page_size"] == "1"]
    assert [p["sort"] for p in probes] == ["created_at", "-created_at"]


def test_filter_and_sort_ignored_reads_every_page(sleeps: Sleeps) -> None:
    shuffled = RECORDS[1::2] + RECORDS[::2]  # not in created_at order
    with (
        CmlServer(shuffled, honour_time_filter=False, honour_sort=False) as srv,
        client(srv.url, sleeps) as c,
    ):
        got = ids(c.usage(START, END))
    assert sorted(got) == sorted(IN_JULY)
    assert len(got) == len(set(got))
    assert c.stats.filter_ignored
    assert not c.stats.stopped_early
    assert c.stats.pages == math.ceil(len(RECORDS) / 7)
    assert c.stats.filtered_out == len(RECORDS) - len(IN_JULY)


def test_range_bounds_are_half_open(sleeps: Sleeps) -> None:
    base = RECORDS[0]
    edge = [
        dict(base, id="at-start", created_at="2024-07-01T00:00:00Z"),
        dict(base, id="last-moment", created_at="2024-07-31T23:59:59.999999Z"),
        dict(base, id="at-end", created_at="2024-08-01T00:00:00.000000Z"),
        dict(base, id="just-before", created_at="2024-06-30T23:59:59.999Z"),
    ]
    for honour in (True, False):
        with CmlServer(edge, honour_time_filter=honour) as srv, client(srv.url, sleeps) as c:
            assert ids(c.usage(START, END)) == ["at-start", "last-moment"]
            assert c.stats.filter_ignored is (not honour)


def test_a_record_moving_between_pages_is_yielded_once(server: CmlServer, sleeps: Sleeps) -> None:
    early = created(next(r for r in RECORDS if r["id"] == IN_JULY[0]))
    assert early > START + timedelta(seconds=1)
    with client(server.url, sleeps, page_size=5) as c:
        stream = c.usage(START, END)
        first = [next(stream)["id"] for _ in range(5)]
        # A new entry sorting before every other one shifts the rest by one place: the last
        # entry of the first page comes again at the top of the second.
        server.add(dict(RECORDS[0], id="late-arrival", created_at="2024-07-01T00:00:01Z"))
        rest = ids(stream)
    got = first + rest
    assert got == IN_JULY
    assert c.stats.duplicates == 1
    assert c.stats.records == len(IN_JULY)


def test_base_url_suffix_and_check(server: CmlServer, sleeps: Sleeps) -> None:
    with client(server.url + "/api/v2/", sleeps) as c:
        assert c.base_url == server.url
        assert c.check() == len(RECORDS)
    assert server.requests == [{"path": "/api/v2/usage", "page_size": "1", "status": "200"}]


# -- errors ------------------------------------------------------------------------------------


def test_bad_key_is_fatal_at_once(server: CmlServer, sleeps: Sleeps) -> None:
    secret = "wrong-key-0123456789"
    with client(server.url, sleeps, key=secret) as c, pytest.raises(FatalSourceError) as info:
        list(c.usage(START, END))
    assert str(info.value) == "source wb: authentication failed (HTTP 401): check the API key"
    assert secret not in str(info.value)
    assert statuses(server) == ["401"]
    assert sleeps == []
    assert c.stats.retries == 0


def test_check_with_a_bad_key_is_fatal(server: CmlServer, sleeps: Sleeps) -> None:
    with client(server.url, sleeps, key="nope") as c, pytest.raises(FatalSourceError, match="401"):
        c.check()
    assert statuses(server) == ["401"]


def test_throttled_then_success(sleeps: Sleeps) -> None:
    faults = CmlFaults(throttle=2)
    with CmlServer(RECORDS, faults=faults) as srv, client(srv.url, sleeps) as c:
        got = ids(c.usage(START, END))
    assert got == IN_JULY
    assert sleeps == [0.0, 0.0]  # Retry-After: 0
    assert c.stats.retries == 2
    assert statuses(srv)[:3] == ["429", "429", "200"]
    assert faults.throttle == 0


def test_retry_after_is_capped(sleeps: Sleeps) -> None:
    class LongWait(CmlServer):
        def answer(self, target: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
            if len(self.requests) == 0:
                self.requests.append({"status": "429"})
                return 429, {"Retry-After": "3600"}, b'{"message": "slow down"}'
            return super().answer(target, authorization)

    with LongWait(RECORDS) as srv, client(srv.url, sleeps, backoff_max_s=2.5) as c:
        assert c.check() == len(RECORDS)
    assert sleeps == [2.5]


def test_server_error_then_success(sleeps: Sleeps) -> None:
    with CmlServer(RECORDS, faults=CmlFaults(server_error=1)) as srv, client(srv.url, sleeps) as c:
        got = ids(c.usage(START, END))
    assert got == IN_JULY
    assert len(sleeps) == 1
    assert 0.0 <= sleeps[0] <= 0.5  # full jitter under backoff_s for the first retry
    assert statuses(srv)[:2] == ["500", "200"]


def test_malformed_then_success(sleeps: Sleeps) -> None:
    with CmlServer(RECORDS, faults=CmlFaults(malformed=1)) as srv, client(srv.url, sleeps) as c:
        got = ids(c.usage(START, END))
    assert got == IN_JULY
    assert c.stats.retries == 1
    assert statuses(srv)[0] == "200"
    assert len(sleeps) == 1


def test_timeout_then_success(sleeps: Sleeps) -> None:
    faults = CmlFaults(slow=1, slow_seconds=1.0)
    with CmlServer(RECORDS, faults=faults) as srv, client(srv.url, sleeps, timeout_s=0.2) as c:
        assert c.check() == len(RECORDS)
    assert c.stats.retries == 1
    assert c.stats.calls == 2
    assert len(sleeps) == 1


def test_retries_exhausted(sleeps: Sleeps) -> None:
    faults = CmlFaults(server_error=10)
    with (
        CmlServer(RECORDS, faults=faults) as srv,
        client(srv.url, sleeps, max_attempts=4, backoff_s=1.0, backoff_max_s=1.5) as c,
        pytest.raises(RetryableSourceError) as info,
    ):
        list(c.usage(START, END))
    assert str(info.value) == (
        "source wb: GET /api/v2/usage failed after 4 attempts: HTTP 500: internal server error"
    )
    assert statuses(srv) == ["500"] * 4
    assert len(sleeps) == 3
    assert all(0.0 <= s <= cap for s, cap in zip(sleeps, (1.0, 1.5, 1.5), strict=True))
    assert faults.server_error == 6


def test_connection_refused_is_retryable(sleeps: Sleeps) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        client(f"http://127.0.0.1:{port}", sleeps, max_attempts=2) as c,
        pytest.raises(RetryableSourceError, match=r"^source wb: GET /api/v2/usage failed after 2"),
    ):
        c.check()
    assert len(sleeps) == 1
    assert c.stats.calls == 2


def test_endless_paging_is_bounded(sleeps: Sleeps) -> None:
    with (
        CmlServer(RECORDS, faults=CmlFaults(endless=True)) as srv,
        client(srv.url, sleeps, max_pages=30) as c,
        pytest.raises(FatalSourceError, match=r"^source wb: more than 30 pages"),
    ):
        list(c.usage(START, END))
    assert len(srv.requests) == 30
    assert c.stats.records == len(IN_JULY)


def test_repeated_page_token_is_fatal(sleeps: Sleeps) -> None:
    with (
        CmlServer(RECORDS, faults=CmlFaults(repeat_token=True)) as srv,
        client(srv.url, sleeps) as c,
        pytest.raises(FatalSourceError, match=r"^source wb: .* a second time"),
    ):
        list(c.usage(START, END))
    assert len(srv.requests) == 2


def test_other_client_errors_are_fatal_with_the_message(server: CmlServer, sleeps: Sleeps) -> None:
    with client(server.url, sleeps) as c, pytest.raises(FatalSourceError) as info:
        c.time_series("disk", START, END)
    assert str(info.value) == (
        "source wb: GET /api/v2/timeseries failed (HTTP 400): "
        "invalid series_type 'disk': expected one of cpu, gpu, memory"
    )
    assert sleeps == []


def test_url_without_scheme_is_a_config_error(sleeps: Sleeps) -> None:
    with pytest.raises(ConfigError, match="must start with https://"):
        CmlClient("wb", "ml.example.com", KEY, sleep=sleeps)


# -- time series -------------------------------------------------------------------------------


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


SERIES = {
    "cpu": [
        (ms(START) - 300_000, 99),
        (ms(START), 34),
        (ms(START) + 60_500, 36),
        (ms(END) - 1, 12),
        (ms(END), 99),
    ],
    "memory": [(ms(START) + 5_000, 128)],
    "gpu": [],
}


@pytest.mark.parametrize("honour", [True, False])
def test_time_series(honour: bool, sleeps: Sleeps) -> None:
    path = "/api/v2/metrics/series"
    with (
        CmlServer(RECORDS, series=SERIES, timeseries_path=path, honour_time_filter=honour) as srv,
        client(srv.url, sleeps, timeseries_path=path) as c,
    ):
        cpu = c.time_series("cpu", START, END).table.to_pylist()
        memory = c.time_series("memory", START, END).table.to_pylist()
        gpu = c.time_series("gpu", START, END).table
    start_s = START.timestamp()
    row = {"resource": "wb", "metric": "cml_cpu", "minimum": None, "maximum": None}
    assert cpu == [
        dict(row, ts=start_s, average=34.0),
        dict(row, ts=start_s + 60.5, average=36.0),
        dict(row, ts=END.timestamp() - 0.001, average=12.0),
    ]
    assert memory == [
        {
            "resource": "wb",
            "metric": "cml_memory",
            "ts": start_s + 5,
            "average": 128.0,
            "minimum": None,
            "maximum": None,
        }
    ]
    assert gpu.num_rows == 0
    assert gpu.column_names == ["resource", "metric", "ts", "average", "minimum", "maximum"]
    assert srv.requests[0]["series_type"] == "cpu"
    assert json.loads(srv.requests[0]["time_range_search_filter"]) == {
        "created_time": {"min": "2024-07-01 00:00:00", "max": "2024-07-31 23:59:59"}
    }


def test_time_series_retries_a_malformed_answer(sleeps: Sleeps) -> None:
    faults = CmlFaults(malformed=1, server_error=1)
    with CmlServer([], series=SERIES, faults=faults) as srv, client(srv.url, sleeps) as c:
        table = c.time_series("memory", START, END).table
    assert table.column("average").to_pylist() == [128.0]
    assert statuses(srv) == ["500", "200", "200"]
    assert c.stats.retries == 2


def test_sample_series_is_regular_and_deterministic() -> None:
    day = START + timedelta(days=1)
    series = sample_series(START, day, step_s=600, seed=4)
    assert series == sample_series(START, day, step_s=600, seed=4)
    assert sorted(series) == ["cpu", "gpu", "memory"]
    stamps = [t for t, _ in series["cpu"]]
    assert stamps == list(range(ms(START), ms(day), 600_000))
    assert all(0 <= c <= 8 for _, c in series["gpu"])
    assert all(c >= 0 for kind in series.values() for _, c in kind)


# -- the environment ---------------------------------------------------------------------------


def test_workbench_from_env() -> None:
    env = {"CDSW_API_URL": "https://ml.example.com/api/v1", "CDSW_APIV2_KEY": "abc"}
    assert workbench_from_env(env) == ("https://ml.example.com", "abc")
    assert workbench_from_env(dict(env, CDSW_API_URL="https://ml.example.com/api/v1/")) == (
        "https://ml.example.com",
        "abc",
    )
    assert workbench_from_env({"CDSW_API_URL": "https://ml.example.com/api/v1"}) is None
    assert workbench_from_env(dict(env, CDSW_APIV2_KEY="")) is None
    assert workbench_from_env({}) is None


# -- the server itself -------------------------------------------------------------------------


def test_server_filters_sorts_and_rejects_bad_json(server: CmlServer) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    url = server.url + "/api/v2/usage"
    body = httpx.get(
        url,
        headers=auth,
        params={
            "search_filter": '{"creator": "alice"}',
            "sort": "-created_at",
            "page_size": "5000",
        },
    ).json()
    alice = [r for r in RECORDS if r["creator"] == "alice"]
    assert body["total_count"] == len(alice)
    assert [r["id"] for r in body["usage_response"]] == [r["id"] for r in reversed(alice)]
    assert body["next_page_token"] == ""
    default = httpx.get(url, headers=auth).json()
    assert len(default["usage_response"]) == 10
    bad = httpx.get(url, headers=auth, params={"time_range_search_filter": "{nope"})
    assert (bad.status_code, bad.json()) == (
        400,
        {"message": "time_range_search_filter: invalid JSON"},
    )
    denied = httpx.get(url)
    assert denied.status_code == 401
    assert "message" in denied.json()


def test_sample_workloads_are_realistic_and_deterministic() -> None:
    records = sample_workloads(400, START, END, seed=9)
    assert records == sample_workloads(400, START, END, seed=9)
    assert records != sample_workloads(400, START, END, seed=10)
    assert len({r["creator"] for r in records}) == 15
    assert len({r["project_name"] for r in records}) == 8
    assert {r["workload_type"] for r in records} == {"session", "job", "model", "application"}
    assert len({r["id"] for r in records}) == 400
    assert [r["created_at"] for r in records] == sorted(r["created_at"] for r in records)
    assert any(r["status"].startswith("ENGINE_") for r in records)
    assert any(r["nvidia_gpu"] > 0 for r in records)
    assert any(r["oom_killed"] for r in records)
    durations = [int(r["duration"]) for r in records]
    assert min(durations) < 3600 and max(durations) > 2 * 86400
    converted = [to_record(r, "wb", index=i) for i, r in enumerate(records)]
    assert all(isinstance(r, UsageRecord) for r in converted)
    assert {r.state for r in converted if isinstance(r, UsageRecord)} <= {
        "running",
        "succeeded",
        "failed",
        "stopped",
    }
    for record in converted:
        assert isinstance(record, UsageRecord)
        assert record.end is not None and record.start is not None
        assert START <= record.start < END
        assert record.end <= END


# -- records -----------------------------------------------------------------------------------

DOC_RECORD: dict[str, Any] = {
    "name": "Churn Model API Endpoint",
    "creator": "alice",
    "group": "",
    "project_name": "ML Workshop - alice",
    "cpu": 2.0,
    "memory": 8.0,
    "nvidia_gpu": 0.0,
    "workload_type": "model",
    "created_at": "2024-07-25T18:04:16.692255Z",
    "duration": "5400",
    "status": "succeeded",
    "creator_info": {"id": 5, "html_url": "h", "url": "u", "name": "", "user_name": ""},
    "group_info": {"id": 0, "html_url": "", "url": "", "name": "", "user_name": ""},
    "project_info": {"id": 5, "slug": "ml-workshop-alice", "html_url": "h", "url": "u"},
    "id": "churn-model-api-endpoint-5-4",
    "workload_url": "https://ml.example.com/alice/ml-workshop-alice/models/4",
    "message": "",
    "oom_killed": False,
    "k8s_info": {"k8s_exit_code": 0, "k8s_signal": "", "k8s_reason": "", "k8s_message": ""},
}
CREATED = datetime(2024, 7, 25, 18, 4, 16, 692255, tzinfo=UTC)


def record(**changes: Any) -> UsageRecord:
    result = to_record(dict(DOC_RECORD, **changes), "wb")
    assert isinstance(result, UsageRecord), result
    return result


def rejected(raw: dict[str, Any], index: int = 0) -> Reject:
    result = to_record(raw, "wb", index=index)
    assert isinstance(result, Reject), result
    return result


def test_every_field() -> None:
    r = record()
    assert r == UsageRecord(
        source="wb",
        key="churn-model-api-endpoint-5-4",
        resource="wb",
        workload_type="model",
        state="succeeded",
        user="alice",
        project="ML Workshop - alice",
        group=None,
        name="Churn Model API Endpoint",
        start=CREATED,
        end=CREATED + timedelta(seconds=5400),
        cpus=2.0,
        gpus=0.0,
        mem_gb=8.0,
        attrs={
            "project_slug": "ml-workshop-alice",
            "project_id": 5,
            "workload_url": "https://ml.example.com/alice/ml-workshop-alice/models/4",
        },
        fingerprint=r.fingerprint,
    )
    assert r.fingerprint is not None
    text, unit = r.fingerprint.split("\x1f")
    assert (json.loads(text), unit) == (DOC_RECORD, "GiB")
    assert text == json.dumps(DOC_RECORD, sort_keys=True, separators=(",", ":"))
    # Same content in another key order: same fingerprint; another unit: another one.
    assert record(**dict(reversed(DOC_RECORD.items()))).fingerprint == r.fingerprint
    other = to_record(DOC_RECORD, "wb", "MiB")
    assert isinstance(other, UsageRecord)
    assert other.fingerprint != r.fingerprint


def test_failure_details_group_and_creator_fallback() -> None:
    r = record(
        creator="",
        creator_info={"id": 7, "user_name": "bob"},
        group="risk",
        nvidia_gpu="2",
        cpu=4,
        status="ENGINE_FAILED",
        oom_killed=True,
        k8s_info={
            "k8s_exit_code": 137,
            "k8s_signal": "SIGKILL",
            "k8s_reason": "OOMKilled",
            "k8s_message": "out of memory",
        },
        workload_type="Session",
        name="x" * 300,
    )
    assert (r.user, r.group, r.state, r.workload_type) == ("bob", "risk", "failed", "session")
    assert (r.cpus, r.gpus) == (4.0, 2.0)
    assert (r.state_reason, r.exit_code) == ("OOMKilled", "137")
    assert r.name == "x" * 255
    assert r.attrs == {
        "project_slug": "ml-workshop-alice",
        "project_id": 5,
        "oom_killed": True,
        "k8s_reason": "OOMKilled",
        "k8s_exit_code": "137",
        "k8s_signal": "SIGKILL",
        "workload_url": "https://ml.example.com/alice/ml-workshop-alice/models/4",
    }
    assert record(creator=None, creator_info={"username": "carol"}).user == "carol"
    assert record(workload_type="notebook").workload_type == "notebook"
    assert record(workload_type=None).workload_type == "unknown"


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [("5400", 5400.0), (5400, 5400), ("90.5", 90.5), (0, 0.0), (" 60 ", 60.0)],
)
def test_duration_gives_the_end(duration: Any, seconds: float) -> None:
    r = record(duration=duration)
    assert r.end == CREATED + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("unit", "memory", "gib"),
    [("GiB", 8.0, 8.0), ("MiB", 8192, 8.0), ("bytes", 8 * 2**30, 8.0), ("GB", 8.0, 8e9 / 2**30)],
)
def test_memory_units(unit: str, memory: float, gib: float) -> None:
    r = to_record(dict(DOC_RECORD, memory=memory), "wb", unit)
    assert isinstance(r, UsageRecord)
    assert r.mem_gb == pytest.approx(gib)
    assert r.fingerprint is not None and r.fingerprint.endswith("\x1f" + unit)
    assert MEMORY_UNITS[unit] == pytest.approx(gib / memory)


def test_unknown_memory_unit_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="memory unit 'KB'"):
        to_record(DOC_RECORD, "wb", "KB")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("running", "running"),
        ("ENGINE_RUNNING", "running"),
        ("ENGINE_SCHEDULING", "pending"),
        ("ENGINE_STARTING", "pending"),
        ("pending", "pending"),
        ("Succeeded", "succeeded"),
        ("ENGINE_SUCCEEDED", "succeeded"),
        ("MODEL_DEPLOYMENT_FAILED", "failed"),
        ("ENGINE_TIMEDOUT", "failed"),
        ("MODEL_DEPLOYED", "running"),
        ("ENGINE_STOPPED", "stopped"),
        ("stopping", "stopped"),
        ("killed", "stopped"),
        ("ENGINE_UNKNOWN", "unknown"),
        ("hibernating", "hibernating"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_status_mapping(status: str | None, state: str) -> None:
    assert map_state(status) == state
    assert record(status=status).state == state


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-07-25T18:04:16Z", CREATED.replace(microsecond=0)),
        ("2024-07-25T18:04:16", CREATED.replace(microsecond=0)),
        ("2024-07-25 18:04:16.5", CREATED.replace(microsecond=500000)),
        ("2024-07-25T20:04:16.692255+02:00", CREATED),
        ("2024-07-25T13:04:16.692255-0500", CREATED),
        ("2024-07-25T18:04:16.692255123Z", CREATED),
    ],
)
def test_created_at_forms(text: str, expected: datetime) -> None:
    r = record(created_at=text)
    assert r.start == expected
    assert r.start is not None and r.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"duration": "abc"}, "duration: not a number: 'abc'"),
        ({"duration": None}, "duration: missing"),
        ({"duration": "-5"}, "duration: negative: '-5'"),
        ({"duration": "nan"}, "duration: not a finite number: 'nan'"),
        ({"duration": True}, "duration: not a number: True"),
        ({"created_at": "yesterday"}, "created_at: not a time: 'yesterday'"),
        ({"created_at": "2024-13-01T00:00:00Z"}, "created_at: not a time: '2024-13-01T00:00:00Z'"),
        ({"cpu": "two"}, "cpu: not a number: 'two'"),
        ({"memory": -1}, "memory: negative: -1"),
    ],
)
def test_bad_fields_are_rejected_by_name(changes: dict[str, Any], reason: str) -> None:
    raw = dict(DOC_RECORD, **changes)
    r = rejected(raw, index=17)
    assert r == Reject(
        "wb:/api/v2/usage", 17, reason, json.dumps(raw, sort_keys=True, separators=(",", ":"))
    )


def test_missing_duration_key_and_long_raw() -> None:
    raw = {k: v for k, v in DOC_RECORD.items() if k != "duration"}
    assert rejected(raw).reason == "duration: missing"
    long = dict(DOC_RECORD, duration="x", message="m" * 5000)
    r = rejected(long, index=3)
    assert (r.line, len(r.raw), r.reason) == (3, 2000, "duration: not a number: 'x'")
    assert r.raw == json.dumps(long, sort_keys=True, separators=(",", ":"))[:2000]


def test_not_an_object_is_rejected() -> None:
    r = to_record(["a", "list"], "wb", index=2)  # type: ignore[arg-type]
    assert r == Reject("wb:/api/v2/usage", 2, "record is not a JSON object", '["a","list"]')


def test_missing_id_gets_a_stable_key() -> None:
    raw = {k: v for k, v in DOC_RECORD.items() if k != "id"}
    first, again = record(id=None), to_record(dict(raw), "wb")
    assert isinstance(again, UsageRecord)
    assert first.key == again.key == record_key(raw)
    assert first.key.startswith("noid-")
    assert len(first.key) == len("noid-") + 32
    assert record(id="", name="Other").key != first.key
    assert record(id="", created_at="2024-07-25T18:04:17Z").key != first.key
    assert record(id=42).key == "42"
