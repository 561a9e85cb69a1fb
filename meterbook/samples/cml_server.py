"""A local stand-in for a CML workbench's API v2, with generated workloads.

:class:`CmlServer` is a real HTTP server on ``127.0.0.1`` (a free port, a daemon thread)
answering ``GET /api/v2/usage`` and the time-series path in the workbench's wire format,
with a bearer key, paging, sorting, the search filters, and faults on demand
(:class:`CmlFaults`). The tests and ``meterbook demo`` talk to it with the real client.

:func:`sample_workloads` and :func:`sample_series` generate realistic data, deterministic
for a seed: about fifteen users in eight projects running sessions, jobs, models and
applications for minutes to days, some on GPUs, some failing (a few killed for memory), with
statuses in both the plain and the ``ENGINE_``-prefixed spelling; memory is in GiB.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from meterbook.connectors.cml.records import parse_time

USAGE_PATH = "/api/v2/usage"
HOST = "https://ml.example.com"
_DEFAULT_PAGE = 10
_MAX_PAGE = 1000
_SEARCH_KEYS = ("name", "creator", "project_name", "workload_type", "status")
_FILTER_TIME = "%Y-%m-%d %H:%M:%S"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class CmlFaults:
    """Faults to inject; each counter is consumed by one request (any path), in the order
    slow, throttle, server_error, malformed.

    ``throttle`` answers 429 with ``Retry-After: 0``, ``server_error`` 500, ``malformed`` 200
    with a body that is not JSON, ``slow`` sleeps ``slow_seconds`` before answering normally.
    ``endless`` gives every usage page a fresh ``next_page_token``; ``repeat_token`` gives
    every usage page the same one.
    """

    throttle: int = 0
    server_error: int = 0
    malformed: int = 0
    slow: int = 0
    slow_seconds: float = 5.0
    endless: bool = False
    repeat_token: bool = False


class _Answer(Exception):
    """An error answer: status and message (sent as ``{"message": ...}``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    app: CmlServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test) closes its end: not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        status, headers, body = self.server.app.answer(
            self.path, self.headers.get("Authorization", "")
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CmlServer:
    """A workbench API serving ``records`` (usage entries in the wire shape) and ``series``
    (``series_type`` -> ``[(epoch ms, count)]``; by default empty ``cpu``, ``memory`` and
    ``gpu`` series).

    It listens from construction until :meth:`close` (or the end of a ``with`` block).
    ``honour_time_filter=False`` plays a workbench version that ignores
    ``time_range_search_filter`` (usage and series), ``honour_sort=False`` one that ignores
    ``sort`` (entries come in the order given). ``requests`` lists every request received: its
    path, query parameters and the ``status`` answered. :meth:`add` inserts an entry while
    clients page (to test paging over a changing list).
    """

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        *,
        api_key: str = "test-api-key",
        honour_time_filter: bool = True,
        honour_sort: bool = True,
        series: Mapping[str, Sequence[tuple[int, int]]] | None = None,
        timeseries_path: str = "/api/v2/timeseries",
        faults: CmlFaults | None = None,
    ) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in records]
        self.api_key = api_key
        self.honour_time_filter = honour_time_filter
        self.honour_sort = honour_sort
        self.series: dict[str, list[tuple[int, int]]] = (
            {k: list(v) for k, v in series.items()}
            if series is not None
            else {"cpu": [], "memory": [], "gpu": []}
        )
        self.timeseries_path = "/" + timeseries_path.lstrip("/")
        self.faults = faults if faults is not None else CmlFaults()
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._pages = 0
        self._http = _HttpServer(("127.0.0.1", 0), _Handler)
        self._http.app = self
        port = self._http.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"cml-server-{port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CmlServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def add(self, record: dict[str, Any]) -> None:
        """Insert one usage entry (visible to the next request)."""
        with self._lock:
            self.records.append(dict(record))

    # -- requests ---------------------------------------------------------------------------

    def answer(self, target: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body for ``GET target``."""
        parts = urlsplit(target)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        log = {"path": parts.path, **params}
        headers: dict[str, str] = {}
        with self._lock:
            fault = self._take_fault()
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        try:
            if fault == "throttle":
                headers["Retry-After"] = "0"
                raise _Answer(429, "too many requests")
            if fault == "server_error":
                raise _Answer(500, "internal server error")
            if fault == "malformed":
                status, body = 200, b'{"usage_response": [{"name": '
            else:
                if authorization != f"Bearer {self.api_key}":
                    raise _Answer(401, "unauthorized: missing or invalid API key")
                status, body = 200, self._route(parts.path, params)
        except _Answer as exc:
            status, body = exc.status, json.dumps({"message": exc.message}).encode()
        log["status"] = str(status)
        with self._lock:
            self.requests.append(log)
        return status, headers, body

    def _take_fault(self) -> str | None:
        for name in ("slow", "throttle", "server_error", "malformed"):
            if getattr(self.faults, name) > 0:
                setattr(self.faults, name, getattr(self.faults, name) - 1)
                return name
        return None

    def _route(self, path: str, params: Mapping[str, str]) -> bytes:
        if path == USAGE_PATH:
            return _dump(self._usage(params))
        if path == self.timeseries_path:
            return _dump(self._series(params))
        raise _Answer(404, f"not found: {path}")

    def _usage(self, params: Mapping[str, str]) -> dict[str, Any]:
        size = _page_size(params.get("page_size"))
        order = params.get("sort", "")
        if order not in ("", "created_at", "-created_at"):
            raise _Answer(400, f"invalid sort {order!r}: use created_at or -created_at")
        search = _json_object(params, "search_filter")
        unknown = sorted(set(search) - set(_SEARCH_KEYS))
        if unknown:
            raise _Answer(400, f"search_filter: unknown key {unknown[0]!r}")
        low, high = _time_range(params)
        offset = _offset(params.get("page_token", ""))
        with self._lock:
            records = list(self.records)
            self._pages += 1
            serial = self._pages
        chosen = [r for r in records if all(str(r.get(k, "")) == str(v) for k, v in search.items())]
        if self.honour_time_filter and (low is not None or high is not None):
            chosen = [r for r in chosen if _in_range(_created_second(r), low, high)]
        if order and self.honour_sort:
            chosen.sort(key=_created, reverse=order.startswith("-"))
        page = chosen[offset : offset + size]
        following = offset + size
        token = ""
        if self.faults.repeat_token:
            token = _token(size, 0)
        elif self.faults.endless or following < len(chosen):
            token = _token(following, serial if self.faults.endless else 0)
        return {"usage_response": page, "total_count": len(chosen), "next_page_token": token}

    def _series(self, params: Mapping[str, str]) -> dict[str, Any]:
        kind = params.get("series_type", "")
        if kind not in self.series:
            known = ", ".join(sorted(self.series))
            raise _Answer(400, f"invalid series_type {kind!r}: expected one of {known}")
        low, high = _time_range(params)
        values = [
            {"time_stamp": str(ms), "count": str(count)}
            for ms, count in self.series[kind]
            if not self.honour_time_filter
            or _in_range(_EPOCH + timedelta(seconds=ms // 1000), low, high)
        ]
        return {"series_type": kind, "result": {"values": values}}


def _dump(body: Any) -> bytes:
    return json.dumps(body).encode("utf-8")


def _page_size(text: str | None) -> int:
    if text is None or text == "":
        return _DEFAULT_PAGE
    try:
        size = int(text)
    except ValueError:
        raise _Answer(400, f"invalid page_size {text!r}") from None
    if size < 1:
        raise _Answer(400, f"invalid page_size {text!r}")
    return min(size, _MAX_PAGE)


def _json_object(params: Mapping[str, str], name: str) -> dict[str, Any]:
    text = params.get(name, "")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise _Answer(400, f"{name}: invalid JSON") from None
    if not isinstance(value, dict):
        raise _Answer(400, f"{name}: expected a JSON object")
    return value


def _time_range(params: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    spec = _json_object(params, "time_range_search_filter")
    created = spec.get("created_time", {})
    if not isinstance(created, dict):
        raise _Answer(400, "time_range_search_filter: created_time must be an object")
    bounds: list[datetime | None] = []
    for end in ("min", "max"):
        text = created.get(end)
        if text in (None, ""):
            bounds.append(None)
            continue
        try:
            bounds.append(datetime.strptime(str(text), _FILTER_TIME).replace(tzinfo=UTC))
        except ValueError:
            raise _Answer(
                400, f"time_range_search_filter: {end} {text!r} is not YYYY-MM-DD HH:MM:SS"
            ) from None
    return bounds[0], bounds[1]


def _in_range(moment: datetime | None, low: datetime | None, high: datetime | None) -> bool:
    if moment is None:
        return False
    return (low is None or moment >= low) and (high is None or moment <= high)


def _created(record: Mapping[str, Any]) -> datetime:
    try:
        return parse_time(record.get("created_at"))
    except ValueError:
        return _EPOCH


def _created_second(record: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_time(record.get("created_at")).replace(microsecond=0)
    except ValueError:
        return None


def _token(offset: int, serial: int) -> str:
    raw = json.dumps({"o": offset, "s": serial}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        offset = json.loads(raw)["o"]
    except (ValueError, KeyError, TypeError):
        raise _Answer(400, "invalid page_token") from None
    if not isinstance(offset, int) or offset < 0:
        raise _Answer(400, "invalid page_token")
    return offset


# -- sample data ------------------------------------------------------------------------------

_USERS = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "karim",
    "leila",
    "mateo",
    "nora",
    "omar",
)


@dataclass(frozen=True)
class _Project:
    id: int
    name: str
    owner: str
    group: str
    gpu: bool
    members: tuple[str, ...]

    @property
    def slug(self) -> str:
        return _slug(self.name)


_PROJECTS = (
    _Project(1, "Churn Prediction", "alice", "data-science", False, _USERS[0:5]),
    _Project(2, "Fraud Detection", "bob", "risk", True, _USERS[1:4] + _USERS[9:11]),
    _Project(3, "Demand Forecast", "frank", "", False, _USERS[5:9]),
    _Project(4, "Support Ticket NLP", "grace", "data-science", True, _USERS[6:11]),
    _Project(5, "ML Workshop - alice", "alice", "", False, _USERS),
    _Project(6, "Image Classification", "karim", "vision", True, _USERS[10:15]),
    _Project(7, "Sales Dashboard", "leila", "", False, (*_USERS[11:13], "erin")),
    _Project(8, "Customer Segmentation", "nora", "marketing", False, _USERS[12:15]),
)
_TYPES = (("session", 0.45), ("job", 0.30), ("model", 0.13), ("application", 0.12))
# median seconds, log-normal sigma, minimum, maximum
_DURATIONS = {
    "session": (5400, 1.0, 120, 3 * 86400),
    "job": (1200, 1.2, 45, 2 * 86400),
    "model": (3 * 86400, 0.8, 3600, 30 * 86400),
    "application": (86400, 1.0, 1800, 21 * 86400),
}
_ENDED = {
    "session": (("stopped", 0.62), ("succeeded", 0.28), ("failed", 0.10)),
    "job": (("succeeded", 0.80), ("failed", 0.15), ("stopped", 0.05)),
    "model": (("stopped", 0.70), ("succeeded", 0.20), ("failed", 0.10)),
    "application": (("stopped", 0.80), ("succeeded", 0.10), ("failed", 0.10)),
}
_PLURAL = {"session": "sessions", "job": "jobs", "model": "models", "application": "applications"}
_NAMES = {
    "session": ("Untitled Session", "EDA notebook", "feature exploration", "debug session"),
    "job": ("nightly-etl", "train-model", "score-batch", "refresh-features", "weekly-report"),
    "model": ("{project} Model API Endpoint", "{project} Scoring Service"),
    "application": ("{project} Dashboard", "{project} Explorer App"),
}


def sample_workloads(
    n: int, start: datetime, end: datetime, *, seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` usage entries created in ``[start, end)``, sorted by ``created_at``.

    A workload still going at ``end`` is ``running`` with the duration it has had so far.
    """
    rng = random.Random(seed)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    span = (end - start).total_seconds()
    user_ids = {u: 100 + i for i, u in enumerate(_USERS)}
    moments = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(n))
    records = []
    for serial, created in enumerate(moments, 1):
        project = rng.choice(_PROJECTS)
        user = rng.choice(project.members)
        kind = _pick(rng, _TYPES)
        median, sigma, low, high = _DURATIONS[kind]
        duration = int(min(max(rng.lognormvariate(math.log(median), sigma), low), high))
        elapsed = int((end - created).total_seconds())
        if duration >= elapsed:
            status, duration = "running", max(elapsed, 0)
        else:
            status = _pick(rng, _ENDED[kind])
        cpu = _pick(rng, ((0.5, 0.1), (1.0, 0.35), (2.0, 0.3), (4.0, 0.17), (8.0, 0.08)))
        memory = cpu * rng.choice((2.0, 4.0, 4.0, 8.0))
        gpu = 0.0
        if project.gpu and kind in ("session", "job") and rng.random() < 0.35:
            gpu = rng.choice((1.0, 1.0, 2.0, 4.0))
            memory = max(memory, 16.0 * gpu)
        oom = status == "failed" and memory <= 8 and rng.random() < 0.4
        name = rng.choice(_NAMES[kind]).format(project=project.name.split(" - ")[0])
        ident = f"{_slug(name)}-{project.id}-{serial}"
        shown = status
        if kind == "session" and rng.random() < 0.2:
            shown = f"ENGINE_{status.upper()}"
        elif kind == "model" and status == "failed" and rng.random() < 0.5:
            shown = "MODEL_DEPLOYMENT_FAILED"
        exit_code, reason, signal, message = 0, "", "", ""
        if oom:
            exit_code, reason, signal = 137, "OOMKilled", "SIGKILL"
            message = "Engine exited: the container ran out of memory."
        elif status == "failed":
            exit_code, reason = rng.choice((1, 1, 2, 127)), "Error"
            message = f"Engine exited with status {exit_code}."
        elif status == "stopped" and rng.random() < 0.3:
            exit_code, signal = 143, "SIGTERM"
        records.append(
            {
                "name": name,
                "creator": user,
                "group": project.group,
                "project_name": project.name,
                "cpu": cpu,
                "memory": memory,
                "nvidia_gpu": gpu,
                "workload_type": kind,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "duration": str(duration),
                "status": shown,
                "creator_info": {
                    "id": user_ids[user],
                    "html_url": f"{HOST}/{user}",
                    "url": f"{HOST}/api/v1/users/{user}",
                    "name": user.capitalize(),
                    "user_name": user,
                },
                "group_info": {
                    "id": 900 + project.id if project.group else 0,
                    "html_url": f"{HOST}/{project.group}" if project.group else "",
                    "url": f"{HOST}/api/v1/users/{project.group}" if project.group else "",
                    "name": project.group,
                    "user_name": project.group,
                },
                "project_info": {
                    "id": project.id,
                    "slug": project.slug,
                    "html_url": f"{HOST}/{project.owner}/{project.slug}",
                    "url": f"{HOST}/api/v1/projects/{project.owner}/{project.slug}",
                },
                "id": ident,
                "workload_url": f"{HOST}/{project.owner}/{project.slug}/{_PLURAL[kind]}/{ident}",
                "message": message,
                "oom_killed": oom,
                "k8s_info": {
                    "k8s_exit_code": exit_code,
                    "k8s_signal": signal,
                    "k8s_reason": reason,
                    "k8s_message": message,
                },
            }
        )
    return records


