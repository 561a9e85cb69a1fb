"""Who a request is: a session cookie, an API token, or (when configured) a user header set by
a trusted reverse proxy; and the CSRF check of every state-changing request of a session."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from meterbook import auth
from meterbook.auth import Principal

SESSION_COOKIE = "mb_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class NotSignedIn(Exception):
    """No valid session or token: the API answers 401, pages redirect to the sign-in page."""


def remote_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _from_proxy(request: Request) -> Principal | None:
    web = request.app.state.web
    header = web.trust_user_header
    if not header:
        return None
    if web.trusted_proxies and remote_of(request) not in web.trusted_proxies:
        return None
    login = request.headers.get(header)
    if not login:
        return None
    with request.app.state.store.engine.begin() as conn:
        account = auth.find_account(conn, login.strip())
        if account is None or not account.active:
            return None
        return auth.principal(conn, account, csrf=None, via="proxy")


def find_principal(request: Request) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    engine = request.app.state.store.engine
    found: Principal | None = _from_proxy(request)
    bearer = request.headers.get("authorization", "")
    if found is None and bearer.lower().startswith("bearer "):
        with engine.begin() as conn:
            found = auth.token_principal(conn, bearer[7:].strip())
        if found is None:
            raise HTTPException(401, "the API token is unknown, expired or revoked")
    if found is None:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            with engine.begin() as conn:
                found = auth.session_principal(conn, secret)
    request.state.principal = found
    return found


async def _check_csrf(request: Request, who: Principal) -> None:
    if request.method in SAFE_METHODS or who.via != "session":
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not who.csrf or not hmac.compare_digest(sent, who.csrf):
        raise HTTPException(403, "missing or wrong CSRF token (reload the page and try again)")


async def current(request: Request) -> Principal:
    """The signed-in principal; CSRF-checked for state-changing requests of a session."""
    who = find_principal(request)
    if who is None:
        raise NotSignedIn()
    await _check_csrf(request, who)
    return who


Who = Annotated[Principal, Depends(current)]


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency allowing only ``roles``."""

    def check(who: Who) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")
        return who

    return check


Admin = Annotated[Principal, Depends(require("admin"))]
Reader = Annotated[Principal, Depends(require("admin", "analyst"))]
