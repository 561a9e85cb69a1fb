"""The dashboard pages: server-rendered Jinja2 templates over the same store queries as the
CLI, the API and the reports; charts are the reports' Vega-Lite specifications, rendered in
the browser by the Vega bundle this app serves (works offline).

Every page enforces the principal's scope exactly as the API does (the same helpers): a
manager sees their teams' projects, users and spend; a member their own usage.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from sqlalchemy import Connection, select

from meterbook import __version__, allocations, auth, budgets
from meterbook.auth import Principal
from meterbook.errors import ConfigError
from meterbook.periods import Period, add_months, day_start, resolve_period
from meterbook.reports import charts
from meterbook.reports.model import Chart
from meterbook.reports.output import file_under, written_files
from meterbook.store.queries import io as ioq
from meterbook.store.queries.freshness import freshness
from meterbook.store.queries.imports import list_rejects, list_runs
from meterbook.store.queries.metrics import MetricScope, metric_summary
from meterbook.store.queries.records import usage_records_page
from meterbook.store.queries.search import Hit, search
from meterbook.store.queries.spend import (
    SpendFilters,
    spend_summary,
    unallocated,
)
from meterbook.store.queries.usage import MEASURES, UsageFilters, usage_summary
from meterbook.store.schema import divisions, projects, teams
from meterbook.web.api.admin import set_session_cookie, sign_in
from meterbook.web.common import RowId, forbid
from meterbook.web.scope import link_of, report_teams, search_visible, spend_teams, usage_filters
from meterbook.web.security import CSRF_FIELD, SESSION_COOKIE, current, find_principal

LOGIN_CSRF = "mb_login_csrf"
_HERE = Path(__file__).parent
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["urlencode"] = lambda v: jinja2.filters.do_urlencode(str(v))

NAV_ALL = (
    ("/", "Overview"),
    ("/explorer", "Explorer"),
    ("/users", "Users"),
    ("/projects", "Projects"),
    ("/teams", "Teams"),
    ("/divisions", "Divisions"),
    ("/machines", "Machines"),
    ("/io", "IO"),
    ("/spend", "Spend"),
    ("/reports", "Reports"),
    ("/imports", "Imports"),
    ("/admin", "Admin"),
)
NAV_MANAGER = ("/", "/explorer", "/users", "/projects", "/teams", "/spend", "/reports")
NAV_MEMBER = ("/", "/explorer")
MEASURE_TITLES = {
    "cpu_hours": "CPU hours",
    "gpu_hours": "GPU hours",
    "node_hours": "Node hours",
    "wall_hours": "Wall hours",
    "mem_gb_hours": "Memory GB·hours",
    "jobs_started": "Jobs started",
    "jobs_ended": "Jobs ended",
    "jobs_running": "Jobs running",
    "avg_wait_hours": "Avg wait (h)",
}

PageWho = Annotated[Principal, Depends(current)]
SEARCH_LIMIT = 50


# Building blocks ----------------------------------------------------------------------------


def fmt(value: Any, places: int = 2) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal):
        return f"{value:,.{places}f}"
    return str(value)


@dataclass
class Block:
    kind: str
    title: str = ""
    note: str = ""
    wide: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)
    spec_json: str = ""
    columns: Sequence[str] = ()
    rows: list[list[Any]] = field(default_factory=list)
    numeric: set[int] = field(default_factory=set)
    links: dict[int, str] = field(default_factory=dict)
    footer: list[Any] | None = None
    csv: str | None = None
    html: str = ""


def cards(title: str, items: Sequence[tuple[str, Any, str]]) -> Block:
    return Block(
        "cards", title, items=[{"label": a, "value": fmt(b), "unit": c} for a, b, c in items]
    )


def chart(c: Chart, *, zoom: bool = False, wide: bool = True) -> Block:
    spec = dict(c.spec)
    spec["width"] = "container"
    spec["autosize"] = {"type": "fit-x", "contains": "padding"}
    if zoom:  # drag to pan, wheel to zoom the time axis; double-click resets
        target = spec["layer"][0] if "layer" in spec else spec
        target.setdefault("params", []).append(
            {"name": "zoom", "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"}
        )
    return Block("chart", c.title, wide=wide, spec_json=json.dumps(spec, default=str))


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    numeric_from: int | None = None,
    links: dict[int, str] | None = None,
    csv: str | None = None,
    wide: bool = False,
    note: str = "",
    footer: Sequence[Any] | None = None,
) -> Block:
    numeric = set(range(numeric_from, len(columns))) if numeric_from is not None else set()
    cells = [[fmt(v) if i in numeric else v for i, v in enumerate(r)] for r in rows]
    return Block(
        "table",
        title,
        note=note,
        wide=wide,
        columns=columns,
        rows=cells,
        numeric=numeric,
        links=links or {},
        csv=csv,
        footer=None if footer is None else [fmt(v) for v in footer],
    )


def html_block(template: str, title: str = "", wide: bool = False, **values: Any) -> Block:
    return Block("html", title, wide=wide, html=_env.get_template(template).render(**values))


def nav_for(who: Principal) -> list[tuple[str, str]]:
    if who.is_admin:
        return list(NAV_ALL)
    if who.reads_everything:
        return [n for n in NAV_ALL if n[0] != "/admin"]
    allowed = NAV_MANAGER if who.role == "manager" else NAV_MEMBER
    return [n for n in NAV_ALL if n[0] in allowed]


def page(
    request: Request,
    who: Principal | None,
    title: str,
    blocks: Sequence[Block],
    *,
    section: str = "/",
    subtitle: str = "",
    period: Period | None = None,
    keep: Sequence[tuple[str, str]] = (),
    messages: Sequence[str] = (),
    status_code: int = 200,
) -> HTMLResponse:
    period_form = None
    if period is not None:
        shortcuts = []
        for label, value in _shortcuts(period):
            shortcuts.append((label, urlencode([*keep, ("period", value)])))
        period_form = {"period": period.label, "hidden": keep, "shortcuts": shortcuts}
    text = _env.get_template("base.html").render(
        title=title,
        who=who,
        nav=nav_for(who) if who else [],
        section=section,
        subtitle=subtitle,
        blocks=blocks,
        charts=any(b.kind == "chart" for b in blocks),
        period_form=period_form,
        messages=messages,
        version=__version__,
    )
    return HTMLResponse(text, status_code=status_code)


def _shortcuts(period: Period) -> list[tuple[str, str]]:
    month = period.start.replace(day=1)
    before = add_months(month, -1)
    after = add_months(month, 1)
    return [
        ("◀ " + before.strftime("%Y-%m"), before.strftime("%Y-%m")),
        (after.strftime("%Y-%m") + " ▶", after.strftime("%Y-%m")),
        (f"{month.year}", f"{month.year}"),
    ]


@cache
def _latest_cache() -> dict[int, tuple[float, date | None]]:
    return {}


def latest_day(request: Request) -> date | None:
    """The median last day with data over the sources (cached for a minute)."""
    import time

    store = request.app.state.store
    memo = _latest_cache()
    hit = memo.get(id(store))
    if hit is not None and time.monotonic() - hit[0] < 60:
        return hit[1]
    with store.engine.connect() as conn:
        days = [f.last_day for f in freshness(conn, store.zone) if f.last_day is not None]
    # The day most sources have reached (a few jobs spilling into the next month do not make
    # an empty month the default).
    found = sorted(days)[len(days) // 2] if days else None
    memo[id(store)] = (time.monotonic(), found)
    return found


def period_of(request: Request, text: str | None) -> Period:
    """``?period=``, else the month of the latest data (so a quiet ledger still shows data)."""
    if text:
        try:
            return resolve_period(text, None, None)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from exc
    last = latest_day(request) or date.today()
    first = last.replace(day=1)
    return Period(first, add_months(first, 1), first.strftime("%Y-%m"))


def days_of(period: Period) -> list[date]:
    return [period.start + timedelta(days=i) for i in range(period.days)]


def _api(path: str, **params: Any) -> str:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None or value == "":
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, str(item)))
    return f"{path}?{urlencode(pairs)}"


# Usage helpers ------------------------------------------------------------------------------


def _filters(who: Principal, **asked: list[str]) -> UsageFilters | None:
    return usage_filters(
        who,
        asked.get("cluster", []),
        asked.get("user", []),
        asked.get("account", []),
        [],
        [],
        [],
        asked.get("source", []),
    )


def _usage(
    conn: Connection,
    period: Period,
    by: Sequence[str],
    filters: UsageFilters | None,
    top: int | None = None,
) -> Any:
    if filters is None:
        return None
    return usage_summary(conn, period, by, filters, top)


def _daily_chart(report: Any, period: Period, measure: str, title: str) -> Block | None:
    if report is None:
        return None
    values = {r.group[0]: getattr(r, measure) for r in report.rows}
    rows = [
        {"day": d.isoformat(), "value": values.get(d.isoformat(), 0.0)} for d in days_of(period)
    ]
    if not any(r["value"] for r in rows):
        return None
    return chart(
        charts.line("daily", title, rows, x="day", y="value", y_title=MEASURE_TITLES[measure]),
        zoom=True,
    )


def _usage_table(
    title: str, report: Any, dimension: str, link: str | None, csv: str | None = None
) -> Block:
    columns = [dimension, "CPU h", "GPU h", "Node h", "Mem GB·h", "Jobs ended", "Running"]
    rows = []
    if report is not None:
        rows = [
            [
                r.group[0],
                r.cpu_hours,
                r.gpu_hours,
                r.node_hours,
                r.mem_gb_hours,
                r.jobs_ended,
                r.jobs_running,
            ]
            for r in report.rows
        ]
    return table(title, columns, rows, numeric_from=1, links={0: link} if link else None, csv=csv)


def _account_teams(conn: Connection) -> dict[str, str]:
    rows = conn.execute(
        select(projects.c.name, teams.c.name.label("team")).join(
            teams, teams.c.id == projects.c.team_id
        )
    )
    return {r.name: r.team for r in rows}


# Pages --------------------------------------------------------------------------------------


def overview(request: Request, who: PageWho, period: str | None = None) -> HTMLResponse:
    span = period_of(request, period)
    store = request.app.state.store
    filters = _filters(who)
    blocks: list[Block] = []
    with store.engine.connect() as conn:
        total = _usage(conn, span, (), filters)
        daily = _usage(conn, span, ("day",), filters)
        top_users = _usage(conn, span, ("user",), filters, 10)
        top_projects = _usage(conn, span, ("account",), filters, 10)
        spend = None
        burn = None
        if who.reads_everything or who.role == "manager":
            teams_ = spend_teams(who, [])
            spend = spend_summary(conn, span, ("provider",), SpendFilters(teams=teams_ or ()))
            burn = budgets.over_under(conn, span, teams_=teams_ or ())
        fresh = freshness(conn, store.zone) if who.reads_everything else []
    t = total.total if total is not None else None
    items = [
        ("CPU hours", t.cpu_hours if t else 0.0, ""),
        ("GPU hours", t.gpu_hours if t else 0.0, ""),
        ("Jobs ended", t.jobs_ended if t else 0, ""),
    ]
    if spend is not None:
        currency = ", ".join(spend.currencies)
        items.append(("Spend", spend.total.billed_cost, currency))
    blocks.append(cards("This period", items))
    if (c := _daily_chart(daily, span, "cpu_hours", "CPU hours per day")) is not None:
        blocks.append(c)
    if burn is not None and burn.rows:
        rows = [
            [
                r.month,
                r.team,
                r.actual,
                r.budget,
                (f"{r.actual * 100 / r.budget:.1f}%" if r.budgeted and r.budget else ""),
                r.status,
            ]
            for r in burn.rows
        ]
        blocks.append(
            table(
                "Budget burn",
                ["month", "team", "actual", "budget", "used", "status"],
                rows,
                numeric_from=2,
                links={1: "/teams/{}"},
            )
        )
        bars = [
            {"team": r.team, "percent": float(r.actual * 100 / r.budget)}
            for r in burn.rows
            if r.budgeted and r.budget
        ]
        if bars:
            blocks.append(
                chart(
                    charts.bar(
                        "burn",
                        "Budget used (%)",
                        bars,
                        category="team",
                        value="percent",
                        value_title="% of budget",
                    ),
                    wide=False,
                )
            )
    link_users = "/users/{}" if who.role != "member" else None
    blocks.append(_usage_table("Top users", top_users, "user", link_users))
    blocks.append(
        _usage_table(
            "Top projects",
            top_projects,
            "account",
            "/projects/{}" if who.role != "member" else None,
        )
    )
    for extra in _extra_overview(request, who, span):
        blocks.append(extra)
    if fresh:
        blocks.append(
            table(
                "Data freshness",
                ["kind", "source", "complete through"],
                [[f.kind, f.name, f.last_day] for f in fresh],
            )
        )
    return page(
        request,
        who,
        "Overview",
        blocks,
        period=span,
        subtitle=f"{span.start} to {span.end - timedelta(days=1)}",
    )


#: Further overview blocks (forecasts, alerts) registered by the modules that provide them.
OVERVIEW_EXTRAS: list[Any] = []


def _extra_overview(request: Request, who: Principal, span: Period) -> list[Block]:
    found: list[Block] = []
    for builder in OVERVIEW_EXTRAS:
        found += builder(request, who, span)
    return found


EXPLORER_MEASURES = tuple(m for m in MEASURES if m != "avg_wait_hours")
EXPLORER_BY = ("user", "account", "cluster", "partition", "qos", "state", "source", "workload")


def explorer(
    request: Request,
    who: PageWho,
    period: str | None = None,
    metric: str = "cpu_hours",
    by: str = "account",
    grain: str = "day",
    top: Annotated[int, Query(ge=1, le=50)] = 8,
    cluster: Annotated[list[str], Query()] = [],  # noqa: B006
    user: Annotated[list[str], Query()] = [],  # noqa: B006
    account: Annotated[list[str], Query()] = [],  # noqa: B006
) -> HTMLResponse:
    if metric not in EXPLORER_MEASURES:
        raise HTTPException(422, f"metric: {metric!r} is not one of {', '.join(EXPLORER_MEASURES)}")
    if by not in EXPLORER_BY:
        raise HTTPException(422, f"by: {by!r} is not one of {', '.join(EXPLORER_BY)}")
    if grain not in ("day", "month", "none"):
        raise HTTPException(422, "grain: day, month or none")
    span = period_of(request, period)
    filters = _filters(who, cluster=cluster, user=user, account=account)
    blocks: list[Block] = []
    state = [("metric", metric), ("by", by), ("grain", grain), ("top", str(top))]
    state += [("cluster", c) for c in cluster] + [("user", u) for u in user]
    state += [("account", a) for a in account]
    blocks.append(
        html_block(
            "explorer_form.html",
            wide=True,
            metric=metric,
            by=by,
            grain=grain,
            top=top,
            measures=EXPLORER_MEASURES,
            dimensions=EXPLORER_BY,
            titles=MEASURE_TITLES,
            cluster=",".join(cluster),
            user=",".join(user),
            account=",".join(account),
            period=span.label,
        )
    )
    with request.app.state.store.engine.connect() as conn:
        ranked = _usage(conn, span, (by,), filters, top)
        series = _usage(conn, span, (by, grain), filters, top) if grain != "none" else None
    title = MEASURE_TITLES[metric]
    if series is not None and series.rows:
        rows = [
            {"group": r.group[0], "time": r.group[1], "value": getattr(r, metric)}
            for r in series.rows
        ]
        blocks.append(
            chart(
                charts.line(
                    "explore",
                    f"{title} per {grain} by {by}",
                    rows,
                    x="time",
                    y="value",
                    y_title=title,
                    series="group",
                ),
                zoom=True,
            )
        )
    elif ranked is not None and ranked.rows:
        rows = [{"group": r.group[0], "value": getattr(r, metric)} for r in ranked.rows]
        blocks.append(
            chart(
                charts.bar(
                    "explore",
                    f"{title} by {by}",
                    rows,
                    category="group",
                    value="value",
                    value_title=title,
                )
            )
        )
    csv_link = _api(
        "/api/v1/usage",
        period=span.label,
        by=[by],
        cluster=cluster,
        user=user,
        account=account,
        top=top,
        format="csv",
    )
    if ranked is not None:
        ranks = [
            [r.group[0], getattr(r, metric), r.cpu_hours, r.gpu_hours, r.jobs_ended]
            for r in ranked.rows
        ]
        link = {"user": "/users/{}", "account": "/projects/{}"}.get(by)
        if who.role == "member":
            link = None
        blocks.append(
            table(
                f"Top {top} by {title}",
                [by, title, "CPU h", "GPU h", "Jobs ended"],
                ranks,
                numeric_from=1,
                links={0: link} if link else None,
                csv=csv_link,
                wide=True,
                footer=[
                    "total",
                    getattr(ranked.total, metric),
                    ranked.total.cpu_hours,
                    ranked.total.gpu_hours,
                    ranked.total.jobs_ended,
                ],
            )
        )
    return page(request, who, "Explorer", blocks, section="/explorer", period=span, keep=state)


def users_page(request: Request, who: PageWho, period: str | None = None) -> HTMLResponse:
    if who.role == "member":
        return RedirectResponse(f"/users/{who.ledger_user}", status_code=303)  # type: ignore[return-value]
    span = period_of(request, period)
    with request.app.state.store.engine.connect() as conn:
        report = _usage(conn, span, ("user",), _filters(who))
    csv = _api("/api/v1/usage", period=span.label, by=["user"], format="csv")
    blocks = [_usage_table("Users", report, "user", "/users/{}", csv)]
    return page(request, who, "Users", blocks, section="/users", period=span)


def user_page(request: Request, who: PageWho, name: str, period: str | None = None) -> HTMLResponse:
    if not who.may_see("user", name):
        raise forbid(f"you may not read the usage of user {name!r}")
    span = period_of(request, period)
    store = request.app.state.store
    filters = _filters(who, user=[name])
    with store.engine.connect() as conn:
        total = _usage(conn, span, (), filters)
        daily = _usage(conn, span, ("day",), filters)
        by_account = _usage(conn, span, ("account",), filters)
        records = (
            usage_records_page(conn, span, store.zone, filters or UsageFilters(), page_size=25)
            if filters
            else None
        )
        try:
            io_detail = ioq.io_user(conn, ioq.IoScope(span, store.zone), name, "day")
        except ConfigError:
            io_detail = None
    t = total.total if total is not None else None
    blocks = [
        cards(
            f"User {name}",
            [
                ("CPU hours", t.cpu_hours if t else 0, ""),
                ("GPU hours", t.gpu_hours if t else 0, ""),
                ("Jobs ended", t.jobs_ended if t else 0, ""),
            ],
        )
    ]
    if (c := _daily_chart(daily, span, "cpu_hours", f"CPU hours per day of {name}")) is not None:
        blocks.append(c)
    blocks.append(
        _usage_table(
            "By account", by_account, "account", "/projects/{}" if who.role != "member" else None
        )
    )
    if io_detail is not None and io_detail.total.ops:
        blocks.append(
            cards(
                "NFS IO",
                [
                    ("Operations", io_detail.total.ops, ""),
                    ("GiB moved", io_detail.total.bytes / 2**30, ""),
                ],
            )
        )
    if records is not None:
        csv = _api(
            "/api/v1/usage/records", period=span.label, user=[name], page_size=1000, format="csv"
        )
        blocks.append(
            table(
                f"Records ({records.total:,}, newest first)",
                ["id", "account", "cluster", "state", "start", "end", "cpus", "gpus"],
                [[r[0], r[5], r[3], r[9], r[12], r[13], r[14], r[15]] for r in records.rows],
                numeric_from=6,
                csv=csv,
                wide=True,
            )
        )
    return page(request, who, f"User {name}", blocks, section="/users", period=span)


def projects_page(request: Request, who: PageWho, period: str | None = None) -> HTMLResponse:
    if who.role == "member":
        raise forbid()
    span = period_of(request, period)
    with request.app.state.store.engine.connect() as conn:
        report = _usage(conn, span, ("account",), _filters(who))
        owners = _account_teams(conn)
    rows = []
    if report is not None:
        rows = [
            [r.group[0], owners.get(r.group[0], ""), r.cpu_hours, r.gpu_hours, r.jobs_ended]
            for r in report.rows
        ]
    csv = _api("/api/v1/usage", period=span.label, by=["account"], format="csv")
    blocks = [
        table(
            "Projects and accounts",
            ["account", "team", "CPU h", "GPU h", "Jobs ended"],
            rows,
            numeric_from=2,
            links={0: "/projects/{}", 1: "/teams/{}"},
            csv=csv,
            wide=True,
        )
    ]
    return page(request, who, "Projects", blocks, section="/projects", period=span)


def project_page(
    request: Request, who: PageWho, name: str, period: str | None = None
) -> HTMLResponse:
    if not who.may_see("project", name):
        raise forbid(f"project {name!r} is not one of yours")
    span = period_of(request, period)
    filters = _filters(who, account=[name])
    with request.app.state.store.engine.connect() as conn:
        daily = _usage(conn, span, ("day",), filters)
        by_user = _usage(conn, span, ("user",), filters)
        grants = [
            allocations.burn_down(conn, a.name, min(date.today(), span.end))
            for a in allocations.list_allocations(conn)
            if a.scope == name
        ]
    blocks: list[Block] = []
    if (c := _daily_chart(daily, span, "cpu_hours", f"CPU hours per day of {name}")) is not None:
        blocks.append(c)
    blocks.append(_usage_table("By user", by_user, "user", "/users/{}"))
    if grants:
        blocks.append(
            table(
                "Allocations",
                ["name", "quantity", "amount", "used", "remaining", "% used", "exhaustion"],
                [
                    [
                        g.allocation.name,
                        g.allocation.unit,
                        g.allocation.amount,
                        g.used,
                        g.remaining,
                        g.percent_used,
                        g.exhaustion,
                    ]
                    for g in grants
                ],
                numeric_from=2,
            )
        )
    return page(request, who, f"Project {name}", blocks, section="/projects", period=span)


def teams_page(request: Request, who: PageWho, period: str | None = None) -> HTMLResponse:
    if who.role == "member":
        raise forbid()
    span = period_of(request, period)
    scope = spend_teams(who, [])
    with request.app.state.store.engine.connect() as conn:
        spend = spend_summary(conn, span, ("team",), SpendFilters(teams=scope or ()))
        usage = _usage(conn, span, ("account",), _filters(who))
        owners = _account_teams(conn)
        all_teams = [r.name for r in conn.execute(select(teams.c.name).order_by(teams.c.name))]
    cpu: dict[str, float] = {}
    for r in usage.rows if usage is not None else []:
        team = owners.get(r.group[0], "(no team)")
        cpu[team] = cpu.get(team, 0.0) + r.cpu_hours
    cost = {r.group[0]: r.billed_cost for r in spend.rows}
    names = [t for t in all_teams if who.may_see("team", t)]
    names += [t for t in (*cost, *cpu) if t not in names and who.reads_everything]
    rows = [[t, cpu.get(t, 0.0), cost.get(t, Decimal(0))] for t in names]
    blocks = [
        table(
            "Teams",
            ["team", "CPU h", f"spend ({', '.join(spend.currencies)})"],
            rows,
            numeric_from=1,
            links={0: "/teams/{}"},
        )
    ]
    return page(request, who, "Teams", blocks, section="/teams", period=span)


def team_page(request: Request, who: PageWho, name: str, period: str | None = None) -> HTMLResponse:
    if not who.may_see("team", name):
        raise forbid(f"team {name!r} is not one of yours")
    span = period_of(request, period)
    with request.app.state.store.engine.connect() as conn:
        owners = _account_teams(conn)
        accounts = [a for a, t in owners.items() if t == name]
        usage = (
            usage_summary(conn, span, ("account",), UsageFilters(accounts=tuple(accounts)))
            if (accounts)
            else None
        )
        monthly = spend_summary(conn, span, ("month", "provider"), SpendFilters(teams=(name,)))
        burn = budgets.over_under(conn, span, teams_=[name], by_provider=True)
    blocks: list[Block] = [_usage_table("Usage by account", usage, "account", "/projects/{}")]
    blocks.append(
        table(
            "Spend by month and provider",
            ["month", "provider", "billed cost"],
            [[*r.group, r.billed_cost] for r in monthly.rows],
            numeric_from=2,
        )
    )
    blocks.append(_overunder_block(request, who, burn.rows))
    return page(request, who, f"Team {name}", blocks, section="/teams", period=span)


def divisions_page(request: Request, who: PageWho, period: str | None = None) -> HTMLResponse:
    if not who.reads_everything:
        raise forbid()
    span = period_of(request, period)
    with request.app.state.store.engine.connect() as conn:
        spend = spend_summary(conn, span, ("division",))
    rows = [[r.group[0], r.billed_cost, r.lines] for r in spend.rows]
    blocks = [
        table(
            "Divisions",
            ["division", "billed cost", "lines"],
            rows,
            numeric_from=1,
            links={0: "/divisions/{}"},
        )
    ]
    return page(request, who, "Divisions", blocks, section="/divisions", period=span)


def division_page(
    request: Request, who: PageWho, name: str, period: str | None = None
) -> HTMLResponse:
    if not who.reads_everything:
        raise forbid()
    span = period_of(request, period)
    with request.app.state.store.engine.connect() as conn:
        spend = spend_summary(conn, span, ("team", "provider"), SpendFilters(divisions=(name,)))
        known = conn.execute(select(divisions.c.id).where(divisions.c.name == name)).first()
    if known is None and not spend.rows:
        raise HTTPException(404, f"no division {name!r}")
    rows = [[*r.group, r.billed_cost] for r in spend.rows]
    blocks = [
        table(
            "Spend by team and provider",
            ["team", "provider", "billed cost"],
            rows,
            numeric_from=2,
            links={0: "/teams/{}"},
        )
    ]
    return page(request, who, f"Division {name}", blocks, section="/divisions", period=span)


def _reader(who: Principal) -> None:
    if not who.reads_everything:
        raise forbid()


def machines_page(request: Request, who: PageWho, period: str | None = None) -> HTMLResponse:
    _reader(who)
    span = period_of(request, period)
    store = request.app.state.store
    with store.engine.connect() as conn:
        machines = ioq.io_machines(conn, ioq.IoScope(span, store.zone))
        util = metric_summary(
            conn,
            day_start(span.start, store.zone).timestamp(),
            day_start(span.end, store.zone).timestamp(),
            MetricScope(),
        )
    blocks = [
        table(
            "NFS clients",
            ["machine", "group", "sessions", "users", "operations", "GiB"],
            [[m.machine, m.group, m.sessions, m.users, m.ops, m.bytes / 2**30] for m in machines],
            numeric_from=2,
            links={0: "/machines/{}"},
            csv=_api("/api/v1/io/machines", period=span.label, format="csv"),
        ),
        table(
            "Cloud instances: utilisation",
            ["environment", "instance", "kind", "metric", "min", "avg", "max", "above 80%"],
            [
                [
                    u.environment,
                    u.instance,
                    u.kind,
                    u.metric,
                    u.minimum,
                    u.average,
                    u.maximum,
                    u.above,
                ]
                for u in util
            ],
            numeric_from=4,
            wide=True,
            csv=_api("/api/v1/utilisation", period=span.label, format="csv"),
        ),
    ]
    return page(
        request, who, "Machines and cloud resources", blocks, section="/machines", period=span
    )


def machine_page(
    request: Request, who: PageWho, name: str, period: str | None = None
) -> HTMLResponse:
    _reader(who)
    span = period_of(request, period)
    store = request.app.state.store
    try:
        with store.engine.connect() as conn:
            detail = ioq.io_machine(conn, ioq.IoScope(span, store.zone), name, "day")
    except ConfigError as exc:
        raise HTTPException(404, str(exc)) from exc
    rows = [{"day": p.time, "ops": p.ops} for p in detail.series]
    blocks: list[Block] = [
        cards(
            f"Machine {name}",
            [("Operations", detail.total.ops, ""), ("GiB", detail.total.bytes / 2**30, "")],
        )
    ]
    if any(r["ops"] for r in rows):
        blocks.append(
            chart(
                charts.line(
                    "ops", "Operations per day", rows, x="day", y="ops", y_title="operations"
                ),
                zoom=True,
            )
        )
    blocks.append(
        table(
            "Users",
            ["user", "sessions", "operations"],
            [[u.user, u.sessions, u.ops] for u in detail.peers],
            numeric_from=1,
            links={0: "/users/{}"},
        )
    )
    return page(request, who, f"Machine {name}", blocks, section="/machines", period=span)


def io_page(
    request: Request, who: PageWho, period: str | None = None, grain: str = "day"
) -> HTMLResponse:
    _reader(who)
    if grain not in ("hour", "day", "month"):
        raise HTTPException(422, "grain: hour, day or month")
    span = period_of(request, period)
    store = request.app.state.store
    scope = ioq.IoScope(span, store.zone)
    with store.engine.connect() as conn:
        stats = ioq.io_stats(conn, scope)
        series = ioq.io_timeseries(conn, scope, grain)
        hours, weekdays = ioq.io_patterns(conn, scope)
        by_role = ioq.io_sizes(conn, scope, "role")
        by_group = ioq.io_sizes(conn, scope, "group")
        top = ioq.io_top(conn, scope, 24, 10)
        heavy = ioq.io_heavy(conn, scope, request.app.state.settings.io_heavy_threshold)
    blocks: list[Block] = [
        cards(
            "NFS IO",
            [
                ("Operations", stats.ops, ""),
                ("Reads", stats.read_ops, ""),
                ("Writes", stats.write_ops, ""),
                ("GiB moved", stats.bytes / 2**30, ""),
                ("Users", stats.users, ""),
                ("Machines", stats.machines, ""),
            ],
        )
    ]
    points = [
        {"time": p.time, "direction": d, "ops": v}
        for p in series
        for d, v in (("read", p.read_ops), ("write", p.write_ops))
    ]
    if series:
        blocks.append(
            chart(
                charts.line(
                    "io",
                    f"Operations per {grain}",
                    points,
                    x="time",
                    y="ops",
                    y_title="operations",
                    series="direction",
                ),
                zoom=True,
            )
        )
    for name, rows in (("Hour of day", hours), ("Day of week", weekdays)):
        if rows:
            blocks.append(
                chart(
                    charts.bar(
                        name,
                        f"{name}: average operations",
                        [{"slot": r.slot, "ops": r.avg_ops} for r in rows],
                        category="slot",
                        value="ops",
                        value_title="ops",
                        horizontal=False,
                    ),
                    wide=False,
                )
            )
    for name, sized in (("role", by_role), ("machine group", by_group)):
        if sized:
            data = [
                {"bucket": r.bucket, "group": r.group, "ops": r.read_ops + r.write_ops}
                for r in sized
            ]
            blocks.append(
                chart(
                    charts.stacked(
                        f"sizes-{name}",
                        f"Request sizes by {name}",
                        data,
                        x="bucket",
                        y="ops",
                        y_title="operations",
                        series="group",
                        temporal=False,
                    ),
                    wide=False,
                )
            )
    blocks.append(
        table(
            "Top users, last 24 blocks",
            ["user", "operations", "machines"],
            [[t.user, t.ops, t.machines] for t in top],
            numeric_from=1,
            links={0: "/users/{}"},
        )
    )
    blocks.append(
        table(
            f"Above {request.app.state.settings.io_heavy_threshold:,} ops per hour",
            ["hour", "user", "operations", "machines"],
            [[h.time, h.user, h.ops, h.machines] for h in heavy[:50]],
            numeric_from=2,
            csv=_api("/api/v1/io/heavy", period=span.label, format="csv"),
        )
    )
    return page(request, who, "IO", blocks, section="/io", period=span, keep=[("grain", grain)])


def _overunder_block(request: Request, who: Principal, rows: Sequence[Any]) -> Block:
    editable = [who.is_admin or (who.role == "manager" and r.team in who.teams) for r in rows]
    return html_block(
        "overunder.html",
        "Budget against actual",
        wide=True,
        rows=rows,
        editable=editable,
        csrf=who.csrf or "",
        fmt=fmt,
        back=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


def spend_page(request: Request, who: PageWho, period: str | None = None) -> HTMLResponse:
    if who.role == "member":
        raise forbid()
    span = period_of(request, period)
    year = Period(
        span.start.replace(month=1, day=1),
        add_months(span.start.replace(month=1, day=1), 12),
        str(span.start.year),
    )
    scope = spend_teams(who, [])
    filters = SpendFilters(teams=scope or ())
    with request.app.state.store.engine.connect() as conn:
        monthly = spend_summary(conn, year, ("month", "provider"), filters)
        by_team = spend_summary(conn, year, ("month", "team"), filters)
        daily = spend_summary(conn, span, ("day", "provider"), filters)
        burn = budgets.over_under(conn, span, teams_=scope or (), by_provider=True)
        planned = budgets.list_budgets(conn, teams_=scope or ())
        orphans = unallocated(conn, span) if who.reads_everything else []
    currency = ", ".join(monthly.currencies)
    blocks: list[Block] = [
        cards(
            f"Spend {span.label}",
            [("Billed", sum((r.billed_cost for r in daily.rows), Decimal(0)), currency)],
        )
    ]
    if monthly.rows:
        blocks.append(
            chart(
                charts.stacked(
                    "monthly",
                    f"Monthly spend {year.label} by provider",
                    [
                        {"month": r.group[0], "provider": r.group[1], "cost": r.billed_cost}
                        for r in monthly.rows
                    ],
                    x="month",
                    y="cost",
                    y_title=currency,
                    series="provider",
                    temporal=False,
                )
            )
        )
    budget_by_month: dict[str, Decimal] = {}
    for b in planned:
        if b.month.startswith(str(span.start.year)):
            budget_by_month[b.month] = budget_by_month.get(b.month, Decimal(0)) + b.amount
    if by_team.rows:
        blocks.append(chart(_with_budget_line(by_team.rows, budget_by_month, currency, year.label)))
    if daily.rows:
        blocks.append(
            chart(
                charts.line(
                    "daily",
                    f"Daily spend {span.label}",
                    [
                        {"day": r.group[0], "provider": r.group[1], "cost": r.billed_cost}
                        for r in daily.rows
                    ],
                    x="day",
                    y="cost",
                    y_title=currency,
                    series="provider",
                ),
                zoom=True,
            )
        )
    blocks.append(_overunder_block(request, who, burn.rows))
    for extra in SPEND_EXTRAS:
        blocks += extra(request, who, span)
    if who.reads_everything:
        blocks.append(
            table(
                "Unallocated: costs no project claims",
                ["provider", "project id", "name", "currency", "billed", "lines"],
                [
                    [
                        o.provider,
                        o.project_ext,
                        o.sub_account_name,
                        o.currency,
                        o.billed_cost,
                        o.lines,
                    ]
                    for o in orphans
                ],
                numeric_from=4,
                csv=_api("/api/v1/spend/unallocated", period=span.label, format="csv"),
                wide=True,
            )
        )
    return page(request, who, "Spend and budgets", blocks, section="/spend", period=span)


#: Further spend-page blocks (forecasts against budget) registered by other modules.
SPEND_EXTRAS: list[Any] = []


def _with_budget_line(
    rows: Sequence[Any], budget: dict[str, Decimal], currency: str, year: str
) -> Chart:
    """Monthly spend stacked by team, with the sum of the month's budgets as a line."""
    base = charts.stacked(
        "teams",
        f"Monthly spend {year} by team, budget as a line",
        [{"month": r.group[0], "team": r.group[1], "cost": r.billed_cost} for r in rows],
        x="month",
        y="cost",
        y_title=currency,
        series="team",
        temporal=False,
    )
    spec = dict(base.spec)
    bars = {k: spec.pop(k) for k in ("mark", "encoding")}
    bars["data"] = spec.pop("data")
    lines = {
        "data": {"values": [{"month": m, "budget": float(v)} for m, v in sorted(budget.items())]},
        "mark": {"type": "line", "point": True, "strokeDash": [6, 3], "color": "#222"},
        "encoding": {
            "x": {"field": "month", "type": "ordinal", "sort": None},
            "y": {"field": "budget", "type": "quantitative"},
            "tooltip": [{"field": "month"}, {"field": "budget", "format": ",.2f"}],
        },
    }
    spec["layer"] = [bars, lines] if budget else [bars]
    return Chart(base.name, base.title, spec)


