"""The web app: ``create_app(settings)`` builds the FastAPI application of ``meterbook serve``:
the REST API under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``, interactive docs at
``/api/v1/docs``), the dashboard pages, ``/metrics`` for Prometheus."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from meterbook import __version__
from meterbook.errors import ConfigError, ConflictError, MeterbookError
from meterbook.settings import Settings
from meterbook.store.core import Store, open_store
from meterbook.web import metrics
from meterbook.web.api import admin, config, insights, io, ops, search, spend, usage
from meterbook.web.common import FieldError
from meterbook.web.security import NotSignedIn


@dataclass(frozen=True)
class WebConfig:
    cookie_secure: bool
    session_ttl: timedelta
    trust_user_header: str | None
    trusted_proxies: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings) -> WebConfig:
        return cls(
            settings.web_cookie_secure,
            timedelta(hours=settings.web_session_hours),
            settings.web_trust_user_header or None,
            settings.web_trusted_proxies,
        )


def _message(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", []) if p not in ("query", "body"))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(detail)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if _wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
        return JSONResponse(
            {"message": "sign in first (session cookie or Bearer token)"},
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _wants_html(request) and exc.status_code in (403, 404, 422):
            return request.app.state.forbidden_page(request, exc)  # type: ignore[no-any-return]
        body: dict[str, Any] = {"message": _message(exc.detail)}
        if isinstance(exc, FieldError) or isinstance(exc.detail, list):
            body["detail"] = exc.detail
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", [])), "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in exc.errors()
        ]
        return JSONResponse({"message": _message(errors), "detail": errors}, status_code=422)

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> Response:
        return JSONResponse({"message": str(exc)}, status_code=409)

    @app.exception_handler(ConfigError)
    async def config_error(request: Request, exc: ConfigError) -> Response:
        return JSONResponse({"message": str(exc)}, status_code=422)

    @app.exception_handler(MeterbookError)
    async def meterbook_error(request: Request, exc: MeterbookError) -> Response:
        return JSONResponse({"message": str(exc)}, status_code=400)


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    """The application over the ledger of ``settings`` (or an open ``store``)."""
    app = FastAPI(
        title="Meterbook",
        version=__version__,
        description="The usage and cost ledger: usage, spend, budgets, allocations, IO, "
        "utilisation, imports. Every figure comes from the same store queries as the CLI.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store or open_store(settings)
    app.state.web = WebConfig.of(settings)
    app.state.started = time.time()
    _install_errors(app)
    for module in (admin, usage, spend, io, ops, insights, config, search):
        app.include_router(module.router)
    metrics.install(app)
    from meterbook.web import pages

    pages.install(app)
    return app
