"""Schema versions: the migrations build exactly the tables of the code, everywhere, and
every command refuses a database at another version."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from meterbook.errors import SchemaMismatchError, StoreError
from meterbook.settings import Settings
from meterbook.store.core import open_store, upgrade_store
from meterbook.store.engine import open_engine
from meterbook.store.schema import metadata


def test_migrated_schema_matches_the_code(settings: Settings) -> None:
    engine = open_engine(settings)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == []


def test_sqlite_is_wal_with_foreign_keys(tmp_path: Path) -> None:
    store, before, after = upgrade_store(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert before is None and after
    store.engine.dispose()


def test_refuses_missing_older_and_newer_schemas(tmp_path: Path, head: str) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with pytest.raises(StoreError, match="no database here: run `meterbook init`"):
        open_store(Settings(database_url=url))
    engine = open_engine(Settings(database_url=url), create=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    with pytest.raises(SchemaMismatchError, match="has no Meterbook schema: run `meterbook init`"):
        open_store(Settings(database_url=url))
    upgrade_store(Settings(database_url=url))[0].engine.dispose()
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(SchemaMismatchError, match="is newer than this Meterbook"):
        open_store(Settings(database_url=url))
    engine.dispose()


def test_older_schema_asks_for_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade_store(Settings(database_url=url))[0].engine.dispose()
    monkeypatch.setattr("meterbook.store.migrate.head_revision", lambda: "9999")
    with pytest.raises(SchemaMismatchError, match=r"older than this Meterbook's 9999.*db upgrade"):
        open_store(Settings(database_url=url))


def test_time_zone_change_needs_a_rebuild(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    upgrade_store(Settings(database_url=url))[0].engine.dispose()
    with pytest.raises(Exception, match="rebuild-rollups"):
        open_store(Settings(database_url=url, timezone="Europe/Berlin"))


def test_server_connection_failure_is_one_line() -> None:
    bad = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot connect to postgresql"):
        open_store(bad)


def test_the_head_found_by_file_name_is_alembics() -> None:
    from meterbook.store import migrate

    assert migrate.head_revision() == migrate.script_head()
    for path in (migrate.MIGRATIONS / "versions").glob("[0-9]*.py"):
        assert f'revision = "{path.name[:4]}"' in path.read_text(), path.name
