"""``/api/v1/me``, ``/api/v1/session`` and the admin writes: sign-in accounts, API tokens and
the org model (divisions, teams, projects, providers...)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from meterbook import auth, org
from meterbook.errors import ConfigError
from meterbook.web.common import FieldError, Format, RowId, field_of, plain, table_response
from meterbook.web.security import SESSION_COOKIE, Admin, Reader, Who, remote_of

router = APIRouter(prefix="/api/v1", tags=["access and admin"])


@router.get("/me", summary="Who you are signed in as")
def me(who: Who) -> JSONResponse:
    return JSONResponse(who.as_dict())


class SignIn(BaseModel):
    login: str = Field(max_length=120)
    password: str = Field(max_length=1000)


def sign_in(request: Request, login: str, password: str) -> tuple[auth.Account, str]:
    """Check the password (rate-limited) and start a session; raises 401/429."""
    remote = remote_of(request)
    with request.app.state.store.engine.begin() as conn:
        if not auth.sign_in_allowed(conn, login, remote):
            raise HTTPException(429, "too many failed sign-ins: wait 15 minutes")
        account = auth.authenticate(conn, login, password, remote)
    if account is None:
        raise HTTPException(401, "wrong login or password")
    with request.app.state.store.engine.begin() as conn:
        secret = auth.start_session(conn, account, request.app.state.web.session_ttl)
    return account, secret


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    web = request.app.state.web
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(web.session_ttl.total_seconds()),
        httponly=True,
        secure=web.cookie_secure,
        samesite="lax",
        path="/",
    )


@router.post("/session", summary="Sign in: sets the session cookie")
def create_session(request: Request, body: SignIn) -> JSONResponse:
    _, secret = sign_in(request, body.login, body.password)
    with request.app.state.store.engine.connect() as conn:
        who = auth.session_principal(conn, secret)
    assert who is not None
    response = JSONResponse({**who.as_dict(), "csrf_token": who.csrf})
    set_session_cookie(request, response, secret)
    return response


@router.delete("/session", summary="Sign out")
def delete_session(request: Request, who: Who) -> JSONResponse:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        with request.app.state.store.engine.begin() as conn:
            auth.end_session(conn, secret)
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# Accounts and tokens ------------------------------------------------------------------------


def _library(exc: ConfigError) -> FieldError:
    return FieldError(field_of(str(exc)), str(exc))


class AccountIn(BaseModel):
    login: str = Field(max_length=120)
    password: str = Field(min_length=auth.MIN_PASSWORD, max_length=1000)
    role: str = Field(pattern="^(admin|analyst|manager|member)$")
    teams: list[str] = Field(default_factory=list, max_length=100)
    ledger_user: str | None = Field(default=None, max_length=120)
    display_name: str | None = Field(default=None, max_length=200)


@router.get("/admin/users", summary="Sign-in accounts (admin)")
def list_accounts(request: Request, who: Admin, format: Format = "json") -> Response:
    with request.app.state.store.engine.connect() as conn:
        found = auth.list_accounts(conn)
    columns = (
        "login",
        "role",
        "teams",
        "ledger_user",
        "display_name",
        "active",
        "created_at",
        "last_login_at",
    )
    rows = [
        (
            a.login,
            a.role,
            " ".join(a.teams),
            a.ledger_user,
            a.display_name,
            a.active,
            a.created_at.isoformat(sep=" "),
            a.last_login_at.isoformat(sep=" ") if a.last_login_at else None,
        )
        for a in found
    ]
    return table_response(format, columns, rows, filename="accounts.csv")


@router.post("/admin/users", summary="Create a sign-in account (admin)", status_code=201)
def create_account(request: Request, who: Admin, body: AccountIn) -> JSONResponse:
    try:
        with request.app.state.store.engine.begin() as conn:
            account = auth.create_account(
                conn,
                body.login,
                body.password,
                body.role,
                teams_=body.teams,
                ledger_user=body.ledger_user,
                display_name=body.display_name,
            )
    except ConfigError as exc:
        raise _library(exc) from exc
    return JSONResponse({k: plain(v) for k, v in account.as_dict().items()}, status_code=201)


class AccountPatch(BaseModel):
    role: str | None = Field(default=None, pattern="^(admin|analyst|manager|member)$")
    teams: list[str] | None = Field(default=None, max_length=100)
    ledger_user: str | None = Field(default=None, max_length=120)
    active: bool | None = None


@router.patch("/admin/users/{login}", summary="Change an account (admin)")
def patch_account(request: Request, who: Admin, login: str, body: AccountPatch) -> JSONResponse:
    try:
        with request.app.state.store.engine.begin() as conn:
            account = auth.update_account(
                conn,
                login,
                role=body.role,
                teams_=body.teams,
                ledger_user=body.ledger_user,
                active=body.active,
            )
    except ConfigError as exc:
        if "no account" in str(exc):
            return JSONResponse({"message": str(exc)}, status_code=404)
        raise _library(exc) from exc
    return JSONResponse({k: plain(v) for k, v in account.as_dict().items()})


class TokenIn(BaseModel):
    login: str = Field(max_length=120)
    name: str = Field(min_length=1, max_length=120)
    expires_days: int | None = Field(default=90, ge=1, le=3660)


@router.get("/admin/tokens", summary="API tokens (admin)")
def list_tokens(request: Request, who: Admin, format: Format = "json") -> Response:
    with request.app.state.store.engine.connect() as conn:
        found = auth.list_tokens(conn)
    columns = ("id", "login", "name", "prefix", "state", "created_at", "expires_at", "last_used_at")
    rows = [
        (
            t.id,
            t.login,
            t.name,
            t.prefix,
            t.state,
            t.created_at.isoformat(sep=" "),
            t.expires_at.isoformat(sep=" ") if t.expires_at else None,
            t.last_used_at.isoformat(sep=" ") if t.last_used_at else None,
        )
        for t in found
    ]
    return table_response(format, columns, rows, filename="tokens.csv")


@router.post(
    "/admin/tokens",
    summary="Create an API token (admin): the secret is shown once",
    status_code=201,
)
def create_token(request: Request, who: Admin, body: TokenIn) -> JSONResponse:
    try:
        with request.app.state.store.engine.begin() as conn:
            token, secret = auth.create_token(conn, body.login, body.name, body.expires_days)
    except ConfigError as exc:
        raise _library(exc) from exc
    return JSONResponse(
        {**{k: plain(v) for k, v in token.as_dict().items()}, "token": secret}, status_code=201
    )


@router.delete("/admin/tokens/{token_id}", summary="Revoke an API token (admin)")
def revoke_token(request: Request, who: Admin, token_id: RowId) -> JSONResponse:
    try:
        with request.app.state.store.engine.begin() as conn:
            token = auth.revoke_token(conn, token_id)
    except ConfigError as exc:
        return JSONResponse({"message": str(exc)}, status_code=404)
    return JSONResponse({k: plain(v) for k, v in token.as_dict().items()})


# Org model ----------------------------------------------------------------------------------

ORG_KINDS = tuple(org.KINDS)


def _kind(kind: str) -> str:
    if kind not in org.KINDS:
        raise FieldError("kind", f"{kind!r} is not an org kind ({', '.join(ORG_KINDS)})")
    return kind


@router.get("/org/{kind}", summary="Org model rows: divisions, teams, projects, providers...")
def list_org(request: Request, who: Reader, kind: str, format: Format = "json") -> Response:
    k = org.kind_of(_kind(kind))
    with request.app.state.store.engine.connect() as conn:
        found = org.list_entries(conn, kind)
    columns = k.columns
    rows = [(e.name, *(e.values.get(f.name) for f in k.fields), e.archived) for e in found]
    return table_response(format, columns, rows, filename=f"{kind}.csv")


class OrgIn(BaseModel):
    name: str = Field(max_length=120)
    values: dict[str, Any] = Field(default_factory=dict)


@router.post("/org/{kind}", summary="Add an org row (admin)", status_code=201)
def add_org(request: Request, who: Admin, kind: str, body: OrgIn) -> JSONResponse:
    _kind(kind)
    try:
        with request.app.state.store.engine.begin() as conn:
            entry = org.add(conn, kind, body.name, **body.values)
    except ConfigError as exc:
        raise _library(exc) from exc
    except TypeError as exc:
        raise FieldError("values", f"unknown field for {kind}: {exc}") from exc
    return JSONResponse({k: plain(v) for k, v in entry.as_dict().items()}, status_code=201)
