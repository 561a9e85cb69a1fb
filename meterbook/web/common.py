"""What the API routes share: periods from query parameters, CSV answers, errors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from meterbook.collecting import requested_period
from meterbook.errors import ConfigError
from meterbook.periods import Period, resolve_period

#: A row id in a path: positive and within a 32-bit signed integer (every database's).
RowId = Annotated[int, Path(ge=1, le=2_147_483_647)]
Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]
PeriodText = Annotated[
    str | None,
    Query(
        alias="period",
        description="2026, 2026-Q3, 2026-10 or 2026-10-05 (default: this month)",
        max_length=40,
    ),
]
FromText = Annotated[
    str | None, Query(alias="from", description="First day, YYYY-MM-DD", max_length=10)
]
ToText = Annotated[str | None, Query(alias="to", description="Last day (inclusive)", max_length=10)]
SprintText = Annotated[
    str | None, Query(description="Sprint N, current or previous", max_length=20)
]


class FieldError(HTTPException):
    """A 422 naming the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(422, [{"loc": ["query", field], "msg": message, "type": "value_error"}])
        self.field = field
        self.message = message


def field_of(message: str) -> str:
    """The parameter a library error names (``--period: ...`` -> ``period``)."""
    head = message.split(":", 1)[0].strip()
    name = head.removeprefix("--").split()[0] if head else "query"
    return {"from": "from", "to": "to"}.get(name, name)


def window(
    request: Request,
    period: str | None,
    start: str | None,
    end: str | None,
    sprint: str | None = None,
) -> Period:
    """The period of the query parameters (default: this month)."""
    try:
        found = requested_period(
            request.app.state.settings, period=period, start=start, end=end, sprint=sprint
        )
        return found or resolve_period(None, None, None)
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc


def period_json(p: Period) -> dict[str, str]:
    return {"label": p.label, "from": p.start.isoformat(), "to_exclusive": p.end.isoformat()}


def plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def table_response(
    fmt: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    extra: dict[str, Any] | None = None,
    filename: str = "meterbook.csv",
) -> Response:
    """``rows`` as CSV, or as JSON ``{..extra, "columns": [...], "rows": [{...}]}``."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else plain(v) for v in row])
        return Response(
            buffer.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{filename}"'},
        )
    body = dict(extra or {})
    body["columns"] = list(columns)
    body["rows"] = [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    return JSONResponse(body)


def forbid(message: str = "not allowed for your role") -> HTTPException:
    return HTTPException(403, message)