def search_page(
    request: Request, who: PageWho, q: Annotated[str, Query(max_length=200)] = ""
) -> HTMLResponse:
    hits: list[tuple[Hit, str | None]] = []
    if q.strip():
        with request.app.state.store.engine.connect() as conn:
            found = search(conn, q, search_visible(who), SEARCH_LIMIT)
        hits = [(h, link_of(h)) for h in found]
    limited = len(hits) == SEARCH_LIMIT
    block = html_block("search.html", wide=True, q=q, hits=hits, limited=limited)
    return page(request, who, "Search", [block], section="/search")


def reports_page(request: Request, who: PageWho) -> HTMLResponse:
    base = Path(request.app.state.settings.reports_directory)
    found = written_files(base, newest_first=True, teams=report_teams(who))
    rows = [(team or "(organisation)", *rest) for team, *rest in found]
    blocks = [
        table(
            "Report files",
            ["team", "type", "period", "file", "bytes"],
            rows,
            numeric_from=4,
            links={3: "/reports/file/{}"},
            wide=True,
            note="Written by `meterbook report` and the scheduler; the newest "
            "of each type and period (older ones are in archive/).",
        )
    ]
    return page(request, who, "Reports", blocks, section="/reports")


def report_file(request: Request, who: PageWho, path: str) -> Response:
    base = Path(request.app.state.settings.reports_directory)
    target = file_under(base, path, report_teams(who))
    if target is None:
        raise HTTPException(404, "no such report file")
    return FileResponse(target)


