"""Shared fixtures: a ledger on each database, the public sample files, small helpers.

The suite runs against SQLite, PostgreSQL and MariaDB/MySQL. Server URLs come from
``MB_TEST_POSTGRES_URL`` / ``MB_TEST_MYSQL_URL`` (defaults: the local services); each test
session creates its own database on each server and drops it at the end. A server that cannot
be reached fails the tests that need it; ``MB_TEST_DATABASES=sqlite`` (a comma list) limits the
run to the databases named, for a machine without the servers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from meterbook.samples import PROXY_VARIABLES
from meterbook.settings import Settings
from meterbook.store import migrate
from meterbook.store.core import Store, open_store, upgrade_store
from meterbook.store.engine import open_engine
from meterbook.store.schema import metadata

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SHARED = ROOT.parent / "shared" / "data"

SERVERS = {
    "postgresql": os.environ.get(
        "MB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get("MB_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
BACKENDS = [
    b.strip()
    for b in os.environ.get("MB_TEST_DATABASES", "sqlite,postgresql,mysql").split(",")
    if b.strip()
]


def shared(*parts: str) -> Path:
    """A public sample file, or skip when ../shared is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample file {'/'.join(parts)} not present (../shared/data is absent)")
    return path


def _create_database(url: str) -> str:
    """Create a fresh database on a server; returns its URL."""
    base = make_url(url)
    name = f"mb_test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # the service must run: fail loudly, do not skip
        pytest.fail(
            f"cannot create a test database on {base.get_backend_name()} "
            f"({base.render_as_string(hide_password=True)}): {exc}"
        )
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    target = make_url(url)
    engine = create_engine(
        target.set(database=make_url(SERVERS[target.get_backend_name()]).database),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as conn:
        if target.get_backend_name() == "postgresql":
            conn.execute(text(f"DROP DATABASE IF EXISTS {target.database} WITH (FORCE)"))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS {target.database}"))
    engine.dispose()


@pytest.fixture(scope="session")
def server_urls() -> Iterator[dict[str, str]]:
    """A fresh, migrated database per server backend, for the whole session."""
    urls: dict[str, str] = {}
    try:
        for backend in BACKENDS:
            if backend in SERVERS:
                urls[backend] = _create_database(SERVERS[backend])
                upgrade_store(Settings(database_url=urls[backend]))[0].engine.dispose()
        yield urls
    finally:
        for url in urls.values():
            _drop_database(url)


def _empty_tables(url: str) -> None:
    engine = open_engine(Settings(database_url=url))
    with engine.begin() as conn:
        backend = conn.dialect.name
        if backend == "mysql" or backend == "mariadb":
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in reversed(metadata.sorted_tables):
            if table.name == "mb_meta":
                conn.execute(table.update().values(value="UTC").where(table.c.key == "timezone"))
                continue
            if backend == "postgresql":
                conn.execute(text(f"TRUNCATE {table.name} RESTART IDENTITY CASCADE"))
            elif backend == "sqlite":
                conn.execute(table.delete())
            else:
                conn.execute(text(f"TRUNCATE TABLE {table.name}"))
        if backend == "mysql" or backend == "mariadb":
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty, migrated ledger on ``backend``."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        upgrade_store(Settings(database_url=url))[0].engine.dispose()
        return url
    url = request.getfixturevalue("server_urls")[backend]
    _empty_tables(url)
    return str(url)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.engine.dispose()


@pytest.fixture
def head() -> str:
    return migrate.head_revision()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to local servers only: a proxy configured on the machine must not apply."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
