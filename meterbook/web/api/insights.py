"""``/api/v1`` forecasts, anomalies, alerts, data freshness, charges, rates and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from meterbook import alerts as alerts_lib
from meterbook import anomalies as anomalies_lib
from meterbook import forecast as forecast_lib
from meterbook.auth import Principal
from meterbook.errors import ConfigError
from meterbook.reports.output import file_under, written_files
from meterbook.store.queries.charges import ChargeFilters, charges_summary
from meterbook.store.queries.freshness import freshness
from meterbook.store.queries.rates import add_rate, list_rates, make_spec
from meterbook.web.common import (
    FieldError,
    Format,
    FromText,
    PeriodText,
    RowId,
    SprintText,
    ToText,
    field_of,
    forbid,
    period_json,
    plain,
    table_response,
    window,
)
from meterbook.web.scope import accounts_in_scope, report_teams, visible_key
from meterbook.web.security import Admin, Reader, Who

router = APIRouter(prefix="/api/v1", tags=["forecasts, alerts, rating, reports"])
Names = Annotated[list[str], Query(max_length=20)]


def _library(exc: ConfigError) -> FieldError:
    return FieldError(field_of(str(exc)), str(exc))


@router.get("/freshness", summary="Every source with data and its last day")
def data_freshness(request: Request, who: Who, format: Format = "json") -> Response:
    store = request.app.state.store
    with store.engine.connect() as conn:
        found = freshness(conn, store.zone)
    rows = [(f.kind, f.name, f.last_day) for f in found]
    return table_response(
        format, ("kind", "source", "complete_through"), rows, filename="freshness.csv"
    )


@router.get("/forecasts", summary="Month-end projections with prediction intervals")
def forecasts(
    request: Request,
    who: Who,
    by: Annotated[str, Query(pattern="^(provider|team|project|account|user|cluster|total)$")] = (
        "team"
    ),
    metric: Annotated[str, Query(max_length=20)] = "cost",
    months: Annotated[int, Query(ge=0, le=12)] = 1,
    method: Annotated[str, Query(pattern="^(auto|dubweb|ets|naive)$")] = "auto",
    as_of: Annotated[str | None, Query(max_length=10)] = None,
    format: Format = "json",
) -> Response:
    """As ``meterbook forecast``: the month of ``as_of`` (default: the last day with data) and
    the ``months`` after it, per series; a manager gets only their teams' or projects'."""
    if who.role == "member":
        raise forbid("forecasts are for managers, analysts and admins")
    if who.role == "manager" and by not in ("team", "project", "account"):
        raise forbid("a manager forecasts by team, project or account")
    from meterbook.periods import parse_date

    try:
        day = parse_date(as_of, "as_of") if as_of else None
        found = forecast_lib.forecast(
            request.app.state.store.engine,
            by=by,
            metric=metric,
            months=months,
            method=method,
            as_of=day,
        )
    except ConfigError as exc:
        raise _library(exc) from exc
    columns = (
        "series",
        "method",
        "month",
        "actual_to_date",
        "forecast",
        "lo80",
        "hi80",
        "lo95",
        "hi95",
    )
    rows = [
        (s.key, s.method, m.month, m.actual_to_date, m.forecast, m.lo80, m.hi80, m.lo95, m.hi95)
        for s in found
        if visible_key(who, by, s.key)
        for m in s.months
    ]
    return table_response(
        format, columns, rows, {"by": by, "metric": metric}, filename=f"forecast-{by}.csv"
    )


@router.get("/anomalies", summary="Unusual days of usage and spend, with severity")
def anomalies(
    request: Request,
    who: Who,
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    sprint: SprintText = None,
    kind: Annotated[list[str], Query(max_length=2)] = [],  # noqa: B006
    by: Annotated[list[str], Query(max_length=3)] = [],  # noqa: B006
    min_severity: Annotated[str, Query(pattern="^(low|medium|high)$")] = "low",
    format: Format = "json",
) -> Response:
    if who.role == "member":
        raise forbid("anomalies are for managers, analysts and admins")
    span = window(request, period, start, end, sprint)
    try:
        found = anomalies_lib.detect(
            request.app.state.store.engine,
            start=span.start,
            end=span.end,
            kinds=kind or anomalies_lib.KINDS,
            by=by or anomalies_lib.DIMENSIONS,
            min_severity=min_severity,
        )
    except ConfigError as exc:
        raise _library(exc) from exc
    columns = (
        "day",
        "kind",
        "dimension",
        "key",
        "metric",
        "expected",
        "actual",
        "score",
        "severity",
    )
    rows = [
        (a.day, a.kind, a.dimension, a.key, a.metric, a.expected, a.actual, a.score, a.severity)
        for a in found
        if visible_key(who, a.dimension, a.key)
    ]
    return table_response(
        format, columns, rows, {"period": period_json(span)}, filename=f"anomalies-{span.label}.csv"
    )


def _visible_alert(who: Principal, alert: alerts_lib.Alert) -> bool:
    if who.reads_everything:
        return True
    kind, _, key = alert.subject.partition(" ")
    if kind == "allocation":
        return False
    return who.role == "manager" and visible_key(who, kind, key)


_ALERT_COLUMNS = (
    "id",
    "rule",
    "kind",
    "severity",
    "subject",
    "period",
    "metric",
    "value",
    "threshold",
    "expected",
    "message",
    "created_at",
    "acknowledged_at",
    "acknowledged_by",
)


@router.get("/alerts", summary="Alerts raised by the rules")
def list_alerts(
    request: Request,
    who: Who,
    open_only: Annotated[bool, Query(alias="open")] = False,
    kind: Names = [],  # noqa: B006
    min_severity: Annotated[str, Query(pattern="^(low|medium|high)$")] = "low",
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
    format: Format = "json",
) -> Response:
    if who.role == "member":
        raise forbid("alerts are for managers, analysts and admins")
    with request.app.state.store.engine.connect() as conn:
        found = alerts_lib.list_alerts(
            conn, open_only=open_only, kinds=kind, min_severity=min_severity
        )
    found = [a for a in found if _visible_alert(who, a)][:limit]
    rows = [tuple(a.as_dict()[c] for c in _ALERT_COLUMNS) for a in found]
    return table_response(format, _ALERT_COLUMNS, rows, filename="alerts.csv")


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge an alert (admin, analyst)")
def ack_alert(request: Request, who: Reader, alert_id: RowId) -> JSONResponse:
    try:
        with request.app.state.store.engine.begin() as conn:
            done = alerts_lib.acknowledge(conn, [alert_id], who.login)
    except ConfigError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    return JSONResponse({k: plain(v) for k, v in done[0].as_dict().items()})


@router.get("/charges", summary="Charges of rated usage")
def charges(
    request: Request,
    who: Who,
    by: Annotated[list[str], Query(max_length=4)] = [],  # noqa: B006
    period: PeriodText = None,
    start: FromText = None,
    end: ToText = None,
    account: Names = [],  # noqa: B006
    currency: Annotated[str | None, Query(pattern="^[A-Za-z]{3}$")] = None,
    format: Format = "json",
) -> Response:
    if who.role == "member":
        raise forbid("charges are for managers, analysts and admins")
    account = accounts_in_scope(who, account)
    span = window(request, period, start, end)
    try:
        with request.app.state.store.engine.connect() as conn:
            report = charges_summary(
                conn,
                span,
                by,
                ChargeFilters(accounts=tuple(account)),
                currency=currency.upper() if currency else None,
            )
    except ConfigError as exc:
        raise _library(exc) from exc
    rows = [(*r.group, r.currency, r.units, r.amount) for r in report.rows]
    return table_response(
        format,
        [*by, "currency", "units", "amount"],
        rows,
        {"period": period_json(span), "totals": {k: plain(v) for k, v in report.totals.items()}},
        filename=f"charges-{span.label}.csv",
    )


@router.get("/rates", summary="Rate cards and their versions")
def rates(request: Request, who: Reader, format: Format = "json") -> Response:
    with request.app.state.store.engine.connect() as conn:
        found = list_rates(conn)
    columns = (
        "card",
        "quantity",
        "scope",
        "currency",
        "version",
        "effective_from",
        "effective_to",
        "price",
        "note",
    )
    rows = [
        (
            line.card.id,
            line.card.quantity,
            line.card.label(),
            line.card.currency,
            line.version,
            line.effective_from,
            line.effective_to,
            line.price,
            line.note,
        )
        for line in found
    ]
    return table_response(format, columns, rows, filename="rates.csv")


class RateIn(BaseModel):
    quantity: str = Field(max_length=40, examples=["cpu_hours"])
    price: str = Field(max_length=40, examples=["0.02"])
    currency: str = Field(max_length=3, examples=["EUR"])
    effective_from: str = Field(max_length=10, examples=["2026-01-01"])
    scope: dict[str, str] = Field(default_factory=dict, examples=[{"cluster": "aurora"}])
    note: str | None = Field(default=None, max_length=500)


@router.post("/rates", summary="Add a rate card version (admin)", status_code=201)
def add_rate_version(request: Request, who: Admin, body: RateIn) -> JSONResponse:
    try:
        spec = make_spec(
            body.quantity,
            body.price,
            body.currency,
            body.effective_from,
            dict(body.scope),
            note=body.note,
        )
        with request.app.state.store.engine.begin() as conn:
            card, version, outcome = add_rate(conn, spec)
    except ConfigError as exc:
        raise _library(exc) from exc
    return JSONResponse(
        {"card": card.id, "label": card.label(), "version": version, "outcome": outcome},
        status_code=201,
    )


@router.get("/reports", summary="Report files written (newest of each type and period)")
def reports(request: Request, who: Who, format: Format = "json") -> Response:
    """The whole organisation's reports and every team's (a manager: their teams' only)."""
    base = Path(request.app.state.settings.reports_directory)
    rows = written_files(base, teams=report_teams(who))
    columns = ("team", "type", "period", "file", "bytes")
    return table_response(format, columns, rows, filename="reports.csv")


@router.get("/reports/files/{path:path}", summary="Download a report file")
def report_download(request: Request, who: Who, path: str) -> Response:
    base = Path(request.app.state.settings.reports_directory)
    target = file_under(base, path, report_teams(who))
    if target is None:
        return JSONResponse({"message": "no such report file"}, status_code=404)
    return FileResponse(target)


class ReportRun(BaseModel):
    type: str = Field(max_length=40, examples=["usage"])
    period: str | None = Field(default=None, max_length=40, examples=["2026-10"])
    formats: list[str] = Field(default_factory=lambda: ["html", "json"], max_length=8)
    team: str | None = Field(default=None, max_length=120)


@router.post(
    "/reports", summary="Produce a report now (admin; a manager: their team's)", status_code=201
)
def run_report(request: Request, who: Who, body: ReportRun) -> JSONResponse:
    """An admin produces any report; a manager the reports of one of their teams."""
    from meterbook.reports import period_of, produce

    if not who.is_admin and not (who.role == "manager" and body.team in who.teams):
        raise forbid("only an admin, or a manager for one of their teams, produces reports")
    settings = request.app.state.settings
    try:
        period = period_of(settings, body.period)
        made, folder = produce(
            request.app.state.store, settings, body.type, period, body.formats, team=body.team
        )
    except ConfigError as exc:
        raise _library(exc) from exc
    base = Path(settings.reports_directory).resolve()
    files = [
        Path(f).resolve().relative_to(base).as_posix() if Path(f).is_absolute() else str(f)
        for f in made.files
    ]
    return JSONResponse(
        {"type": made.type, "period": made.period.label, "folder": str(folder), "files": files},
        status_code=201,
    )