def imports_page(request: Request, who: PageWho) -> HTMLResponse:
    _reader(who)
    with request.app.state.store.engine.connect() as conn:
        runs = list_runs(conn, 100)
    rows = [
        [
            r.id,
            r.kind,
            r.status,
            r.started_at.isoformat(sep=" "),
            r.seconds,
            r.inserted,
            r.updated,
            r.unchanged,
            r.rejected,
            r.message or "",
        ]
        for r in runs
    ]
    blocks = [
        table(
            "Import runs",
            [
                "run",
                "kind",
                "status",
                "started",
                "seconds",
                "inserted",
                "updated",
                "unchanged",
                "rejected",
                "message",
            ],
            rows,
            links={0: "/imports/{}"},
            wide=True,
            csv="/api/v1/imports?format=csv",
        )
    ]
    blocks[0].numeric = {4, 5, 6, 7, 8}
    for extra in IMPORTS_EXTRAS:
        blocks += extra(request, who)
    return page(request, who, "Imports and runs", blocks, section="/imports")


#: Further imports-page blocks (scheduled job runs) registered by other modules.
IMPORTS_EXTRAS: list[Any] = []


def rejects_page(request: Request, who: PageWho, run_id: RowId) -> HTMLResponse:
    _reader(who)
    with request.app.state.store.engine.connect() as conn:
        found = list_rejects(conn, run_id, 500)
    blocks = [
        table(
            f"Lines run {run_id} refused",
            ["file", "line", "reason", "text"],
            [[r.file, r.line, r.reason, r.raw] for r in found],
            wide=True,
            csv=f"/api/v1/imports/{run_id}/rejects?format=csv",
        )
    ]
    return page(request, who, f"Import run {run_id}", blocks, section="/imports")


