"""``meterbook serve``: the web dashboard and the REST API."""

from __future__ import annotations

import click

from meterbook.cli.context import AppContext, pass_app


@click.command(
    epilog="""\b
Examples:
  meterbook serve                          http://127.0.0.1:8000/ ([web] host and port)
  meterbook serve --host 0.0.0.0 --port 8080
  meterbook users create root --admin      the first admin, before signing in
"""
)
@click.option("--host", metavar="ADDRESS", help="Listen address (default: [web] host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: [web] port).")
@pass_app
def serve(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the dashboard (pages at /), the REST API (/api/v1, docs at /api/v1/docs) and
    Prometheus metrics (/metrics) over the ledger."""
    import uvicorn

    from meterbook import auth
    from meterbook.store.core import open_store
    from meterbook.web import create_app

    settings = app.settings()
    store = open_store(settings, pooled=True)
    with store.engine.connect() as conn:
        if not auth.has_admin(conn):
            click.echo("no admin account yet: create one with `meterbook users create NAME "
                       "--admin`", err=True)  # fmt: skip
    web = create_app(settings, store)
    address = host or settings.web_host
    number = port or settings.web_port
    click.echo(f"Meterbook on http://{address}:{number}/ (API docs at /api/v1/docs); "
               "Ctrl-C stops")  # fmt: skip
    uvicorn.run(web, host=address, port=number, log_level="warning")


COMMANDS = (serve,)
