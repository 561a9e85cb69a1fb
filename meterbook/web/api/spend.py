"""``/api/v1/spend``, ``/api/v1/budgets`` and ``/api/v1/allocations``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from meterbook import allocations as allocations_lib
from meterbook import budgets as budgets_lib
from meterbook.auth import Principal
from meterbook.errors import ConfigError
from meterbook.periods import parse_date
from meterbook.store.queries.spend import (
    COSTS,
    DIMENSIONS,
    SpendFilters,
    spend_summary,
    unallocated,
)
from meterbook.web.common import (
    FieldError,
    Format,
    FromText,
    PeriodText,
    SprintText,
    ToText,
    field_of,
    forbid,
    period_json,
    plain,
    table_response,
    window,
)
from meterbook.web.scope import spend_teams
from meterbook.web.security import Admin, Reader, Who

router = APIRouter(prefix="/api/v1", tags=["spend and budgets"])
Names = Annotated[list[str], Query(max_length=20)]


def _library_error(exc: ConfigError) -> FieldError:
    return FieldError(field_of(str(exc)), str(exc))


@router.get("/spend", summary="Spend aggregates")
def spend(
    request: Request,
    who: Who,
    by: Annotated[
        list[str], Query(max_length=4, description=f"Group by: {', '.join(DIMENSIONS)}")
    ] = [],  # noqa: B006
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    sprint: SprintText = None,
    provider: Names = [],  # noqa: B006
    division: Names = [],  # noqa: B006
    team: Names = [],  # noqa: B006
    project: Names = [],  # noqa: B006
    group: Names = [],  # noqa: B006
    service: Names = [],  # noqa: B006
    top: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    format: Format = "json",
) -> Response:
    """Billed, effective and list cost and line counts from the spend rollup (as
    ``meterbook spend``), grouped by any dimensions."""
    span = window(request, period, start, end, sprint)
    for name in by:
        if name not in DIMENSIONS:
            raise FieldError("by", f"unknown dimension {name!r} (use {', '.join(DIMENSIONS)})")
    teams = spend_teams(who, team)
    filters = SpendFilters(
        providers=tuple(provider),
        divisions=tuple(division),
        teams=teams or (),
        projects=tuple(project),
        groups=tuple(group),
        services=tuple(service),
    )
    try:
        with request.app.state.store.engine.connect() as conn:
            report = spend_summary(conn, span, by, filters, top)
    except ConfigError as exc:
        raise _library_error(exc) from exc
    columns = [*by, *COSTS, "lines"]
    rows = [(*r.group, r.billed_cost, r.effective_cost, r.list_cost, r.lines) for r in report.rows]
    total = report.total
    extra = {
        "period": period_json(span),
        "by": by,
        "currencies": report.currencies,
        "total": {
            "billed_cost": plain(total.billed_cost),
            "effective_cost": plain(total.effective_cost),
            "list_cost": plain(total.list_cost),
            "lines": total.lines,
        },
    }
    return table_response(format, columns, rows, extra, filename=f"spend-{span.label}.csv")


@router.get("/spend/unallocated", summary="Costs no project claims")
def spend_unallocated(
    request: Request,
    who: Reader,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    format: Format = "json",
) -> Response:
    span = window(request, period, start, end)
    with request.app.state.store.engine.connect() as conn:
        found = unallocated(conn, span)
    columns = (
        "provider",
        "project_ext",
        "sub_account_name",
        "currency",
        "billed_cost",
        "lines",
        "first_day",
        "last_day",
    )
    rows = [
        (
            r.provider,
            r.project_ext,
            r.sub_account_name,
            r.currency,
            r.billed_cost,
            r.lines,
            r.first_day,
            r.last_day,
        )
        for r in found
    ]
    return table_response(
        format,
        columns,
        rows,
        {"period": period_json(span)},
        filename=f"unallocated-{span.label}.csv",
    )


_BUDGET_COLUMNS = (
    "month",
    "provider",
    "team",
    "amount",
    "currency",
    "comment",
    "response",
    "updated_at",
)


@router.get("/budgets", summary="Budgets per month, provider and team")
def list_budgets(
    request: Request,
    who: Who,
    month: Names = [],  # noqa: B006
    provider: Names = [],  # noqa: B006
    team: Names = [],  # noqa: B006
    format: Format = "json",
) -> Response:
    teams = spend_teams(who, team)
    try:
        with request.app.state.store.engine.connect() as conn:
            found = budgets_lib.list_budgets(
                conn, months=month, providers_=provider, teams_=teams or ()
            )
    except ConfigError as exc:
        raise _library_error(exc) from exc
    rows = [
        (
            b.month,
            b.provider,
            b.team,
            b.amount,
            b.currency,
            b.comment,
            b.response,
            b.updated_at.isoformat(sep=" "),
        )
        for b in found
    ]
    return table_response(format, _BUDGET_COLUMNS, rows, filename="budgets.csv")


class BudgetIn(BaseModel):
    month: str = Field(max_length=7, examples=["2026-10"])
    provider: str = Field(max_length=120)
    team: str = Field(max_length=120)
    amount: str | None = Field(default=None, max_length=40, examples=["5000"])
    currency: str | None = Field(default=None, max_length=3)
    comment: str | None = Field(default=None, max_length=2000)
    response: str | None = Field(default=None, max_length=2000)


@router.put("/budgets", summary="Set a budget (admin)")
def set_budget(request: Request, who: Admin, body: BudgetIn) -> JSONResponse:
    try:
        with request.app.state.store.engine.begin() as conn:
            budget, outcome = budgets_lib.set_budget(
                conn,
                body.month,
                body.provider,
                body.team,
                body.amount,
                currency=body.currency,
                comment=body.comment,
                response=body.response,
            )
    except ConfigError as exc:
        raise _library_error(exc) from exc
    return JSONResponse(
        {"outcome": outcome, "budget": {k: plain(v) for k, v in budget.as_dict().items()}}
    )


class ResponseIn(BaseModel):
    month: str = Field(max_length=7)
    provider: str = Field(max_length=120)
    team: str = Field(max_length=120)
    response: str = Field(max_length=2000)


@router.put("/budgets/response", summary="The team's response to its budget (manager, admin)")
def set_response(request: Request, who: Who, body: ResponseIn) -> JSONResponse:
    if not (who.is_admin or (who.role == "manager" and body.team in who.teams)):
        raise forbid("only an admin or a manager of the team writes its budget response")
    with request.app.state.store.engine.begin() as conn:
        existing = budgets_lib.get_budget(conn, body.month, body.provider, body.team)
        if existing is None:
            raise FieldError(
                "team",
                f"no budget for team {body.team!r} at provider {body.provider!r} in {body.month}",
            )
        budget, outcome = budgets_lib.set_budget(
            conn, body.month, body.provider, body.team, response=body.response
        )
    return JSONResponse(
        {"outcome": outcome, "budget": {k: plain(v) for k, v in budget.as_dict().items()}}
    )


class CloneIn(BaseModel):
    source: str = Field(alias="from", max_length=7)
    target: str = Field(alias="to", max_length=7)


@router.post("/budgets/clone", summary="Copy a month's budgets into another (admin)")
def clone_budgets(request: Request, who: Admin, body: CloneIn) -> JSONResponse:
    try:
        with request.app.state.store.engine.begin() as conn:
            result = budgets_lib.clone(conn, body.source, body.target)
    except ConfigError as exc:
        raise _library_error(exc) from exc
    return JSONResponse({"created": result.created, "skipped": result.skipped})


@router.get("/budgets/overunder", summary="Actual against budget per team and month")
def over_under(
    request: Request,
    who: Who,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    by_provider: bool = False,
    provider: Names = [],  # noqa: B006
    team: Names = [],  # noqa: B006
    format: Format = "json",
) -> Response:
    span = window(request, period, start, end)
    teams = spend_teams(who, team)
    with request.app.state.store.engine.connect() as conn:
        report = budgets_lib.over_under(
            conn, span, by_provider=by_provider, providers_=provider, teams_=teams or ()
        )
    columns = (
        "month",
        "provider",
        "team",
        "actual",
        "budget",
        "difference",
        "currency",
        "status",
        "response",
    )
    rows = [
        (
            r.month,
            r.provider,
            r.team,
            r.actual,
            r.budget,
            r.difference,
            r.currency,
            r.status,
            r.response,
        )
        for r in report.rows
    ]
    return table_response(
        format,
        columns,
        rows,
        {"period": period_json(report.period)},
        filename=f"overunder-{span.label}.csv",
    )


def _as_of(raw: str | None) -> date:
    try:
        return parse_date(raw, "as_of") if raw else date.today()
    except ConfigError as exc:
        raise FieldError("as_of", str(exc)) from exc


_ALLOCATION_COLUMNS = (
    "name",
    "scope_kind",
    "scope",
    "quantity",
    "amount",
    "unit",
    "start",
    "end",
    "used",
    "remaining",
    "percent_used",
    "daily_burn",
    "exhaustion",
    "exhausts_early",
)


def _visible_allocation(who: Principal, allocation: allocations_lib.Allocation) -> bool:
    return who.reads_everything or (who.role == "manager" and allocation.scope in who.projects)


@router.get("/allocations", summary="Allocations with their burn-down")
def list_allocations(
    request: Request,
    who: Who,
    as_of: Annotated[str | None, Query(max_length=10)] = None,
    format: Format = "json",
) -> Response:
    if who.role == "member":
        raise forbid("allocations are for managers, analysts and admins")
    day = _as_of(as_of)
    with request.app.state.store.engine.connect() as conn:
        found = [
            allocations_lib.burn_down(conn, a.name, day)
            for a in allocations_lib.list_allocations(conn)
            if _visible_allocation(who, a)
        ]
    rows = [
        (
            b.allocation.name,
            b.allocation.scope_kind,
            b.allocation.scope,
            b.allocation.quantity,
            b.allocation.amount,
            b.allocation.unit,
            b.allocation.start,
            b.allocation.end,
            b.used,
            b.remaining,
            b.percent_used,
            b.daily_burn,
            b.exhaustion,
            b.exhausts_early,
        )
        for b in found
    ]
    return table_response(
        format, _ALLOCATION_COLUMNS, rows, {"as_of": day.isoformat()}, filename="allocations.csv"
    )


@router.get("/allocations/{name}", summary="One allocation's burn-down with its series")
def allocation(
    request: Request,
    who: Who,
    name: str,
    as_of: Annotated[str | None, Query(max_length=10)] = None,
    series: Annotated[str, Query(pattern="^(day|week)$")] = "day",
) -> JSONResponse:
    day = _as_of(as_of)
    with request.app.state.store.engine.connect() as conn:
        found = {a.name: a for a in allocations_lib.list_allocations(conn)}.get(name)
        if found is None or not _visible_allocation(who, found):
            return JSONResponse({"message": f"no allocation {name!r}"}, status_code=404)
        burn = allocations_lib.burn_down(conn, name, day, series=series)
    body = {
        c: plain(v)
        for c, v in zip(
            _ALLOCATION_COLUMNS,
            (
                burn.allocation.name,
                burn.allocation.scope_kind,
                burn.allocation.scope,
                burn.allocation.quantity,
                burn.allocation.amount,
                burn.allocation.unit,
                burn.allocation.start,
                burn.allocation.end,
                burn.used,
                burn.remaining,
                burn.percent_used,
                burn.daily_burn,
                burn.exhaustion,
                burn.exhausts_early,
            ),
            strict=True,
        )
    }
    body["series"] = [
        {"day": p.day.isoformat(), "used": str(p.used), "cumulative": str(p.cumulative)}
        for p in burn.series
    ]
    return JSONResponse(body)
