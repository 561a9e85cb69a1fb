"""``/api/v1/utilisation`` (metric samples) and ``/api/v1/imports`` (runs and rejects)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from meterbook.errors import ConfigError
from meterbook.periods import day_start
from meterbook.store.queries.imports import count_rejects, list_rejects, list_runs
from meterbook.store.queries.metrics import (
    GRAINS,
    LEVELS,
    MetricScope,
    metric_series,
    metric_summary,
)
from meterbook.web.common import (
    FieldError,
    Format,
    FromText,
    PeriodText,
    RowId,
    SprintText,
    ToText,
    field_of,
    period_json,
    table_response,
    window,
)
from meterbook.web.security import Reader

router = APIRouter(prefix="/api/v1", tags=["utilisation and imports"])
Names = Annotated[list[str], Query(max_length=50)]


def _scope(
    source: list[str],
    environment: list[str],
    group: list[str],
    instance: list[str],
    metric: list[str],
) -> MetricScope:
    return MetricScope(
        tuple(source), tuple(environment), tuple(group), tuple(instance), tuple(metric)
    )


@router.get("/utilisation", summary="CPU and memory utilisation: range, average, incidents")
def utilisation(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    sprint: SprintText = None,
    level: Annotated[str, Query(description=", ".join(LEVELS))] = "instance",
    threshold: Annotated[float, Query(ge=0, le=100)] = 80.0,
    source: Names = [],  # noqa: B006
    environment: Names = [],  # noqa: B006
    group: Names = [],  # noqa: B006
    instance: Names = [],  # noqa: B006
    metric: Names = [],  # noqa: B006
    format: Format = "json",
) -> Response:
    """Per instance, group or environment: samples, min, max, average, p95 and the points
    above ``threshold`` (incidents), as ``meterbook metrics summary``."""
    span = window(request, period, start, end, sprint)
    zone = request.app.state.store.zone
    try:
        with request.app.state.store.engine.connect() as conn:
            found = metric_summary(
                conn,
                day_start(span.start, zone).timestamp(),
                day_start(span.end, zone).timestamp(),
                _scope(source, environment, group, instance, metric),
                level=level,
                threshold=threshold,
            )
    except ConfigError as exc:
        raise FieldError("level", str(exc)) from exc
    columns = (
        "environment",
        "group",
        "instance",
        "kind",
        "metric",
        "samples",
        "minimum",
        "maximum",
        "average",
        "p95",
        "above",
        "above_share",
    )
    rows = [tuple(getattr(s, c) for c in columns) for s in found]
    return table_response(
        format,
        columns,
        rows,
        {"period": period_json(span), "threshold": threshold},
        filename=f"utilisation-{span.label}.csv",
    )


@router.get("/utilisation/series", summary="Utilisation time series")
def utilisation_series(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    sprint: SprintText = None,
    grain: Annotated[str, Query(description=", ".join(GRAINS))] = "hour",
    level: Annotated[str, Query(description=", ".join(LEVELS))] = "instance",
    source: Names = [],  # noqa: B006
    environment: Names = [],  # noqa: B006
    group: Names = [],  # noqa: B006
    instance: Names = [],  # noqa: B006
    metric: Names = [],  # noqa: B006
    format: Format = "json",
) -> Response:
    span = window(request, period, start, end, sprint)
    zone = request.app.state.store.zone
    try:
        with request.app.state.store.engine.connect() as conn:
            found = metric_series(
                conn,
                day_start(span.start, zone).timestamp(),
                day_start(span.end, zone).timestamp(),
                _scope(source, environment, group, instance, metric),
                grain=grain,
                level=level,
                zone=zone,
            )
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc
    columns = (
        "time",
        "environment",
        "group",
        "instance",
        "metric",
        "samples",
        "average",
        "minimum",
        "maximum",
    )
    rows = [(p.time.isoformat(), *(getattr(p, c) for c in columns[1:])) for p in found]
    return table_response(
        format,
        columns,
        rows,
        {"period": period_json(span), "grain": grain},
        filename=f"utilisation-series-{span.label}.csv",
    )


@router.get("/imports", summary="Import runs: what, when, counts")
def imports(
    request: Request,
    who: Reader,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    format: Format = "json",
) -> Response:
    with request.app.state.store.engine.connect() as conn:
        runs = list_runs(conn, limit)
    columns = (
        "id",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "seconds",
        "inputs",
        "lines_read",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "skipped",
        "message",
    )
    rows = [
        (
            r.id,
            r.kind,
            r.status,
            r.started_at.isoformat(sep=" "),
            r.finished_at.isoformat(sep=" ") if r.finished_at else None,
            r.seconds,
            " ".join(r.inputs),
            r.lines_read,
            r.inserted,
            r.updated,
            r.unchanged,
            r.rejected,
            r.skipped,
            r.message,
        )
        for r in runs
    ]
    return table_response(format, columns, rows, filename="imports.csv")


@router.get("/imports/{run_id}/rejects", summary="Lines an import refused, and why")
def rejects(
    request: Request,
    who: Reader,
    run_id: RowId,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    format: Format = "json",
) -> Response:
    with request.app.state.store.engine.connect() as conn:
        found = list_rejects(conn, run_id, limit)
        total = count_rejects(conn, run_id)
    rows = [(r.file, r.line, r.reason, r.raw) for r in found]
    return table_response(
        format,
        ("file", "line", "reason", "raw"),
        rows,
        {"run": run_id, "total": total},
        filename=f"rejects-{run_id}.csv",
    )
