"""``/api/v1/usage``: usage aggregates from the day rollups and the records behind them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from meterbook.errors import ConfigError
from meterbook.store.queries.records import COLUMNS, usage_records_page
from meterbook.store.queries.usage import DIMENSIONS, MEASURES, usage_summary
from meterbook.web.common import (
    FieldError,
    Format,
    FromText,
    PeriodText,
    SprintText,
    ToText,
    field_of,
    period_json,
    table_response,
    window,
)
from meterbook.web.scope import usage_filters
from meterbook.web.security import Who

router = APIRouter(prefix="/api/v1/usage", tags=["usage"])
Names = Annotated[list[str], Query(max_length=20)]
By = Annotated[
    list[str],
    Query(description=f"Group by (repeat): {', '.join(DIMENSIONS)}", max_length=4),
]


@router.get("", summary="Usage aggregates")
def usage(
    request: Request,
    who: Who,
    by: By = [],  # noqa: B006  (FastAPI reads the default, never mutates it)
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    sprint: SprintText = None,
    cluster: Names = [],  # noqa: B006
    user: Names = [],  # noqa: B006
    account: Names = [],  # noqa: B006
    partition: Names = [],  # noqa: B006
    qos: Names = [],  # noqa: B006
    state: Names = [],  # noqa: B006
    source: Names = [],  # noqa: B006
    top: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    format: Format = "json",
) -> Response:
    """CPU, GPU, node, wall and memory hours, jobs started/ended/running and the average
    wait, grouped by any dimensions (``by`` repeated), over a period, filtered; the same
    figures as ``meterbook usage``."""
    span = window(request, period, start, end, sprint)
    for name in by:
        if name not in DIMENSIONS:
            raise FieldError("by", f"unknown dimension {name!r} (use {', '.join(DIMENSIONS)})")
    filters = usage_filters(who, cluster, user, account, partition, qos, state, source)
    columns = [*by, *MEASURES]
    extra = {"period": period_json(span), "by": by}
    if filters is None:
        return table_response(format, columns, [], extra | {"total": None})
    try:
        with request.app.state.store.engine.connect() as conn:
            report = usage_summary(conn, span, by, filters, top)
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc
    rows = [(*r.group, *(getattr(r, m) for m in MEASURES)) for r in report.rows]
    total = {m: getattr(report.total, m) for m in MEASURES}
    return table_response(
        format, columns, rows, extra | {"total": total}, filename=f"usage-{span.label}.csv"
    )


@router.get("/records", summary="Usage records (drill-down)")
def records(
    request: Request,
    who: Who,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    sprint: SprintText = None,
    cluster: Names = [],  # noqa: B006
    user: Names = [],  # noqa: B006
    account: Names = [],  # noqa: B006
    partition: Names = [],  # noqa: B006
    qos: Names = [],  # noqa: B006
    state: Names = [],  # noqa: B006
    source: Names = [],  # noqa: B006
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    format: Format = "json",
) -> Response:
    """The records behind an aggregate, newest first, a page at a time (same filters)."""
    span = window(request, period, start, end, sprint)
    filters = usage_filters(who, cluster, user, account, partition, qos, state, source)
    extra = {"period": period_json(span), "page": page, "page_size": page_size}
    if filters is None:
        return table_response(format, COLUMNS, [], extra | {"total": 0})
    store = request.app.state.store
    with store.engine.connect() as conn:
        found = usage_records_page(conn, span, store.zone, filters, page=page, page_size=page_size)
    return table_response(
        format,
        COLUMNS,
        found.rows,
        extra | {"total": found.total},
        filename=f"records-{span.label}-p{page}.csv",
    )
