"""``/api/v1/io``: the IO dashboard's views (equivalents of the original ``/api/stats``,
``/api/users``, ``/api/machines``, ``/api/usage/user/{name}``, ``/api/usage/machine/{name}``,
``/api/usage/time`` and ``/api/usage/size``) and the rest of ``meterbook io``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from meterbook.errors import ConfigError
from meterbook.store.queries import io as q
from meterbook.web.common import (
    FieldError,
    Format,
    FromText,
    PeriodText,
    ToText,
    field_of,
    forbid,
    period_json,
    table_response,
    window,
)
from meterbook.web.security import Reader, Who

router = APIRouter(prefix="/api/v1/io", tags=["io"])
Grain = Annotated[str, Query(pattern="^(hour|day|month)$")]
Source = Annotated[str | None, Query(max_length=120, description="One IO log source")]


def _flat(item: Any) -> dict[str, Any]:
    out = dataclasses.asdict(item)
    if isinstance(item, q.Ops):
        out["ops"] = item.ops
        out["bytes"] = item.bytes
    return out


def _table(fmt: str, items: Sequence[Any], extra: dict[str, Any], name: str) -> Response:
    flat = [_flat(i) for i in items]
    columns = list(flat[0]) if flat else []
    return table_response(
        fmt, columns, [tuple(f.values()) for f in flat], extra, filename=f"io-{name}.csv"
    )


def _scope(
    request: Request, period: str | None, start: str | None, end: str | None, source: str | None
) -> q.IoScope:
    return q.IoScope(window(request, period, start, end), request.app.state.store.zone, source)


def _run(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        with request.app.state.store.engine.connect() as conn:
            return fn(conn, *args, **kwargs)
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc


@router.get("/stats", summary="Totals: blocks, users, machines, sessions, operations, bytes")
def stats(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
) -> JSONResponse:
    scope = _scope(request, period, start, end, source)
    found = _run(request, q.io_stats, scope)
    return JSONResponse({"period": period_json(scope.period), **_flat(found)})


@router.get("/users", summary="Users with sessions, machines and operations")
def users(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    format: Format = "json",
) -> Response:
    scope = _scope(request, period, start, end, source)
    return _table(
        format,
        _run(request, q.io_users, scope, limit),
        {"period": period_json(scope.period)},
        "users",
    )


@router.get("/machines", summary="Machines with sessions, users and operations")
def machines(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    format: Format = "json",
) -> Response:
    scope = _scope(request, period, start, end, source)
    return _table(
        format,
        _run(request, q.io_machines, scope, limit),
        {"period": period_json(scope.period)},
        "machines",
    )


def _detail(detail: q.Detail, scope: q.IoScope) -> JSONResponse:
    return JSONResponse(
        {
            "period": period_json(scope.period),
            "name": detail.name,
            "total": _flat(detail.total),
            "peers": [_flat(p) for p in detail.peers],
            "sizes": [_flat(s) for s in detail.sizes],
            "series": [_flat(p) for p in detail.series],
        }
    )


@router.get("/usage/user/{name}", summary="One user: machines, sizes, time series")
def user_detail(
    request: Request,
    who: Who,
    name: str,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    grain: Grain = "day",
) -> JSONResponse:
    if not who.may_see("user", name):
        raise forbid(f"you may not read the IO of user {name!r}")
    scope = _scope(request, period, start, end, source)
    return _detail(_run(request, q.io_user, scope, name, grain), scope)


@router.get("/usage/machine/{name}", summary="One machine: users, sizes, time series")
def machine_detail(
    request: Request,
    who: Reader,
    name: str,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    grain: Grain = "day",
) -> JSONResponse:
    scope = _scope(request, period, start, end, source)
    return _detail(_run(request, q.io_machine, scope, name, grain), scope)


@router.get("/usage/time", summary="Operations, active users and machines over time")
def timeseries(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    grain: Grain = "day",
    format: Format = "json",
) -> Response:
    scope = _scope(request, period, start, end, source)
    return _table(
        format,
        _run(request, q.io_timeseries, scope, grain),
        {"period": period_json(scope.period), "grain": grain},
        "time",
    )


@router.get("/usage/size", summary="Operations per request size bucket")
def sizes(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    by: Annotated[str | None, Query(pattern="^(role|group|user|machine)$")] = None,
    format: Format = "json",
) -> Response:
    scope = _scope(request, period, start, end, source)
    return _table(
        format,
        _run(request, q.io_sizes, scope, by),
        {"period": period_json(scope.period), "by": by},
        "sizes",
    )


@router.get("/patterns", summary="Hour-of-day and day-of-week patterns")
def patterns(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
) -> JSONResponse:
    scope = _scope(request, period, start, end, source)
    hours, weekdays = _run(request, q.io_patterns, scope)
    return JSONResponse(
        {
            "period": period_json(scope.period),
            "hour_of_day": [_flat(r) for r in hours],
            "day_of_week": [_flat(r) for r in weekdays],
        }
    )


@router.get("/top", summary="Top users over the last N blocks, with their machines")
def top(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    blocks: Annotated[int, Query(ge=1, le=10_000)] = 24,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    format: Format = "json",
) -> Response:
    scope = _scope(request, period, start, end, source)
    return _table(
        format,
        _run(request, q.io_top, scope, blocks, limit),
        {"period": period_json(scope.period)},
        "top",
    )


@router.get("/history", summary="Top N users of every block")
def history(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    top: Annotated[int, Query(ge=1, le=100)] = 5,
    format: Format = "json",
) -> Response:
    scope = _scope(request, period, start, end, source)
    return _table(
        format,
        _run(request, q.io_history, scope, top),
        {"period": period_json(scope.period)},
        "history",
    )


@router.get("/heavy", summary="Users above an operations-per-hour threshold")
def heavy(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    source: Source = None,
    threshold: Annotated[int | None, Query(ge=1)] = None,
    format: Format = "json",
) -> Response:
    scope = _scope(request, period, start, end, source)
    limit = threshold or request.app.state.settings.io_heavy_threshold
    return _table(
        format,
        _run(request, q.io_heavy, scope, limit),
        {"period": period_json(scope.period), "threshold": limit},
        "heavy",
    )