def admin_page(request: Request, who: PageWho, done: str | None = None) -> HTMLResponse:
    if not who.is_admin:
        raise forbid("the admin pages are for admins")
    with request.app.state.store.engine.connect() as conn:
        accounts = auth.list_accounts(conn)
        tokens = auth.list_tokens(conn)
        planned = budgets.list_budgets(conn)
    blocks = [
        table(
            "Sign-in accounts",
            ["login", "role", "teams", "ledger user", "active", "last sign-in"],
            [
                [
                    a.login,
                    a.role,
                    ", ".join(a.teams),
                    a.ledger_user or "",
                    a.active,
                    a.last_login_at,
                ]
                for a in accounts
            ],
        ),
        table(
            "API tokens",
            ["id", "login", "name", "prefix", "state", "expires"],
            [[t.id, t.login, t.name, t.prefix + "…", t.state, t.expires_at] for t in tokens],
        ),
        html_block(
            "budget_form.html", "Set a budget", csrf=who.csrf or "", budgets=planned[-20:], fmt=fmt
        ),
    ]
    messages = [done] if done else []
    return page(request, who, "Admin", blocks, section="/admin", messages=messages)


async def admin_budget(
    request: Request,
    who: PageWho,
    month: Annotated[str, Form(max_length=7)],
    provider: Annotated[str, Form(max_length=120)],
    team: Annotated[str, Form(max_length=120)],
    amount: Annotated[str, Form(max_length=40)],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not who.is_admin:
        raise forbid("only admins set budgets")
    try:
        with request.app.state.store.engine.begin() as conn:
            budget, outcome = budgets.set_budget(
                conn, month, provider, team, amount, comment=comment or None
            )
    except ConfigError as exc:
        return admin_page(request, who, done=f"not saved: {exc}")
    note = f"budget {budget.month} {budget.provider}/{budget.team}: {outcome}"
    return RedirectResponse(f"/admin?{urlencode({'done': note})}", status_code=303)


async def budget_response(
    request: Request,
    who: PageWho,
    month: Annotated[str, Form(max_length=7)],
    provider: Annotated[str, Form(max_length=120)],
    team: Annotated[str, Form(max_length=120)],
    response: Annotated[str, Form(max_length=2000)],
    back: Annotated[str, Form(max_length=500)] = "/spend",
) -> Response:
    if not (who.is_admin or (who.role == "manager" and team in who.teams)):
        raise forbid("only an admin or a manager of the team writes its budget response")
    with request.app.state.store.engine.begin() as conn:
        if budgets.get_budget(conn, month, provider, team) is None:
            raise HTTPException(404, f"no budget for {team} at {provider} in {month}")
        budgets.set_budget(conn, month, provider, team, response=response)
    target = back if back.startswith("/") and not back.startswith("//") else "/spend"
    return RedirectResponse(target, status_code=303)


# Signing in and out -------------------------------------------------------------------------


def login_form(request: Request, next: str = "/", error: str | None = None) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)
    blocks = [
        html_block(
            "login.html", next=next if next.startswith("/") else "/", csrf=token, error=error
        )
    ]
    response = page(request, None, "Sign in", blocks, status_code=401 if error else 200)
    web = request.app.state.web
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, secure=web.cookie_secure, samesite="strict", path="/login"
    )
    return response


