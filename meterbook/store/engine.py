"""Opening databases: SQLite (WAL, foreign keys), PostgreSQL (psycopg 3), MariaDB/MySQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import NullPool

from meterbook.errors import ConfigError, StoreError
from meterbook.settings import Settings

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def database_url(settings: Settings) -> URL:
    """The URL to connect to, with the driver made explicit and the password filled in."""
    try:
        url = make_url(settings.database_url)
    except ArgumentError as exc:
        raise ConfigError(f"database url: {exc}") from None
    if url.drivername in _DRIVERS:
        url = url.set(drivername=_DRIVERS[url.drivername])
    if url.get_backend_name() == "mysql" and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    if settings.database_password is not None and url.password is None:
        url = url.set(password=settings.database_password.get_secret_value())
    return url


def display_url(url: URL | str) -> str:
    """A URL safe to print: the password is masked."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def open_engine(settings: Settings, *, create: bool = False, pooled: bool = False) -> Engine:
    """An engine for the configured database.

    A SQLite file must exist unless ``create`` is true (``init``, ``db upgrade``): a typo in a
    path should not silently make an empty ledger. SQLite connections are opened for each use
    (nothing held across a fork or a deleted file) unless ``pooled`` (a long-running server,
    where opening a connection and setting its pragmas would cost more than most queries).
    """
    url = database_url(settings)
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        path = url.database
        if path and path != ":memory:":
            file = Path(path)
            if not create and not file.exists():
                raise StoreError(
                    f"{path}: no database here: run `meterbook init` (or check --db / "
                    "MB_DATABASE_URL)"
                )
            if create:
                file.parent.mkdir(parents=True, exist_ok=True)
        if not pooled:
            kwargs["poolclass"] = NullPool
    elif backend == "postgresql":
        # No server-side prepared statements: a generic plan made while a table was empty
        # (a sequential scan) would be kept while the import fills it.
        kwargs["connect_args"] = {"prepare_threshold": None}
    elif backend != "mysql":
        raise ConfigError(f"database url: unsupported database {backend!r}")
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"database url: {exc}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def ping(engine: Engine) -> None:
    """Connect once, turning connection failures into one clear line."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot connect to {display_url(engine.url)}: {reason}") from None
