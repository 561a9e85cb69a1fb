"""``/api/v1/match-rules`` (the workload groups of billing lines) and ``/api/v1/sources`` (the
API sources of meterbook.toml: list, check, collect now)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from meterbook import collecting
from meterbook import spend as spend_lib
from meterbook.attribution import MATCH_FIELDS
from meterbook.errors import ConfigError, InputError, MeterbookError
from meterbook.web.common import FieldError, Format, RowId, field_of, table_response
from meterbook.web.security import Admin, Reader

router = APIRouter(prefix="/api/v1", tags=["match rules and sources"])

RULE_COLUMNS = (
    "ruleid",
    "rank",
    "groupname",
    "textmatch",
    "prvid",
    "provider",
    "field",
    "scalefactor",
    "scaleunit",
)


class RuleIn(BaseModel):
    """A match rule, with the columns of the match-rule CSV."""

    ruleid: int | None = Field(default=None, ge=1, le=2_147_483_647)
    rank: int = Field(ge=-1_000_000, le=1_000_000, examples=[10])
    groupname: str = Field(min_length=1, max_length=120, examples=["GPU training"])
    textmatch: str = Field(max_length=500, examples=["(?i)gpu"])
    prvid: str | None = Field(default=None, max_length=120, description="Provider id or name")
    field: str = Field(default="metric", pattern=f"^({'|'.join(MATCH_FIELDS)})$")
    scalefactor: str | None = Field(default=None, max_length=40)
    scaleunit: str | None = Field(default=None, max_length=40)


class RulesIn(BaseModel):
    rules: list[RuleIn] = Field(max_length=10_000)


def _rules_table(request: Request, fmt: str) -> Response:
    with request.app.state.store.engine.connect() as conn:
        found = spend_lib.list_match_rules(conn)
    rows = [[r[c] for c in RULE_COLUMNS] for r in found]
    return table_response(fmt, RULE_COLUMNS, rows, filename="match-rules.csv")


def _replace(request: Request, rules: list[dict[str, Any]]) -> JSONResponse:
    """Validate ``rules`` (rows of the CSV's columns), replace every rule, re-attribute."""
    try:
        with request.app.state.store.engine.begin() as conn:
            parsed = spend_lib.match_rules_from(
                conn, ((f"rules[{i}]", r) for i, r in enumerate(rules))
            )
            moved = spend_lib.replace_match_rules(conn, parsed)
    except (ConfigError, InputError) as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc
    return JSONResponse({"rules": len(parsed), "lines_moved": moved})


def _current(request: Request) -> list[dict[str, Any]]:
    with request.app.state.store.engine.connect() as conn:
        return [
            {k: v for k, v in r.items() if k != "provider"}
            for r in spend_lib.list_match_rules(conn)
        ]


@router.get("/match-rules", summary="Match rules: which billing lines form which workload group")
def list_rules(request: Request, who: Reader, format: Format = "json") -> Response:
    return _rules_table(request, format)


@router.put("/match-rules", summary="Replace every match rule and re-attribute (admin)")
def replace_rules(request: Request, who: Admin, body: RulesIn) -> JSONResponse:
    """The same as ``meterbook spend match import``: all rules at once, checked first (a bad
    rule changes nothing), then every billing line is attributed again."""
    return _replace(request, [r.model_dump() for r in body.rules])


@router.post("/match-rules", summary="Add a match rule and re-attribute (admin)", status_code=201)
def add_rule(request: Request, who: Admin, body: RuleIn) -> JSONResponse:
    rules = _current(request)
    rule = body.model_dump()
    if rule["ruleid"] is None:
        rule["ruleid"] = max((int(r["ruleid"]) for r in rules), default=0) + 1
    response = _replace(request, [*rules, rule])
    response.status_code = 201
    return response


@router.delete("/match-rules/{rule_id}", summary="Remove a match rule and re-attribute (admin)")
def remove_rule(request: Request, who: Admin, rule_id: RowId) -> JSONResponse:
    rules = _current(request)
    kept = [r for r in rules if int(r["ruleid"]) != rule_id]
    if len(kept) == len(rules):
        return JSONResponse({"message": f"no match rule {rule_id}"}, status_code=404)
    return _replace(request, kept)


# Sources ------------------------------------------------------------------------------------

SOURCE_COLUMNS = ("name", "type", "where", "collects")


@router.get("/sources", summary="The API sources configured in meterbook.toml")
def list_sources(request: Request, who: Reader, format: Format = "json") -> Response:
    configured = request.app.state.settings.sources.values()
    rows = [collecting.describe_source(c) for c in configured]
    return table_response(format, SOURCE_COLUMNS, rows, filename="sources.csv")


def _source(request: Request, name: str) -> Any:
    try:
        return collecting.source_config(request.app.state.settings, name)
    except ConfigError as exc:
        raise HTTPException(404, str(exc)) from exc


@router.post("/sources/{name}/check", summary="Can the source be reached? (admin)")
def check_source(request: Request, who: Admin, name: str) -> JSONResponse:
    config = _source(request, name)
    try:
        detail = collecting.check_source(config, request.app.state.settings)
    except MeterbookError as exc:
        return JSONResponse({"source": name, "ok": False, "message": str(exc)}, status_code=502)
    return JSONResponse({"source": name, "ok": True, "detail": detail})


class CollectIn(BaseModel):
    period: str | None = Field(default=None, max_length=40, examples=["2026-10"])
    start: str | None = Field(default=None, alias="from", max_length=10)
    end: str | None = Field(default=None, alias="to", max_length=10)
    sprint: str | None = Field(default=None, max_length=20)


@router.post("/sources/{name}/collect", summary="Collect from the source now (admin)")
def collect_source(
    request: Request, who: Admin, name: str, body: Annotated[CollectIn | None, Body()] = None
) -> JSONResponse:
    """The same as ``meterbook collect NAME``: from the watermark up to now, or over the
    period given; collecting a range again changes nothing."""
    _source(request, name)
    settings = request.app.state.settings
    body = body or CollectIn()
    try:
        window = collecting.requested_period(
            settings, period=body.period, start=body.start, end=body.end, sprint=body.sprint
        )
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc
    try:
        result = collecting.collect(request.app.state.store, settings, name, period=window)
    except ConfigError as exc:
        raise FieldError(field_of(str(exc)), str(exc)) from exc
    except MeterbookError as exc:
        return JSONResponse({"source": name, "message": str(exc)}, status_code=502)
    return JSONResponse(result.as_dict())
