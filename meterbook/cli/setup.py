"""``meterbook init`` and ``meterbook db ...``: configuration and schema."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.engine import make_url

from meterbook.cli.context import AppContext, pass_app
from meterbook.errors import ConfigError
from meterbook.settings import CONFIG_NAME, load_settings, render_config
from meterbook.store import migrate
from meterbook.store.core import rebuild_rollups, upgrade_store
from meterbook.store.engine import display_url, open_engine, ping


@click.command(
    epilog="""\b
Examples:
  meterbook init
  meterbook --db postgresql://meterbook@db.example.org/meterbook init
  meterbook --config /etc/meterbook/meterbook.toml init --force
"""
)
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
@pass_app
def init(app: AppContext, force: bool) -> None:
    """Write a commented meterbook.toml and create the database.

    The file goes to --config PATH, or ./meterbook.toml. An existing database is migrated,
    never emptied.
    """
    path = app.config or Path(CONFIG_NAME)
    if path.exists() and not force:
        click.echo(f"{path}: exists, kept (use --force to rewrite it)")
    else:
        current = load_settings(
            path if path.exists() else None, discover=False, database_url=app.database_url
        )
        url = make_url(current.database_url)
        if url.password is not None:
            click.echo("the password is not written to the file: set MB_DATABASE_PASSWORD")
        # URL.set(password=None) would keep the password: replace the field itself.
        file_url = url._replace(password=None).render_as_string(hide_password=False)
        path.write_text(render_config(current, file_url), encoding="utf-8")
        click.echo(f"{path}: written")
    app.config = path
    store, before, after = upgrade_store(app.settings())
    state = "created" if before is None else ("up to date" if before == after else "migrated")
    click.echo(f"database {store.label}: {state} (schema {after}, time zone {store.timezone})")


@click.group(
    epilog="""\b
Examples:
  meterbook db status
  meterbook db upgrade
  meterbook db rebuild-rollups
"""
)
def db() -> None:
    """Database schema: status, upgrade, rollup rebuild."""


@db.command(epilog="Example:\n\n  meterbook db upgrade --db postgresql://meterbook@db/meterbook")
@pass_app
def upgrade(app: AppContext) -> None:
    """Create or migrate the database schema to this version of Meterbook."""
    store, before, after = upgrade_store(app.settings())
    if before == after:
        click.echo(f"database {store.label}: already at schema {after}")
    else:
        click.echo(f"database {store.label}: schema {before or '(none)'} -> {after}")


@db.command(epilog="Example:\n\n  meterbook db status")
@pass_app
def status(app: AppContext) -> None:
    """Show the database, its schema revision and the one this code expects."""
    settings = app.settings()
    engine = open_engine(settings)
    try:
        ping(engine)
        current = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    click.echo(f"database: {display_url(engine.url)}")
    click.echo(f"schema:   {current or '(none)'} (this Meterbook expects {head})")
    if current != head:
        raise ConfigError("schema does not match: run `meterbook db upgrade`")


@db.command(
    "rebuild-rollups", epilog="Example:\n\n  MB_TIMEZONE=Europe/Zurich meterbook db rebuild-rollups"
)
@pass_app
def rebuild(app: AppContext) -> None:
    """Recompute the day rollups from the raw records, in the configured time zone.

    Needed after changing [accounting] timezone; harmless otherwise. One transaction:
    queries see the old rollups until it commits.
    """
    store, count = rebuild_rollups(app.settings())
    click.echo(f"rebuilt day rollups from {count:,} records in time zone {store.timezone}")


COMMANDS = (init, db)
