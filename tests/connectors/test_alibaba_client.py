"""The CloudMonitor client, driven through the official SDK against the local CMS server."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from alibabacloud_cms20190101.client import Client as SdkClient  # type: ignore[import-untyped]
from alibabacloud_cms20190101.models import (  # type: ignore[import-untyped]
    DescribeMetricListRequest,
)
from alibabacloud_tea_openapi.exceptions import ClientException  # type: ignore[import-untyped]
from alibabacloud_tea_openapi.utils_models import Config  # type: ignore[import-untyped]
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]

from meterbook.connectors.alibaba import CmsClient
from meterbook.connectors.base import METRIC_SCHEMA
from meterbook.errors import FatalSourceError, RetryableSourceError
from meterbook.samples.cms_server import CmsFaults, CmsServer, instance_kinds, sample_inventory

ECS = "acs_ecs_dashboard"
CPU = "CPUUtilization"
START = datetime(2025, 2, 13, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads HTTP(S)_PROXY itself; the local server must be reached directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def ecs(count: int, prefix: str = "i-t") -> dict[str, str]:
    return {f"{prefix}{n:03d}": "ECS" for n in range(count)}


@pytest.fixture
def server() -> Iterator[CmsServer]:
    with CmsServer(ecs(3), empty={"i-t001"}) as srv:
        yield srv


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(srv: CmsServer, **options: object) -> CmsClient:
    settings: dict[str, object] = {"sleep": Sleeps(), "timeout_s": 5.0}
    settings.update(options)
    key_id = str(settings.pop("key_id", "test-key-id"))
    secret = str(settings.pop("secret", "test-key-secret"))
    return CmsClient(
        "hk-prod",
        key_id,
        secret,
        "cn-hongkong",
        endpoint=srv.endpoint,
        protocol="http",
        **settings,  # type: ignore[arg-type]
    )


def fetch(
    c: CmsClient,
    instances: list[str],
    start: datetime = START,
    end: datetime | None = None,
    period: int = 60,
    metric: str = CPU,
    namespace: str = ECS,
) -> pa.Table:
    end = end or start + timedelta(hours=1)
    batches = list(c.fetch(namespace, metric, instances, start, end, period))
    for batch in batches:
        assert batch.table.schema == METRIC_SCHEMA
    if not batches:
        return METRIC_SCHEMA.empty_table()
    return pa.concat_tables([b.table for b in batches])


def grid(start_ms: int, end_ms: int, period: int) -> list[float]:
    step = period * 1000
    first = -(-start_ms // step) * step
    return [t / 1000 for t in range(first, end_ms, step)]


def by_resource(table: pa.Table) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for resource, ts in zip(
        table.column("resource").to_pylist(), table.column("ts").to_pylist(), strict=True
    ):
        out.setdefault(resource, []).append(ts)
    return out


# -- paging, chunks, windows ------------------------------------------------------------------


def test_one_page(server: CmsServer) -> None:
    c = client(server)
    table = fetch(c, ["i-t000", "i-t002"])
    assert table.num_rows == 2 * 60
    assert c.stats.calls == 1 and c.stats.pages == 1 and c.stats.points == 120
    assert c.stats.retries == 0 and c.stats.bad_points == 0
    expected = grid(START_MS, START_MS + 3_600_000, 60)
    assert by_resource(table) == {"i-t000": expected, "i-t002": expected}
    assert set(table.column("metric").to_pylist()) == {CPU}
    rows = table.to_pylist()
    for row in rows:
        assert 0 <= row["minimum"] <= row["average"] <= row["maximum"] <= 100
        assert round(row["average"], 2) == row["average"]
    # The request the server saw.
    (request,) = server.requests
    assert json.loads(request["Dimensions"]) == [{"instanceId": "i-t000"}, {"instanceId": "i-t002"}]
    assert (request["Namespace"], request["MetricName"], request["Period"]) == (ECS, CPU, "60")
    assert request["StartTime"] == str(START_MS - 1)
    assert request["EndTime"] == str(START_MS + 3_600_000)
    assert request["Length"] == "1440"
    # Deterministic for a seed, different for another.
    assert fetch(client(server), ["i-t000", "i-t002"]).equals(table)
    with CmsServer(ecs(3), seed=1) as other:
        assert not fetch(client(other), ["i-t000", "i-t002"]).equals(table)


def test_many_pages_follow_next_token(server: CmsServer) -> None:
    c = client(server, page_length=500)
    end = START + timedelta(days=2)
    batches = list(c.fetch(ECS, CPU, ["i-t000", "i-t002"], START, end, 60))
    total = 2 * 2 * 1440
    assert sum(b.table.num_rows for b in batches) == total == c.stats.points
    assert len(batches) == c.stats.pages == c.stats.calls == -(-total // 500)
    assert [b.table.num_rows for b in batches[:-1]] == [500] * (len(batches) - 1)
    assert "NextToken" not in server.requests[0]
    tokens = [r["NextToken"] for r in server.requests[1:]]
    assert len(set(tokens)) == len(tokens) == len(batches) - 1
    table = pa.concat_tables([b.table for b in batches])
    expected = grid(START_MS, int(end.timestamp() * 1000), 60)
    # By instance (in Dimensions order), then time: exactly the grid, once.
    assert table.column("resource").to_pylist() == ["i-t000"] * 2880 + ["i-t002"] * 2880
    assert by_resource(table) == {"i-t000": expected, "i-t002": expected}


def test_instances_split_in_chunks_of_50() -> None:
    inventory = ecs(120)
    with CmsServer(inventory) as srv:
        c = client(srv)
        ids = list(inventory)
        table = fetch(c, [*ids, ids[0]], period=300)  # a duplicate is read once
        assert table.num_rows == 120 * 12
        dims = [[d["instanceId"] for d in json.loads(r["Dimensions"])] for r in srv.requests]
    assert [len(d) for d in dims] == [50, 50, 20]
    assert [i for d in dims for i in d] == ids
    assert sorted(by_resource(table)) == ids
    assert all(len(v) == 12 for v in by_resource(table).values())


@pytest.mark.parametrize("right_closed", [False, True])
@pytest.mark.parametrize("offset_ms", [0, 1])
def test_long_range_split_in_31_day_windows(right_closed: bool, offset_ms: int) -> None:
    with CmsServer(ecs(2), right_closed=right_closed) as srv:
        c = client(srv)
        # Starting 1 ms after the grid puts a grid point exactly on each window edge.
        start = START + timedelta(milliseconds=offset_ms)
        end = START + timedelta(days=70)
        table = fetch(c, ["i-t000", "i-t001"], start, end, period=3600)
        start_ms, end_ms = START_MS + offset_ms, START_MS + 70 * 86_400_000
        expected = grid(start_ms, end_ms, 3600)
        assert len(expected) == 70 * 24 - offset_ms
        assert by_resource(table) == {"i-t000": expected, "i-t001": expected}
        # 2 x 744 points in a 31-day window: two pages each, but three windows.
        spans = list(dict.fromkeys((int(r["StartTime"]), int(r["EndTime"])) for r in srv.requests))
        assert len(srv.requests) == 5
    assert len(spans) == 3
    assert all(0 < e - s <= 31 * 86_400_000 for s, e in spans)
    assert spans[0][0] == start_ms - 1 and spans[-1][1] == end_ms
    # Consecutive windows: the next asks from 1 ms before where the previous ended.
    assert [s + 1 for s, _ in spans[1:]] == [e for _, e in spans[:-1]]


def test_datapoints_as_array_read_like_a_string(server: CmsServer) -> None:
    as_string = fetch(client(server), ["i-t000", "i-t002"])
    server.faults.datapoints_as_array = True
    c = client(server)
    as_array = fetch(c, ["i-t000", "i-t002"])
    assert as_array.num_rows == 120 and as_array.equals(as_string)
    assert c.stats.retries == 0


def test_value_only_points_fill_the_average() -> None:
    with CmsServer(ecs(2)) as full, CmsServer(ecs(2), value_only={CPU}) as single:
        stats = fetch(client(full), ["i-t000", "i-t001"])
        values = fetch(client(single), ["i-t000", "i-t001"])
    assert values.num_rows == 120
    assert values.column("average").to_pylist() == stats.column("average").to_pylist()
    assert values.column("minimum").null_count == values.column("maximum").null_count == 120
    assert values.column("ts").equals(stats.column("ts"))


def test_sum_sample_count_and_bad_points() -> None:
    c = CmsClient("hk-prod", "k", "s", "cn-hongkong")
    points = [
        {"timestamp": 1000, "instanceId": "i-a", "Sum": 30.0, "SampleCount": 4},
        {"timestamp": 2000, "instanceId": "i-a", "Sum": 7},
        {"timestamp": 3000, "instanceId": "i-a", "Value": "n/a"},  # bad
        {"timestamp": 4000, "instanceId": "i-a", "Average": 5, "Minimum": None, "Maximum": 9},
        {"timestamp": 5000, "instanceId": "i-a", "Average": 5, "Maximum": [1]},  # bad
        {"timestamp": "x", "instanceId": "i-a", "Value": 1},  # bad
        {"timestamp": 6000, "Value": 2.5},  # no instance: the only one asked
        {"timestamp": 999, "instanceId": "i-a", "Value": 1},  # before the window: dropped
        {"timestamp": 9000, "instanceId": "i-a", "Value": 1},  # at the end: dropped
        "garbage",  # bad
        {"timestamp": 7000, "instanceId": "i-a"},  # no value: bad
    ]
    table = c._table(points, "m", "i-a", 1000, 9000)
    assert table is not None
    assert table.to_pylist() == [
        {"resource": "i-a", "metric": "m", "ts": 1.0, "average": 7.5, "minimum": None,
         "maximum": None},
        {"resource": "i-a", "metric": "m", "ts": 2.0, "average": 7.0, "minimum": None,
         "maximum": None},
        {"resource": "i-a", "metric": "m", "ts": 4.0, "average": 5.0, "minimum": None,
         "maximum": 9.0},
        {"resource": "i-a", "metric": "m", "ts": 6.0, "average": 2.5, "minimum": None,
         "maximum": None},
    ]  # fmt: skip
    assert c.stats.bad_points == 5
    assert c._table([{"timestamp": 6000, "Value": 1}], "m", None, 0, 9000) is None
    assert c.stats.bad_points == 6


def test_an_empty_instance_has_no_points(server: CmsServer) -> None:
    c = client(server)
    table = fetch(c, ["i-t000", "i-t001", "i-t002"])
    assert table.num_rows == 120
    assert sorted(by_resource(table)) == ["i-t000", "i-t002"]
    assert fetch(client(server), ["i-t001"]).num_rows == 0


# -- retries ---------------------------------------------------------------------------------


def test_throttling_then_success_with_jittered_backoff(server: CmsServer) -> None:
    reference = fetch(client(server), ["i-t000"])
    server.faults.throttle = 4
    sleeps = Sleeps()
    c = client(server, sleep=sleeps, backoff_s=1.0, backoff_max_s=3.0)
    c._random = random.Random(7)
    table = fetch(c, ["i-t000"])
    assert table.equals(reference)
    assert c.stats.retries == 4 and c.stats.calls == 5 and c.stats.pages == 1
    ceilings = [1.0, 2.0, 3.0, 3.0]
    draws = random.Random(7)
    assert sleeps == [ceiling * draws.random() for ceiling in ceilings]
    assert all(0 <= s <= ceiling for s, ceiling in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) == 4 and sleeps != ceilings  # jittered, not the bare ceilings
    assert server.faults.throttle == 0


def test_server_error_then_success() -> None:
    with CmsServer(ecs(3), faults=CmsFaults(server_error=1)) as srv:
        c = client(srv)
        table = fetch(c, ["i-t000", "i-t002"])
        assert len(srv.requests) == 2
    assert table.num_rows == 120 and c.stats.retries == 1 and c.stats.calls == 2


def test_malformed_json_then_success(server: CmsServer) -> None:
    server.faults.malformed = 2
    c = client(server)
    table = fetch(c, ["i-t000"])
    assert table.num_rows == 60 and c.stats.retries == 2 and c.stats.calls == 3
    assert table.column("ts").to_pylist() == grid(START_MS, START_MS + 3_600_000, 60)


def test_timeout_then_success(server: CmsServer) -> None:
    server.faults.slow = 1
    server.faults.slow_seconds = 1.5
    c = client(server, timeout_s=0.3)
    began = time.monotonic()
    table = fetch(c, ["i-t000"])
    assert time.monotonic() - began < 1.4
    assert table.num_rows == 60 and c.stats.retries == 1 and c.stats.calls == 2


def test_retries_exhausted(server: CmsServer) -> None:
    server.faults.throttle = 10
    sleeps = Sleeps()
    c = client(server, max_attempts=3, sleep=sleeps)
    with pytest.raises(RetryableSourceError) as caught:
        fetch(c, ["i-t000"])
    message = str(caught.value)
    assert message.startswith("source hk-prod: DescribeMetricList failed after 3 attempts: ")
    assert "Throttling.User" in message and "\n" not in message
    assert c.stats.calls == 3 and c.stats.retries == 2 and len(sleeps) == 2
    assert server.faults.throttle == 7


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    c = CmsClient(
        "hk-prod",
        "test-key-id",
        "test-key-secret",
        "cn-hongkong",
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
        max_attempts=2,
        sleep=Sleeps(),
    )
    with pytest.raises(RetryableSourceError, match=r"^source hk-prod: .* after 2 attempts: "):
        list(c.fetch(ECS, CPU, ["i-t000"], START, START + timedelta(hours=1), 60))
    assert c.stats.calls == 2


# -- fatal errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [
        ("nobody", "test-key-secret", "InvalidAccessKeyId.NotFound"),
        ("test-key-id", "wrong-secret", "SignatureDoesNotMatch"),
    ],
)
def test_bad_credentials_are_fatal_at_once(
    server: CmsServer, key_id: str, secret: str, code: str
) -> None:
    sleeps = Sleeps()
    c = client(server, key_id=key_id, secret=secret, sleep=sleeps)
    with pytest.raises(FatalSourceError) as caught:
        fetch(c, ["i-t000"])
    message = str(caught.value)
    assert message.startswith(f"source hk-prod: {code}: ")
    assert "check the access key" in message and "\n" not in message
    assert c.stats.calls == 1 and c.stats.retries == 0 and sleeps == []
    with pytest.raises(FatalSourceError, match=code):
        c.check(ECS, CPU, "i-t000")


def test_invalid_parameter_is_fatal(server: CmsServer) -> None:
    c = client(server)
    with pytest.raises(FatalSourceError, match=r"^source hk-prod: InvalidParameter: .*cpu_idle"):
        fetch(c, ["i-t000"], metric="cpu_idle")
    with pytest.raises(FatalSourceError, match=r"InvalidParameter: .*Period"):
        fetch(c, ["i-t000"], period=120)
    assert c.stats.calls == 2 and c.stats.retries == 0


@pytest.mark.parametrize(
    ("code", "status", "retried"),
    [
        ("Throttling.User", 400, True),
        ("Throttling", 200, True),  # a Success: false body
        ("InternalError", 500, True),
        ("ServiceUnavailable", 503, True),
        ("SomethingElse", 429, True),
        ("SomethingElse", 502, True),
        ("500", 200, True),  # an HTTP-like code in a Success: false body
        ("Forbidden.RAM", 403, False),
        ("NoPermission", 403, False),
        ("InvalidParameter.StartTime", 400, False),
        ("ResourceNotFound", 404, False),
        ("SomethingElse", 400, False),
    ],
)
def test_error_codes_map_to_retry_or_fatal(code: str, status: int, retried: bool) -> None:
    from meterbook.connectors.alibaba.client import _Retry

    c = CmsClient("hk-prod", "k", "s", "cn-hongkong")
    expected: type[Exception] = _Retry if retried else FatalSourceError
    with pytest.raises(expected) as caught:
        c._raise_for_code(code, "the message", status)
    assert code in str(caught.value) and "the message" in str(caught.value)
    if not retried:
        assert str(caught.value).startswith(f"source hk-prod: {code}: the message")


def test_endless_paging_is_fatal(server: CmsServer) -> None:
    server.faults.endless = True
    c = client(server, max_pages=5)
    with pytest.raises(FatalSourceError, match=r"^source hk-prod: .*after 5 pages"):
        fetch(c, ["i-t000"])
    assert c.stats.pages == c.stats.calls == len(server.requests) == 5
    assert c.stats.points == 60  # the first page had them all; the others were empty


def test_a_repeated_next_token_is_fatal(server: CmsServer) -> None:
    server.faults.stuck_token = True
    c = client(server)
    with pytest.raises(FatalSourceError, match=r"^source hk-prod: .*same NextToken twice"):
        fetch(c, ["i-t000"])
    assert c.stats.pages == 2  # the second reply repeats the token it was asked with


def test_check(server: CmsServer) -> None:
    c = client(server)
    c.check(ECS, CPU, "i-t000")
    (request,) = server.requests
    assert int(request["EndTime"]) - int(request["StartTime"]) == 3_600_000
    assert c.stats.calls == 1


# -- the server --------------------------------------------------------------------------------


def test_server_checks_old_style_rpc_signatures(server: CmsServer) -> None:
    def call(secret: str) -> list[dict[str, object]]:
        sdk = SdkClient(
            Config(
                access_key_id="test-key-id",
                access_key_secret=secret,
                endpoint=server.endpoint,
                protocol="http",
                signature_algorithm="v2",  # Action & HMAC-SHA1 Signature in the query string
            )
        )
        request = DescribeMetricListRequest(
            namespace=ECS,
            metric_name=CPU,
            dimensions=json.dumps({"instanceId": "i-t000"}),
            start_time="2025-02-13 00:00:00",
            end_time="2025-02-13 00:10:00",
            period="300",
        )
        body = sdk.describe_metric_list_with_options(request, RuntimeOptions()).body
        return list(json.loads(body.datapoints))

    points = call("test-key-secret")
    assert [p["timestamp"] for p in points] == [START_MS, START_MS + 300_000]
    assert {"Signature", "Action", "AccessKeyId"} <= set(server.requests[-1])
    with pytest.raises(ClientException) as caught:
        call("wrong")
    assert caught.value.code == "SignatureDoesNotMatch"


def test_sample_inventory() -> None:
    inventory = sample_inventory()
    assert list(inventory) == ["DEV", "UAT", "PROD"]
    kinds = instance_kinds(inventory)
    assert len(kinds) == 15
    for groups in inventory.values():
        assert [len(groups[g]) for g in ("web", "app", "rds")] == [2, 2, 1]
        assert all(i.startswith("rm-") and kinds[i] == "RDS" for i in groups["rds"])
        assert all(kinds[i] == "ECS" for g in ("web", "app") for i in groups[g])
    assert inventory["PROD"]["web"]["i-j6cprod01webt5c2h8"] == "prod-web-01"
    # Some instances have incidents (CPU above 80 %) over a sprint, most do not.
    with CmsServer(kinds) as srv:
        ecs_ids = [i for i, k in kinds.items() if k == "ECS"]
        table = fetch(client(srv), ecs_ids, end=START + timedelta(days=14), period=300)
    assert table.num_rows == 12 * 14 * 288
    hot = {r for r, a in zip(*table.select(["resource", "average"]).to_pydict().values(),
                             strict=True) if a > 80}  # fmt: skip
    assert 1 <= len(hot) <= 6
