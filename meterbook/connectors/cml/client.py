"""A small synchronous client for the CML API v2: usage records and time series.

Every request goes through :meth:`CmlClient._get`, which maps failures onto the error tree:

* HTTP 401/403: :class:`FatalSourceError` at once ("authentication failed ... check the API
  key"); the key itself is never part of a message.
* any other 4xx (and a 1xx/3xx answer): :class:`FatalSourceError` with the status and the
  server's message, on one line.
* HTTP 429 and 5xx, timeouts, connection errors, a body that is not JSON or not of the expected
  shape: retried with exponential backoff and full jitter (``Retry-After`` honoured on 429,
  capped at ``backoff_max_s``), at most ``max_attempts`` attempts in all, then
  :class:`RetryableSourceError` naming the source and the last error.
* more than ``max_pages`` pages, or a page token the server already gave: a
  :class:`FatalSourceError` (the server is looping).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx
import pyarrow as pa

from meterbook.connectors.base import METRIC_SCHEMA, MetricBatch
from meterbook.connectors.cml.records import USAGE_PATH, parse_time, record_key
from meterbook.errors import ConfigError, FatalSourceError, RetryableSourceError

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_MESSAGE_LIMIT = 300


@dataclass
class CmlStats:
    """What a client did, for the import run's report.

    ``calls`` counts HTTP requests sent (retries included), ``retries`` the attempts that
    failed and were retried, ``pages`` the usage pages read, ``records`` the usage entries
    yielded, ``filtered_out`` the entries dropped because their ``created_at`` is outside the
    range asked for, ``duplicates`` the entries seen twice while paging. ``filter_ignored`` is
    set when the server returned entries outside the time filter (it does not support it);
    ``stopped_early`` when paging stopped past the end of the range because the server was
    shown to sort by ``created_at``.
    """

    calls: int = 0
    retries: int = 0
    pages: int = 0
    records: int = 0
    filtered_out: int = 0
    duplicates: int = 0
    filter_ignored: bool = False
    stopped_early: bool = False


class _Retry(Exception):
    """An attempt failed in a way worth retrying; ``delay`` is the server's wish, if any."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


def strip_api_suffix(url: str) -> str:
    """The workbench root: ``url`` without trailing slashes and ``/api/v1`` or ``/api/v2``."""
    root = url.strip().rstrip("/")
    for suffix in ("/api/v1", "/api/v2"):
        if root.endswith(suffix):
            root = root[: -len(suffix)].rstrip("/")
    return root


def workbench_from_env(env: Mapping[str, str]) -> tuple[str, str] | None:
    """``(base_url, api_key)`` inside a workbench session or job, else None.

    Reads ``CDSW_API_URL`` (it ends in ``/api/v1``; the v2 API is on the same host) and
    ``CDSW_APIV2_KEY``; both must be set and non-empty.
    """
    url = env.get("CDSW_API_URL", "").strip()
    key = env.get("CDSW_APIV2_KEY", "").strip()
    if not url or not key:
        return None
    return strip_api_suffix(url), key