def sample_series(
    start: datetime, end: datetime, *, step_s: int = 300, seed: int = 0
) -> dict[str, list[tuple[int, int]]]:
    """Workbench-wide ``cpu``, ``memory`` (GiB) and ``gpu`` in use every ``step_s`` seconds
    in ``[start, end)``, with a working-day cycle: ``series_type -> [(epoch ms, count)]``."""
    rng = random.Random(seed)
    first = math.ceil(start.timestamp() / step_s) * step_s
    last = end.timestamp()
    series: dict[str, list[tuple[int, int]]] = {"cpu": [], "memory": [], "gpu": []}
    moment = first
    while moment < last:
        when = datetime.fromtimestamp(moment, UTC)
        hour = when.hour + when.minute / 60
        day = max(math.sin((hour - 7) / 12 * math.pi), 0.0) if 7 <= hour <= 19 else 0.0
        weekday = 1.0 if when.weekday() < 5 else 0.35
        cpu = max(int(12 + 60 * day * weekday + rng.gauss(0, 4)), 0)
        memory = max(int(cpu * rng.uniform(3.5, 4.5) + rng.gauss(0, 6)), 0)
        gpu = min(max(int(2 + 6 * day * weekday + rng.gauss(0, 1)), 0), 8)
        ms = int(moment * 1000)
        series["cpu"].append((ms, cpu))
        series["memory"].append((ms, memory))
        series["gpu"].append((ms, gpu))
        moment += step_s
    return series


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, float]]) -> Any:
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
