"""A local Alibaba Cloud CloudMonitor (CMS) server, for the tests, the demo and the benchmarks.

:class:`CmsServer` is a real HTTP/1.1 server on 127.0.0.1 that answers ``DescribeMetricList``
(product ``Cms``, version ``2019-01-01``) the way the service does, well enough for the
official SDKs to talk to it: ``alibabacloud-cms20190101`` with
``Config(endpoint=server.endpoint, protocol="http")``, or the older ``aliyun-python-sdk-core``
pointed at ``127.0.0.1`` and the server's port.

What it checks, like the service:

* the action (``x-acs-action`` header, or the ``Action`` parameter of old-style requests) and
  the version; parameters come from the query string and/or a form body;
* the signature, for real: ``ACS3-HMAC-SHA256`` (the canonical request is rebuilt from the
  method, path, query, the signed headers and the hash of the body received) and the old RPC
  ``HMAC-SHA1`` signature (a ``Signature`` parameter). An unknown access key id gives 404
  ``InvalidAccessKeyId.NotFound``, a wrong secret 400 ``SignatureDoesNotMatch``. Not checked:
  the freshness of ``x-acs-date`` / ``Timestamp`` and the uniqueness of nonces;
* ``Namespace`` / ``MetricName`` (ECS ``CPUUtilization``, ``memory_usedutilization`` in
  ``acs_ecs_dashboard``; RDS ``CpuUsage``, ``MemoryUsage`` in ``acs_rds_dashboard``), at most
  50 ``Dimensions``, ``StartTime`` before ``EndTime`` and at most 31 days apart, ``Period`` in
  60, 300, 900, 3600 and ``Length`` at most 1440; anything wrong is a 400 ``InvalidParameter``.

Times are epoch milliseconds (a number under 10**11 is taken as seconds) or
``YYYY-MM-DD hh:mm:ss`` / ``YYYY-MM-DDThh:mm:ssZ``, read here as UTC. The range is
``[StartTime, EndTime)``, or ``(StartTime, EndTime]`` as the service documents it with
``right_closed=True`` (the client is right with either).

Data are synthetic and deterministic for a seed: one point per ``Period`` on the epoch grid,
for every requested instance of the namespace's kind that is not in ``empty`` (unknown
instances have no data, as on the service), values 0-100 following a daily cycle plus noise,
memory higher and flatter than CPU, and some instances with episodes above 80 %. A page is
computed on its own (no series is ever built whole), so any range costs the same per page.
Points come by instance (in ``Dimensions`` order) then time, ``Length`` per page (default
1000), with an opaque ``NextToken`` while more remain. Metrics named in ``value_only`` answer
with a single ``Value`` per point instead of Minimum/Average/Maximum.

:class:`CmsFaults` injects failures, one request at a time (each request consumes at most one
fault, in the order throttle, server_error, malformed, slow).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, quote, urlsplit

ACTION = "DescribeMetricList"
VERSION = "2019-01-01"
#: namespace -> (instance kind, metrics)
NAMESPACES: dict[str, tuple[str, frozenset[str]]] = {
    "acs_ecs_dashboard": (
        "ECS",
        frozenset(
            {"CPUUtilization", "memory_usedutilization", "cpu_total", "diskusage_utilization"}
        ),
    ),
    "acs_rds_dashboard": ("RDS", frozenset({"CpuUsage", "MemoryUsage", "DiskUsage", "IOPSUsage"})),
}
MEMORY_METRICS = frozenset({"memory_usedutilization", "MemoryUsage"})
PERIODS = (60, 300, 900, 3600)
MAX_DIMENSIONS = 50
MAX_SPAN_MS = 31 * 86_400_000
MAX_LENGTH = 1440
DEFAULT_LENGTH = 1000
DEFAULT_PERIOD = 60
USER_ID = "1234567890"
HOST_ID = "metrics.cn-hongkong.aliyuncs.com"

_DAY_MINUTES = 1440
#: The daily cycle, one value per minute of the day (peak in the afternoon, UTC+8).
_SINE = [math.sin(2 * math.pi * (m - 30) / _DAY_MINUTES) for m in range(_DAY_MINUTES)]
#: Noise, one (jitter in [-1, 1), down and up spreads in [0, 1)) per slot; a series walks the
#: table with a stride, so its noise repeats only after 65,536 minutes (45 days).
_NOISE = [
    (((h & 0x3FF) - 512) / 512.0, ((h >> 10) & 0x3FF) / 1023.0, ((h >> 20) & 0x3FF) / 1023.0)
    for h in (zlib.crc32(i.to_bytes(4, "little")) for i in range(65_536))
]
#: Point templates, plain (Datapoints as an array) and escaped (inside the Datapoints string,
#: which saves a json.dumps of the page: instance ids are checked to need no escaping).
_HEAD = '{"timestamp":%d,"userId":"' + USER_ID + '","instanceId":"'
_TEMPLATES = {
    escaped: (
        (_HEAD + '%s","Minimum":%.2f,"Average":%.2f,"Maximum":%.2f}').replace('"', q),
        (_HEAD + '%s","Value":%.2f}').replace('"', q),
    )
    for escaped, q in ((False, '"'), (True, '\\"'))
}
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")


@dataclass
class CmsFaults:
    """Failures to inject; mutable while the server runs, consumed one request at a time."""

    throttle: int = 0  # next N requests: HTTP 400 Throttling.User
    server_error: int = 0  # next N: HTTP 500 InternalError
    malformed: int = 0  # next N: HTTP 200 with a truncated JSON body
    slow: int = 0  # next N: sleep slow_seconds before answering (client timeout)
    slow_seconds: float = 5.0
    endless: bool = False  # always return a (new) NextToken: a paging that never ends
    stuck_token: bool = False  # always return the NextToken that was sent (or a fixed one)
    datapoints_as_array: bool = False  # Datapoints as a JSON array instead of a JSON string


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _invalid(message: str) -> _ApiError:
    return _ApiError(400, "InvalidParameter", message)


@dataclass(frozen=True, slots=True)
class _Series:
    """The shape of one (instance, metric) series."""

    key: int
    base: float
    amplitude: float
    noise: float
    phase: int
    spread: float
    spike_odds: int  # out of 1024, per 30-minute episode
    spike: float


def _series(seed: int, instance: str, metric: str) -> _Series:
    key = zlib.crc32(f"{seed}|{instance}|{metric}".encode())
    rng = key  # a few derived parameters without building a random.Random

    def draw(low: float, high: float) -> float:
        nonlocal rng
        rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
        return low + (high - low) * (rng / 0x7FFFFFFF)

    incident_prone = (zlib.crc32(f"{seed}|{instance}".encode()) >> 8) % 3 == 0
    if metric in MEMORY_METRICS:
        base, amplitude, noise, spread = draw(45, 68), draw(2, 6), draw(0.5, 1.5), 1.0
        odds, spike = (25, draw(18, 28)) if incident_prone else (0, 0.0)
    else:
        base = draw(14, 38)
        amplitude, noise, spread = base * draw(0.25, 0.6), draw(1.5, 5), 4.0
        odds, spike = (40, draw(45, 60)) if incident_prone else (2, draw(20, 35))
    return _Series(key, base, amplitude, noise, int(draw(-90, 90)), spread, odds, spike)


def _page_points(
    series: _Series,
    instance: str,
    first_ms: int,
    step_ms: int,
    count: int,
    value_only: bool,
    spread_factor: float,
    escaped: bool,
) -> list[str]:
    """``count`` points of a series from ``first_ms``, as JSON object texts.

    ``escaped``: with ``"`` written ``\\"``, to sit inside a JSON string.
    """
    sine, noise_table = _SINE, _NOISE
    key = series.key
    base, amplitude, noise = series.base, series.amplitude, series.noise
    phase, odds, spike = series.phase, series.spike_odds, series.spike
    spread = series.spread * spread_factor
    stats, value = _TEMPLATES[escaped]
    out: list[str] = []
    append = out.append
    episode = -1
    bump = 0.0
    ts = first_ms
    for _ in range(count):
        minute = ts // 60_000
        if minute // 30 != episode:
            episode = minute // 30
            e = ((episode * 0x85EBCA6B) ^ key) & 0xFFFFFFFF
            e = ((e ^ (e >> 16)) * 0x7FEB352D) & 0xFFFFFFFF
            bump = spike if ((e ^ (e >> 15)) & 0x3FF) < odds else 0.0
        jitter, down, up = noise_table[(minute * 40503 + key) & 0xFFFF]
        avg = base + amplitude * sine[(minute + phase) % 1440] + noise * jitter + bump
        if avg > 99.9:
            avg = 99.9
        elif avg < 0.1:
            avg = 0.1
        if value_only:
            append(value % (ts, instance, avg))
        else:
            low = avg - spread * down
            high = avg + spread * up
            if low < 0.0:
                low = 0.0
            if high > 100.0:
                high = 100.0
            append(stats % (ts, instance, low, avg, high))
        ts += step_ms
    return out


def _parse_time(name: str, text: str | None) -> int | None:
    if text is None or text == "":
        return None
    text = text.strip()
    if text.isdigit():
        value = int(text)
        return value * 1000 if value < 10**11 else value
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return int(datetime.strptime(text, layout).replace(tzinfo=UTC).timestamp() * 1000)
        except ValueError:
            continue
    raise _invalid(f"The parameter {name} is invalid: {text!r}.")


def _pct(text: str) -> str:
    return quote(text, safe="~")


def _token(offset: int, fingerprint: int) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{fingerprint:08x}".encode()).decode().rstrip("=")


def _untoken(token: str, fingerprint: int) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset_text, fp_text = raw.split(":")
        offset = int(offset_text)
        ok = int(fp_text, 16) == fingerprint and offset >= 0
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise _invalid("The parameter NextToken is invalid.")
    return offset


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    cms: CmsServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Tengine"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # One write for the headers, one for the body: no Nagle delay on the second.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        cms = cast(_HttpServer, self.server).cms
        request_id = str(uuid.uuid4()).upper()
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            status, payload = cms._answer(self.command, self.path, self.headers, body, request_id)
        except _ApiError as exc:
            status, payload = exc.status, cms._error_body(exc, request_id)
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-acs-request-id", request_id)
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True


class CmsServer:
    """A CMS ``DescribeMetricList`` endpoint on 127.0.0.1 (random free port).

    A context manager (or :meth:`start` / :meth:`stop`). ``instances`` maps instance ids to
    their kind (``ECS`` or ``RDS``). After start, :attr:`endpoint` is ``127.0.0.1:PORT``;
    :attr:`requests` lists the parameters of every ``DescribeMetricList`` request received
    (faulty answers included). ``value_only`` names metrics answered with a single ``Value``
    per point; ``right_closed`` serves ``(StartTime, EndTime]`` instead of
    ``[StartTime, EndTime)``.
    """

    def __init__(
        self,
        instances: Mapping[str, str],
        *,
        access_keys: Mapping[str, str] | None = None,
        empty: Collection[str] = (),
        faults: CmsFaults | None = None,
        seed: int = 0,
        value_only: Collection[str] = (),
        right_closed: bool = False,
    ) -> None:
        for instance, kind in instances.items():
            if kind not in ("ECS", "RDS"):
                raise ValueError(f"instance {instance}: kind must be ECS or RDS, not {kind!r}")
            if not _SAFE_ID.fullmatch(instance):
                raise ValueError(f"instance id {instance!r}: use letters, digits and _.:/- only")
        self.instances = dict(instances)
        self.access_keys = (
            dict(access_keys) if access_keys is not None else {"test-key-id": "test-key-secret"}
        )
        self.empty = frozenset(empty)
        self.faults = faults if faults is not None else CmsFaults()
        self.seed = seed
        self.value_only = frozenset(value_only)
        self.right_closed = right_closed
        self.requests: list[dict[str, str]] = []
        self.endpoint = ""
        self.port = 0
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> CmsServer:
        if self._httpd is not None:
            return self
        httpd = _HttpServer(("127.0.0.1", 0), _Handler)
        httpd.cms = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.endpoint = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CmsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- protocol ---------------------------------------------------------------------------

    def _error_body(self, exc: _ApiError, request_id: str) -> bytes:
        return json.dumps(
            {
                "RequestId": request_id,
                "HostId": HOST_ID,
                "Code": exc.code,
                "Message": exc.message,
                "Recommend": f"https://api.aliyun.com/troubleshoot?q={exc.code}",
            }
        ).encode()

    def _answer(
        self, method: str, target: str, headers: Any, body: bytes, request_id: str
    ) -> tuple[int, bytes]:
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        form: dict[str, str] = {}
        content_type = (headers.get("Content-Type") or "").lower()
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params = {**query, **form}
        action = headers.get("x-acs-action") or params.get("Action")
        if action != ACTION:
            raise _ApiError(400, "InvalidAction.NotFound", "Specified api is not found.")
        version = headers.get("x-acs-version") or params.get("Version")
        if version != VERSION:
            raise _ApiError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        with self._lock:
            self.requests.append(params)
            fault = self._take_fault()
        if fault == "throttle":
            raise _ApiError(400, "Throttling.User", "Request was denied due to user flow control.")
        if fault == "server_error":
            raise _ApiError(
                500, "InternalError", "The request processing has failed due to some unknown error."
            )
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        if "Signature" in params:
            self._check_rpc_signature(method, query, form)
        else:
            self._check_acs3_signature(method, url.path or "/", query, headers, body)
        reply = self._describe_metric_list(params, request_id)
        if fault == "malformed":
            return 200, reply[: max(1, min(len(reply) // 2, 120))]
        return 200, reply

    def _take_fault(self) -> str | None:
        faults = self.faults
        for name in ("throttle", "server_error", "malformed", "slow"):
            if getattr(faults, name) > 0:
                setattr(faults, name, getattr(faults, name) - 1)
                return name
        return None

    def _secret(self, key_id: str | None) -> str:
        secret = self.access_keys.get(key_id or "")
        if secret is None:
            raise _ApiError(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        return secret

    def _check_acs3_signature(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> None:
        authorization = headers.get("Authorization") or ""
        algorithm, _, rest = authorization.partition(" ")
        if algorithm != "ACS3-HMAC-SHA256":
            raise _ApiError(400, "MissingAuthorization", "Authorization header is required.")
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        secret = self._secret(fields.get("Credential"))
        signed = [h for h in fields.get("SignedHeaders", "").split(";") if h]
        payload_hash = hashlib.sha256(body).hexdigest()
        declared = headers.get("x-acs-content-sha256")
        if declared is not None and declared != payload_hash:
            raise _ApiError(400, "SignatureDoesNotMatch", "The request body hash does not match.")
        canonical_query = "&".join(f"{k}={_pct(query[k])}" for k in sorted(query))
        canonical_headers = "".join(
            f"{name}:{','.join(sorted(v.strip() for v in headers.get_all(name, [])))}\n"
            for name in signed
        )
        canonical = "\n".join(
            [method, path, canonical_query, canonical_headers, ";".join(signed), payload_hash]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            raise _ApiError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation.",
            )

    def _check_rpc_signature(
        self, method: str, query: dict[str, str], form: dict[str, str]
    ) -> None:
        params = {**query, **form}
        secret = self._secret(params.get("AccessKeyId"))
        if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
            raise _invalid("The parameter SignatureMethod is not supported.")
        signature = params.pop("Signature")
        canonical = "&".join(f"{_pct(k)}={_pct(params[k])}" for k in sorted(params))
        to_sign = f"{method}&%2F&{_pct(canonical)}"
        digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
            raise _ApiError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation.",
            )

    # -- DescribeMetricList ---------------------------------------------------------------------

    def _describe_metric_list(self, params: dict[str, str], request_id: str) -> bytes:
        namespace = params.get("Namespace", "")
        metric = params.get("MetricName", "")
        if namespace not in NAMESPACES:
            raise _invalid(f"The specified namespace {namespace!r} is not found.")
        kind, metrics = NAMESPACES[namespace]
        if metric not in metrics:
            raise _invalid(f"The metric {metric!r} is not found in namespace {namespace}.")
        instances = self._dimensions(params.get("Dimensions"), kind)
        try:
            period = int(params.get("Period") or DEFAULT_PERIOD)
            length = int(params.get("Length") or DEFAULT_LENGTH)
        except ValueError:
            raise _invalid("The parameter Period or Length is not a number.") from None
        if period not in PERIODS:
            raise _invalid(f"The parameter Period must be one of {PERIODS}, not {period}.")
        if not 1 <= length <= MAX_LENGTH:
            raise _invalid(f"The parameter Length must be between 1 and {MAX_LENGTH}.")
        end = _parse_time("EndTime", params.get("EndTime"))
        start = _parse_time("StartTime", params.get("StartTime"))
        if end is None:
            end = int(datetime.now(UTC).timestamp() * 1000)
        if start is None:
            start = end - 3_600_000
        if start >= end:
            raise _invalid("The StartTime must be earlier than the EndTime.")
        if end - start > MAX_SPAN_MS:
            raise _invalid("The time range between StartTime and EndTime exceeds 31 days.")

        step = period * 1000
        low, high = (start + 1, end + 1) if self.right_closed else (start, end)
        first = -(-low // step) * step
        per_instance = max(0, -(-(high - first) // step))
        live = [i for i in instances if i not in self.empty]
        total = per_instance * len(live)
        fingerprint = zlib.crc32(
            "|".join(
                [namespace, metric, ",".join(instances), str(start), str(end), str(period)]
            ).encode()
        )
        token = params.get("NextToken") or ""
        offset = _untoken(token, fingerprint) if token else 0

        points: list[str] = []
        value_only = metric in self.value_only
        spread_factor = 1.0 + math.log2(period / 60)
        position = offset
        remaining = max(0, min(length, total - offset))
        while remaining > 0:
            index, within = divmod(position, per_instance)
            instance = live[index]
            take = min(per_instance - within, remaining)
            key = (instance, metric)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _series(self.seed, instance, metric)
            points += _page_points(
                series,
                instance,
                first + within * step,
                step,
                take,
                value_only,
                spread_factor,
                not self.faults.datapoints_as_array,
            )
            position += take
            remaining -= take

        next_offset = offset + length
        next_token: str | None = None
        if self.faults.stuck_token:
            next_token = token or _token(0, fingerprint)
        elif self.faults.endless or next_offset < total:
            next_token = _token(next_offset, fingerprint)
        datapoints = "[" + ",".join(points) + "]"
        head = (
            f'{{"RequestId":"{request_id}","Success":true,"Code":"200","Message":"",'
            f'"Period":"{period}",'
        )
        if next_token is not None:
            head += f'"NextToken":"{next_token}",'
        if self.faults.datapoints_as_array:
            return f'{head}"Datapoints":{datapoints}}}'.encode()
        return f'{head}"Datapoints":"{datapoints}"}}'.encode()

    def _dimensions(self, text: str | None, kind: str) -> list[str]:
        """The requested instances of ``kind`` (all of them when no dimensions are given)."""
        if text is None or text.strip() == "":
            return [i for i, k in self.instances.items() if k == kind]
        try:
            value = json.loads(text)
        except ValueError:
            raise _invalid("The parameter Dimensions is not valid JSON.") from None
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_DIMENSIONS:
            raise _invalid(f"The parameter Dimensions has more than {MAX_DIMENSIONS} items.")
        out: list[str] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("instanceId"), str):
                raise _invalid("The parameter Dimensions must hold {'instanceId': ...} objects.")
            instance = item["instanceId"]
            # Unknown instances, or instances of another kind, simply have no data.
            if self.instances.get(instance) == kind and instance not in out:
                out.append(instance)
        return out


# -- a sample inventory -----------------------------------------------------------------------

_SUFFIXES = ("k3d9q2", "m7x1b4", "p0v8n6", "t5c2h8", "w9f3j1")


def sample_inventory() -> dict[str, dict[str, dict[str, str]]]:
    """A small realistic inventory: environment -> group -> instance id -> display name.

    Environments DEV, UAT and PROD, each with ``web`` (2 ECS), ``app`` (2 ECS) and ``rds``
    (1 RDS) groups.
    """
    inventory: dict[str, dict[str, dict[str, str]]] = {}
    for env_index, env in enumerate(("DEV", "UAT", "PROD")):
        low = env.lower()
        groups: dict[str, dict[str, str]] = {}
        for group_index, group in enumerate(("web", "app")):
            groups[group] = {}
            for n in (1, 2):
                suffix = _SUFFIXES[(env_index + group_index + n) % len(_SUFFIXES)]
                instance = f"i-j6c{low}{n:02d}{group}{suffix}"
                groups[group][instance] = f"{low}-{group}-{n:02d}"
        suffix = _SUFFIXES[env_index % len(_SUFFIXES)]
        groups["rds"] = {f"rm-j6c{low}01db{suffix}": f"{low}-db-01"}
        inventory[env] = groups
    return inventory


def instance_kinds(inventory: Mapping[str, Mapping[str, Mapping[str, str]]]) -> dict[str, str]:
    """An inventory flattened to instance id -> kind (``RDS`` for the ``rds`` group, else ECS)."""
    return {
        instance: "RDS" if group == "rds" else "ECS"
        for groups in inventory.values()
        for group, members in groups.items()
        for instance in members
    }
