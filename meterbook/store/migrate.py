"""Schema versions: upgrade the database, and refuse to work on one that does not match."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from meterbook.errors import SchemaMismatchError

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The schema revision this code expects."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no Meterbook schema."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the database to ``revision``; returns (before, after)."""
    before = current_revision(engine)
    _known(before)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine) or ""


def _known(revision: str | None) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(_config()).get_revision(revision)
    except CommandError:
        raise SchemaMismatchError(
            f"the database schema ({revision}) is newer than this Meterbook: "
            "upgrade Meterbook to use it"
        ) from None


def check_schema(engine: Engine, where: str) -> None:
    """Raise :class:`SchemaMismatchError` unless the database is at the code's revision."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaMismatchError(
            f"{where} has no Meterbook schema: run `meterbook init` or `meterbook db upgrade`"
        )
    _known(current)
    raise SchemaMismatchError(
        f"{where} has schema {current}, older than this Meterbook's {head}: "
        "back it up, then run `meterbook db upgrade`"
    )