async def login_submit(
    request: Request,
    login: Annotated[str, Form(max_length=120)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF)
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        return login_form(request, next, "The form expired: please sign in again.")
    try:
        _, secret = sign_in(request, login, password)
    except HTTPException as exc:
        return login_form(request, next, str(exc.detail).capitalize() + ".")
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, secret)
    response.delete_cookie(LOGIN_CSRF, path="/login")
    return response


async def logout(request: Request, who: PageWho) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        with request.app.state.store.engine.begin() as conn:
            auth.end_session(conn, secret)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# Static files -------------------------------------------------------------------------------


@cache
def _vega() -> bytes:
    from meterbook.reports.render.html import vega_bundle

    return vega_bundle().encode()


def static(name: str) -> Response:
    if name == "vega.js":
        return Response(
            _vega(),
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=86400"},
        )
    path = _HERE / "static" / name
    if name not in ("app.css", "app.js") or not path.is_file():
        raise HTTPException(404, "no such file")
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    return Response(
        path.read_bytes(), media_type=kind, headers={"cache-control": "public, max-age=300"}
    )


def forbidden_page(request: Request, exc: HTTPException) -> HTMLResponse:
    who = find_principal(request)
    block = Block("html", html=f"<p class='notice'>{escape(str(exc.detail))}</p>")
    return page(
        request,
        who,
        "Not allowed" if exc.status_code == 403 else "Not found",
        [block],
        status_code=exc.status_code,
    )


