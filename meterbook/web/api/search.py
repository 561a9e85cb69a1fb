"""``/api/v1/search``: users, projects, teams, divisions and resources by name, in scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from meterbook.errors import ConfigError
from meterbook.store.queries.search import KINDS, search
from meterbook.web.common import FieldError, Format, field_of, table_response
from meterbook.web.scope import link_of, search_visible
from meterbook.web.security import Who

router = APIRouter(prefix="/api/v1", tags=["search"])


@router.get("/search", summary="Find users, projects, teams, divisions and resources by name")
def find(
    request: Request,
    who: Who,
    q: Annotated[str, Query(min_length=1, max_length=200, description="text in the name")],
    kind: Annotated[
        list[str], Query(max_length=5, description=f"only these (repeat): {', '.join(KINDS)}")
    ] = [],  # noqa: B006  (FastAPI reads the default, never mutates it)
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    format: Format = "json",
) -> Response:
    """Only what the caller may read is searched: a manager finds their teams, their teams'
    projects and users; a member themselves."""
    unknown = [k for k in kind if k not in KINDS]
    if unknown:
        raise FieldError("kind", f"kind: {unknown[0]!r} is not one of {', '.join(KINDS)}")
    visible = search_visible(who)
    if kind:
        visible = {k: v for k, v in visible.items() if k in kind}
    try:
        with request.app.state.store.engine.connect() as conn:
            hits = search(conn, q, visible, limit)
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc
    rows = [(h.kind, h.name, h.detail, link_of(h)) for h in hits]
    return table_response(
        format, ("kind", "name", "detail", "link"), rows, {"q": q}, filename="search.csv"
    )
