"""Opening the ledger: engine, schema check, and the accounting time zone it was built with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from sqlalchemy import Connection, Engine, select

from meterbook.errors import ConfigError
from meterbook.periods import zone_for
from meterbook.settings import Settings
from meterbook.store import migrate, rollups
from meterbook.store.dialect import insert_ignore
from meterbook.store.engine import display_url, open_engine, ping
from meterbook.store.schema import meta


@dataclass(frozen=True)
class Store:
    """An open ledger. ``zone`` is the accounting time zone of its day rollups."""

    engine: Engine
    zone: tzinfo
    timezone: str

    @property
    def label(self) -> str:
        return display_url(self.engine.url)

    @property
    def backend(self) -> str:
        name = self.engine.dialect.name
        return "mysql" if name == "mariadb" else name


def _get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def open_store(settings: Settings, *, pooled: bool = False) -> Store:
    """Open an existing, up-to-date ledger (or fail with what to do); ``pooled``: keep
    connections open for reuse (a server)."""
    engine = open_engine(settings, pooled=pooled)
    ping(engine)
    migrate.check_schema(engine, display_url(engine.url))
    with engine.connect() as conn:
        stored = _get_meta(conn, "timezone") or "UTC"
    if stored != settings.timezone:
        raise ConfigError(
            f"the database's accounting time zone is {stored} but the configuration says "
            f"{settings.timezone}: run `meterbook db rebuild-rollups` to switch, or set it back"
        )
    return Store(engine, zone_for(stored), stored)


def upgrade_store(settings: Settings) -> tuple[Store, str | None, str]:
    """Create or migrate the ledger; returns the store and the revisions before and after."""
    engine = open_engine(settings, create=True)
    ping(engine)
    before, after = migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert_ignore(conn, meta).values(key="timezone", value=settings.timezone))
        stored = _get_meta(conn, "timezone") or settings.timezone
    return Store(engine, zone_for(stored), stored), before, after


def rebuild_rollups(settings: Settings) -> tuple[Store, int]:
    """Recompute the day rollups in the configured time zone, in one transaction."""
    engine = open_engine(settings)
    ping(engine)
    migrate.check_schema(engine, display_url(engine.url))
    zone = zone_for(settings.timezone)
    with engine.begin() as conn:
        count = rollups.rebuild(conn, zone)
        conn.execute(meta.delete().where(meta.c.key == "timezone"))
        conn.execute(meta.insert().values(key="timezone", value=settings.timezone))
    return Store(engine, zone, settings.timezone), count
