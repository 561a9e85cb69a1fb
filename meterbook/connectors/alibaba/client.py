"""A CloudMonitor (CMS) ``DescribeMetricList`` client over the official SDK.

:class:`CmsClient` pulls a metric for many instances over any time range: instances go 50 to
a call, the range in windows of at most 31 days, every ``NextToken`` is followed, and each
reply page becomes one :class:`~meterbook.connectors.base.MetricBatch`.

The service reads ``(StartTime, EndTime]`` (left-open, right-closed); a window ``[w0, w1)`` is
asked as ``StartTime = w0 - 1 ms``, ``EndTime = w1`` and the points outside ``[w0, w1)`` are
dropped, so the result is the same whether a server includes the start or the end, and a point
on the edge of two windows is read exactly once.

Errors: the SDK's own retries are off; each call is tried at most ``max_attempts`` times, with
exponential backoff and full jitter, on throttling, 429/5xx, ``InternalError`` /
``ServiceUnavailable``, connection errors, timeouts and replies that are not valid JSON (or
lack ``Datapoints``); then :class:`~meterbook.errors.RetryableSourceError`. Credentials,
permissions, parameters and any other 4xx stop at once with
:class:`~meterbook.errors.FatalSourceError`; so does a paging that does not end.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import pyarrow as pa
from alibabacloud_cms20190101.client import Client as _SdkClient  # type: ignore[import-untyped]
from alibabacloud_cms20190101.models import DescribeMetricListRequest  # type: ignore[import-untyped]
from alibabacloud_tea_openapi.utils_models import Config  # type: ignore[import-untyped]
from darabonba.exceptions import ResponseException  # type: ignore[import-untyped]
from darabonba.exceptions import RetryError as _DaraRetryError
from darabonba.policy.retry import RetryOptions  # type: ignore[import-untyped]
from darabonba.runtime import RuntimeOptions  # type: ignore[import-untyped]
from Tea.exceptions import RetryError as _TeaRetryError  # type: ignore[import-untyped]
from Tea.exceptions import UnretryableException

from meterbook.connectors.base import METRIC_SCHEMA, MetricBatch
from meterbook.errors import FatalSourceError, RetryableSourceError

#: At most this many instances per call (a service limit).
MAX_DIMENSIONS = 50
#: At most this long between StartTime and EndTime (a service limit), in milliseconds.
MAX_SPAN_MS = 31 * 86_400_000

_RETRYABLE_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "ServiceUnavailable.Timeout", "RequestTimeout"}
)
_SPACES = re.compile(r"\s+")


@dataclass
class CmsStats:
    """What a client did, updated as it goes.

    ``calls`` counts requests sent (retries included), ``retries`` the repeated ones, ``pages``
    the replies used, ``points`` the points yielded and ``bad_points`` the points skipped
    because a value was not a number.
    """

    calls: int = 0
    retries: int = 0
    pages: int = 0
    points: int = 0
    bad_points: int = 0


class _Retry(Exception):
    """A failed attempt worth repeating; the message is one line."""


def _one_line(text: object, limit: int = 300) -> str:
    line = _SPACES.sub(" ", str(text)).strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} is naive: use an aware (UTC) datetime")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _number(value: Any) -> float | None:
    """A finite float from a JSON value, or None (bools, text, NaN and infinities are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if number - number == 0.0 else None


class CmsClient:
    """``DescribeMetricList`` for one source (an account and region)."""

    def __init__(
        self,
        source: str,
        access_key_id: str,
        access_key_secret: str,
        region: str,
        *,
        endpoint: str | None = None,
        protocol: str = "https",
        timeout_s: float = 30.0,
        max_attempts: int = 6,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        max_pages: int = 100_000,
        page_length: int = 1440,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 1 <= page_length <= 1440:
            raise ValueError("page_length must be between 1 and 1440")
        self.source = source
        self.region = region
        self.endpoint = endpoint or f"metrics.{region}.aliyuncs.com"
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_pages = max_pages
        self.page_length = page_length
        self.stats = CmsStats()
        self._sleep = sleep
        self._random = random.Random()
        timeout_ms = max(1, round(timeout_s * 1000))
        self._sdk = _SdkClient(
            Config(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                region_id=region,
                endpoint=self.endpoint,
                protocol=protocol,
                read_timeout=timeout_ms,
                connect_timeout=timeout_ms,
                # The SDK tries once unless told otherwise; say so, retries are ours.
                retry_options=RetryOptions(retryable=False),
            )
        )
        self._runtime = RuntimeOptions(
            autoretry=False,
            max_attempts=0,
            read_timeout=timeout_ms,
            connect_timeout=timeout_ms,
        )

    # -- public -------------------------------------------------------------------------------

    def fetch(
        self,
        namespace: str,
        metric: str,
        instance_ids: Sequence[str],
        start: datetime,
        end: datetime,
        period: int,
    ) -> Iterator[MetricBatch]:
        """Yield the points of ``metric`` in ``[start, end)``, one batch per reply page.

        Pages without points yield nothing; ``resource`` is the point's ``instanceId``.
        """
        start_ms, end_ms = _epoch_ms(start), _epoch_ms(end)
        instances = list(dict.fromkeys(instance_ids))
        if start_ms >= end_ms or not instances:
            return
        width = MAX_SPAN_MS - 1  # the request also covers the millisecond before the window
        for first in range(0, len(instances), MAX_DIMENSIONS):
            chunk = instances[first : first + MAX_DIMENSIONS]
            dimensions = json.dumps([{"instanceId": i} for i in chunk])
            lone = chunk[0] if len(chunk) == 1 else None
            for window_start in range(start_ms, end_ms, width):
                window_end = min(window_start + width, end_ms)
                yield from self._pages(
                    namespace, metric, dimensions, lone, window_start, window_end, period
                )

    def check(self, namespace: str, metric: str, instance_id: str) -> None:
        """One small call over the last hour: raises like :meth:`fetch` when it fails."""
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        end_ms = _epoch_ms(end)
        request = self._request(
            namespace,
            metric,
            json.dumps([{"instanceId": instance_id}]),
            _epoch_ms(end - timedelta(hours=1)),
            end_ms,
            60,
            None,
            length=10,
        )
        self._call(request)

    # -- paging -------------------------------------------------------------------------------

    def _request(
        self,
        namespace: str,
        metric: str,
        dimensions: str,
        start_ms: int,
        end_ms: int,
        period: int,
        token: str | None,
        *,
        length: int | None = None,
    ) -> Any:
        return DescribeMetricListRequest(
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            start_time=str(start_ms),
            end_time=str(end_ms),
            period=str(period),
            length=str(length or self.page_length),
            next_token=token,
        )

    def _pages(
        self,
        namespace: str,
        metric: str,
        dimensions: str,
        lone: str | None,
        start_ms: int,
        end_ms: int,
        period: int,
    ) -> Iterator[MetricBatch]:
        token: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:
            request = self._request(
                namespace, metric, dimensions, start_ms - 1, end_ms, period, token
            )
            points, token = self._call(request)
            pages += 1
            self.stats.pages += 1
            table = self._table(points, metric, lone, start_ms, end_ms)
            if table is not None:
                self.stats.points += table.num_rows
                yield MetricBatch(table)
            if not token:
                return
            if token in seen:
                raise FatalSourceError(
                    f"source {self.source}: DescribeMetricList returned the same NextToken "
                    f"twice ({metric}, {namespace}): the paging does not advance"
                )
            if pages >= self.max_pages:
                raise FatalSourceError(
                    f"source {self.source}: DescribeMetricList still had a NextToken after "
                    f"{pages} pages ({metric}, {namespace}): giving up (max_pages)"
                )
            seen.add(token)

    def _table(
        self, points: list[Any], metric: str, lone: str | None, start_ms: int, end_ms: int
    ) -> pa.Table | None:
        """The points in ``[start_ms, end_ms)`` as a METRIC_SCHEMA table (None when none)."""
        resources: list[str] = []
        stamps: list[float] = []
        averages: list[float] = []
        minimums: list[float | None] = []
        maximums: list[float | None] = []
        bad = 0
        for point in points:
            if type(point) is not dict:
                bad += 1
                continue
            ts = point.get("timestamp")
            if type(ts) is not int:
                number = _number(ts)
                if number is None:
                    bad += 1
                    continue
                ts = int(number)
            if ts < start_ms or ts >= end_ms:
                continue
            resource = point.get("instanceId", lone)
            if type(resource) is not str:
                bad += 1
                continue
            average = point.get("Average")
            if average is not None:
                low = point.get("Minimum")
                high = point.get("Maximum")
            else:
                low = high = None
                average = point.get("Value")
                if average is None:
                    total = point.get("Sum")
                    count = point.get("SampleCount")
                    if total is not None and count is not None:
                        total_n, count_n = _number(total), _number(count)
                        if total_n is None or count_n is None:
                            bad += 1
                            continue
                        average = total_n / count_n if count_n else total_n
                    else:
                        average = total if total is not None else count
            if type(average) is not float:
                average = _number(average)
                if average is None:
                    bad += 1
                    continue
            if low is not None and type(low) is not float:
                low = _number(low)
                if low is None:
                    bad += 1
                    continue
            if high is not None and type(high) is not float:
                high = _number(high)
                if high is None:
                    bad += 1
                    continue
            resources.append(resource)
            stamps.append(ts / 1000)
            averages.append(average)
            minimums.append(low)
            maximums.append(high)
        self.stats.bad_points += bad
        if not stamps:
            return None
        return pa.Table.from_arrays(
            [
                pa.array(resources, pa.string()),
                pa.array([metric] * len(stamps), pa.string()),
                pa.array(stamps, pa.float64()),
                pa.array(averages, pa.float64()),
                pa.array(minimums, pa.float64()),
                pa.array(maximums, pa.float64()),
            ],
            schema=METRIC_SCHEMA,
        )

    # -- one call, with retries ---------------------------------------------------------------

    def _call(self, request: Any) -> tuple[list[Any], str | None]:
        """One DescribeMetricList call: its points and NextToken, after retries if needed."""
        last = "no attempt"
        for attempt in range(self.max_attempts):
            if attempt:
                self.stats.retries += 1
                ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
                self._sleep(ceiling * self._random.random())
            self.stats.calls += 1
            try:
                return self._attempt(request)
            except _Retry as exc:
                last = str(exc)
        raise RetryableSourceError(
            f"source {self.source}: DescribeMetricList failed after {self.max_attempts} "
            f"attempts: {last}"
        )

    def _attempt(self, request: Any) -> tuple[list[Any], str | None]:
        try:
            response = self._sdk.describe_metric_list_with_options(request, self._runtime)
        except ResponseException as exc:
            self._service_error(exc)
        except UnretryableException as exc:
            inner = exc.inner_exception
            if isinstance(inner, ResponseException):  # not raised this way today
                self._service_error(inner)
            if isinstance(inner, (_DaraRetryError, _TeaRetryError)):
                raise _Retry(_one_line(getattr(inner, "message", inner))) from exc
            if isinstance(inner, RuntimeError) and "json" in str(inner).lower():
                raise _Retry(f"the reply is not valid JSON: {_one_line(inner, 120)}") from exc
            if isinstance(inner, OSError):
                raise _Retry(_one_line(f"{type(inner).__name__}: {inner}")) from exc
            raise
        except OSError as exc:
            raise _Retry(_one_line(f"{type(exc).__name__}: {exc}")) from exc
        body = response.body
        if body is None:
            raise _Retry("the reply has no body")
        if body.success is False or (body.code not in (None, "", "200", 200)):
            self._raise_for_code(
                str(body.code), str(body.message or ""), getattr(response, "status_code", 200)
            )
        raw = body.datapoints
        if raw is None:
            raise _Retry("the reply has no Datapoints")
        if isinstance(raw, str):
            if not raw.strip():
                points: Any = []
            else:
                try:
                    points = json.loads(raw)
                except ValueError as exc:
                    raise _Retry(f"Datapoints is not valid JSON: {_one_line(exc, 120)}") from exc
        else:
            points = raw
        if not isinstance(points, list):
            raise _Retry(f"Datapoints is not a list but {type(points).__name__}")
        token = body.next_token
        return points, (str(token) if token else None)

    def _service_error(self, exc: Any) -> NoReturn:
        data = exc.data if isinstance(exc.data, dict) else {}
        status = getattr(exc, "status_code", None) or data.get("statusCode") or 0
        code = str(data.get("Code") or data.get("code") or exc.code or "")
        message = str(data.get("Message") or data.get("message") or exc.message or "")
        self._raise_for_code(code, message, int(status))

    def _raise_for_code(self, code: str, message: str, status: int) -> NoReturn:
        """Raise _Retry for a transient error, FatalSourceError for the others."""
        text = _one_line(f"{code}: {message}" if message else code)
        if code.isdigit() and status // 100 not in (4, 5):  # an HTTP-like code in the body
            status = int(code)
        if (
            status == 429
            or status >= 500
            or code.startswith("Throttling")
            or code in _RETRYABLE_CODES
        ):
            raise _Retry(f"HTTP {status} {text}" if status else text)
        hint = ""
        if code.startswith(("InvalidAccessKey", "SignatureDoesNotMatch")):
            hint = " (check the access key id and secret)"
        elif code.startswith(("Forbidden", "AccessForbidden", "NoPermission", "AccessDenied")):
            hint = " (check the RAM permissions of the access key: cms:DescribeMetricList)"
        elif code.startswith(("InvalidParameter", "MissingParameter")):
            hint = " (check the namespace, metric, instances and period)"
        raise FatalSourceError(f"source {self.source}: {text}{hint}")
