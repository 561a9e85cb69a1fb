"""Schema versions: upgrade the database, and refuse to work on one that does not match."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from meterbook.errors import SchemaMismatchError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: Alembic's table of the database's revision.
VERSION_TABLE = "alembic_version"


def _config() -> Config:
    from alembic.config import Config  # alembic loads only to migrate or explain a mismatch

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The schema revision this code expects: the highest numbered migration.

    Revisions are the four digits that start their file's name (``0012_usage_cubes.py`` is
    revision ``0012``, following ``0011``), so the head is known without loading the scripts.
    """
    return max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def script_head() -> str | None:
    """The head revision as Alembic finds it by loading every migration script."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None when it has no Meterbook schema."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()  # noqa: S608
        return rows[0][0] if len(rows) == 1 else None


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate the database to ``revision``; returns (before, after)."""
    before = current_revision(engine)
    _known(before)
    from alembic import command

    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine) or ""


def _known(revision: str | None) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

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