def install(app: FastAPI) -> None:
    routes: list[tuple[str, Any, list[str]]] = [
        ("/", overview, ["GET"]),
        ("/explorer", explorer, ["GET"]),
        ("/users", users_page, ["GET"]),
        ("/users/{name}", user_page, ["GET"]),
        ("/projects", projects_page, ["GET"]),
        ("/projects/{name}", project_page, ["GET"]),
        ("/teams", teams_page, ["GET"]),
        ("/teams/{name}", team_page, ["GET"]),
        ("/divisions", divisions_page, ["GET"]),
        ("/divisions/{name}", division_page, ["GET"]),
        ("/machines", machines_page, ["GET"]),
        ("/machines/{name}", machine_page, ["GET"]),
        ("/io", io_page, ["GET"]),
        ("/spend", spend_page, ["GET"]),
        ("/spend/response", budget_response, ["POST"]),
        ("/search", search_page, ["GET"]),
        ("/reports", reports_page, ["GET"]),
        ("/imports", imports_page, ["GET"]),
        ("/imports/{run_id}", rejects_page, ["GET"]),
        ("/admin", admin_page, ["GET"]),
        ("/admin/budget", admin_budget, ["POST"]),
        ("/login", login_form, ["GET"]),
        ("/login", login_submit, ["POST"]),
        ("/logout", logout, ["POST"]),
    ]
    for path, endpoint, methods in routes:
        app.add_api_route(
            path, endpoint, methods=methods, response_class=HTMLResponse, include_in_schema=False
        )
    app.add_api_route(
        "/reports/file/{path:path}", report_file, methods=["GET"], include_in_schema=False
    )
    app.add_api_route("/static/{name}", static, methods=["GET"], include_in_schema=False)
    app.state.forbidden_page = forbidden_page