def time_range_filter(start: datetime, end: datetime) -> str:
    """The ``time_range_search_filter`` for ``[start, end)``, at the API's one-second grain.

    ``min`` is ``start`` cut to the second, ``max`` (inclusive) the last whole second before
    ``end``; both UTC.
    """
    low, high = _window(start, end)
    return json.dumps(
        {
            "created_time": {
                "min": low.strftime(_TIME_FORMAT),
                "max": (high - timedelta(seconds=1)).strftime(_TIME_FORMAT),
            }
        },
        separators=(",", ":"),
    )


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` widened to whole seconds, in UTC."""
    low = _utc(start).replace(microsecond=0)
    high = _utc(end)
    if high.microsecond:
        high = high.replace(microsecond=0) + timedelta(seconds=1)
    return low, high


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class CmlClient:
    """Reads one workbench (``source`` names it in records and messages).

    ``base_url`` is the workbench root (``https://ml.example.com``); a trailing ``/api/v1`` or
    ``/api/v2`` is removed. One HTTP connection pool per client: close it, or use the client
    as a context manager. ``sleep`` is called for every backoff (tests pass a recorder).
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        api_key: str,
        *,
        page_size: int = 500,
        timeout_s: float = 30.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_pages: int = 100_000,
        timeseries_path: str = "/api/v2/timeseries",
        verify_tls: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if page_size < 1 or max_attempts < 1 or max_pages < 1:
            raise ConfigError(
                f"source {source}: page_size, max_attempts and max_pages must be at least 1"
            )
        self.source = source
        self.base_url = strip_api_suffix(base_url)
        if not self.base_url.lower().startswith(("https://", "http://")):
            raise ConfigError(
                f"source {source}: workbench URL {base_url!r} must start with https://"
            )
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_pages = max_pages
        self.timeseries_path = "/" + timeseries_path.lstrip("/")
        self.stats = CmlStats()
        self._key = api_key
        self._sleep = sleep
        self._random = random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s),
            verify=verify_tls,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CmlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- usage -----------------------------------------------------------------------------

    def check(self) -> int:
        """Whether the workbench answers with this key: the number of usage entries it holds."""
        body = self._get(USAGE_PATH, {"page_size": "1"}, _counted_page)
        return int(body["total_count"])

    def usage(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The raw usage entries created in ``[start, end)``, each once.

        Asks the server for the range, sorted by ``created_at``, and checks every entry: one
        outside the range means the server ignores the filter (``stats.filter_ignored``), so
        every page is read and entries are kept by their own ``created_at``. Paging then
        stops early past ``end`` only when the server has been shown to sort (a probe of one
        entry in each direction gives different, ordered answers) and every entry read so far
        came in order; otherwise it reads to the last page. An entry whose ``created_at``
        cannot be read is yielded (the record conversion rejects it, so it is reported).
        Entries are deduplicated by key across pages.
        """
        low, high = _window(start, end)
        start, end = _utc(start), _utc(end)
        params = {
            "page_size": str(self.page_size),
            "sort": "created_at",
            "time_range_search_filter": time_range_filter(start, end),
        }
        seen: set[str] = set()
        tokens: set[str] = set()
        sort_verified: bool | None = None
        last: datetime | None = None
        in_order = True
        token = ""
        pages = 0
        while True:
            if pages >= self.max_pages:
                raise FatalSourceError(
                    f"source {self.source}: more than {self.max_pages} pages from GET "
                    f"{USAGE_PATH}: the server keeps paging; narrow the range or raise max_pages"
                )
            query = dict(params, page_token=token) if token else params
            body = self._get(USAGE_PATH, query, _usage_page)
            pages += 1
            self.stats.pages += 1
            past_end = False
            for entry in body["usage_response"]:
                try:
                    created = parse_time(entry.get("created_at"))
                except ValueError:
                    created = None
                if created is not None:
                    if last is not None and created < last:
                        in_order = False
                    last = created
                    if not low <= created < high:
                        self.stats.filter_ignored = True
                    if not start <= created < end:
                        self.stats.filtered_out += 1
                        past_end = past_end or created >= end
                        continue
                key = record_key(entry)
                if key in seen:
                    self.stats.duplicates += 1
                    continue
                seen.add(key)
                self.stats.records += 1
                yield entry
            token = _token(body)
            if not token:
                return
            if token in tokens:
                raise FatalSourceError(
                    f"source {self.source}: GET {USAGE_PATH} returned page token {token[:40]!r} "
                    "a second time: the server is looping"
                )
            tokens.add(token)
            if past_end and in_order:
                if sort_verified is None:
                    sort_verified = self._sort_honoured(params)
                if sort_verified:
                    self.stats.stopped_early = True
                    return

    def _sort_honoured(self, params: Mapping[str, str]) -> bool:
        """Whether asking for opposite orders gives different first entries, in order."""
        firsts: list[datetime] = []
        for order in ("created_at", "-created_at"):
            body = self._get(USAGE_PATH, dict(params, page_size="1", sort=order), _usage_page)
            entries = body["usage_response"]
            if not entries:
                return False
            try:
                firsts.append(parse_time(entries[0].get("created_at")))
            except ValueError:
                return False
        return firsts[0] < firsts[1]

    # -- time series ------------------------------------------------------------------------

    def time_series(self, series_type: str, start: datetime, end: datetime) -> MetricBatch:
        """The workbench-wide ``series_type`` series (``cpu``, ``memory``, ``gpu``) in
        ``[start, end)``, as metric ``cml_<series_type>`` of resource ``source``.

        Points outside the range are dropped, one point per time stamp is kept (the first),
        and the points are sorted by time.
        """
        start, end = _utc(start), _utc(end)
        params = {
            "series_type": series_type,
            "time_range_search_filter": time_range_filter(start, end),
        }

        def shape(body: Any) -> str | None:
            return _series_shape(body, series_type)

        body = self._get(self.timeseries_path, params, shape)
        low, high = start.timestamp(), end.timestamp()
        points: dict[float, float] = {}
        for value in body["result"]["values"]:
            ts = int(value["time_stamp"]) / 1000
            if low <= ts < high:
                points.setdefault(ts, float(value["count"]))
        stamps = sorted(points)
        metric = f"cml_{series_type}"
        table = pa.table(
            {
                "resource": [self.source] * len(stamps),
                "metric": [metric] * len(stamps),
                "ts": stamps,
                "average": [points[t] for t in stamps],
                "minimum": [None] * len(stamps),
                "maximum": [None] * len(stamps),
            },
            schema=METRIC_SCHEMA,
        )
        return MetricBatch(table)

    # -- transport --------------------------------------------------------------------------

    def _get(self, path: str, params: Mapping[str, str], shape: Callable[[Any], str | None]) -> Any:
        """The JSON body of ``GET path``, retried as the module docstring says.

        ``shape`` returns what is wrong with a decoded body, or None when it is usable.
        """
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            self.stats.calls += 1
            try:
                return self._attempt(path, params, shape)
            except _Retry as exc:
                last = str(exc)
                if attempt == self.max_attempts:
                    break
                self.stats.retries += 1
                self._sleep(self._delay(attempt, exc.delay))
        raise RetryableSourceError(
            f"source {self.source}: GET {path} failed after {self.max_attempts} attempts: {last}"
        )

    def _attempt(
        self, path: str, params: Mapping[str, str], shape: Callable[[Any], str | None]
    ) -> Any:
        try:
            response = self._http.get(path, params=params)
        except httpx.TimeoutException as exc:
            raise _Retry(f"timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise _Retry(self._scrub(f"connection failed: {type(exc).__name__}: {exc}")) from None
        status = response.status_code
        if status in (401, 403):
            raise FatalSourceError(
                f"source {self.source}: authentication failed (HTTP {status}): check the API key"
            )
        if status == 429:
            raise _Retry("throttled (HTTP 429)", _retry_after(response))
        if status >= 500:
            raise _Retry(f"HTTP {status}: {self._message(response)}")
        if status >= 400:
            raise FatalSourceError(
                f"source {self.source}: GET {path} failed (HTTP {status}): "
                f"{self._message(response)}"
            )
        if not 200 <= status < 300:
            where = response.headers.get("location", "")
            raise FatalSourceError(
                f"source {self.source}: GET {path} answered HTTP {status}"
                + (f" (to {self._scrub(where)[:200]})" if where else "")
                + ": check the workbench URL"
            )
        try:
            body = response.json()
        except ValueError:
            raise _Retry(f"the answer is not JSON: {self._snippet(response.text)}") from None
        problem = shape(body)
        if problem is not None:
            raise _Retry(f"unexpected answer: {problem}")
        return body

    def _delay(self, attempt: int, wish: float | None) -> float:
        if wish is not None:
            return min(max(wish, 0.0), self.backoff_max_s)
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return self._random.uniform(0.0, ceiling)

    def _message(self, response: httpx.Response) -> str:
        text = response.text
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict):
            for field in ("message", "error", "detail"):
                value = body.get(field)
                if isinstance(value, str) and value.strip():
                    return self._snippet(value)
        return self._snippet(text) or response.reason_phrase or "no message"

    def _snippet(self, text: str) -> str:
        line = " ".join(self._scrub(text).split())
        return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 3] + "..."

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _token(body: Mapping[str, Any]) -> str:
    token = body.get("next_page_token")
    return token if isinstance(token, str) else ""


def _usage_page(body: Any) -> str | None:
    if not isinstance(body, dict):
        return f"expected a JSON object, got {type(body).__name__}"
    entries = body.get("usage_response")
    if entries is None and "usage_response" not in body:
        return "no usage_response"
    if entries is None:
        body["usage_response"] = entries = []
    if not isinstance(entries, list):
        return "usage_response is not a list"
    if not all(isinstance(e, dict) for e in entries):
        return "usage_response holds something other than objects"
    token = body.get("next_page_token")
    if token is not None and not isinstance(token, str):
        return "next_page_token is not a string"
    return None


def _counted_page(body: Any) -> str | None:
    problem = _usage_page(body)
    if problem is not None:
        return problem
    total = body.get("total_count")
    if isinstance(total, bool) or not isinstance(total, int | str):
        return "no total_count"
    try:
        body["total_count"] = int(total)
    except ValueError:
        return f"total_count {total!r} is not a number"
    return None


def _series_shape(body: Any, series_type: str) -> str | None:
    if not isinstance(body, dict):
        return f"expected a JSON object, got {type(body).__name__}"
    kind = body.get("series_type")
    if kind is not None and kind != series_type:
        return f"series_type {kind!r} instead of {series_type!r}"
    result = body.get("result")
    if not isinstance(result, dict):
        return "no result object"
    values = result.get("values")
    if values is None:
        result["values"] = values = []
    if not isinstance(values, list):
        return "result.values is not a list"
    for value in values:
        if not isinstance(value, dict):
            return "result.values holds something other than objects"
        try:
            int(value["time_stamp"])
            float(value["count"])
        except (KeyError, TypeError, ValueError):
            return f"bad point {json.dumps(value)[:100]}"
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
