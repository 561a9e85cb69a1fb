"""Names to ids for the org model: users, projects, resources and sources, cached per import."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, Table, select, tuple_

from meterbook.store.dialect import insert_ignore
from meterbook.store.schema import sources


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Dimensions:
    """Resolves names to ids, creating what is missing (races resolved by the unique keys)."""

    def __init__(self) -> None:
        self._ids: dict[str, dict[str, int]] = {"users": {}, "projects": {}, "resources": {}}
        self._sources: dict[tuple[str, str], int] = {}

    def names(
        self,
        conn: Connection,
        table: Table,
        wanted: Iterable[str],
        defaults: dict[str, object] | None = None,
        extra: dict[str, dict[str, object]] | None = None,
    ) -> dict[str, int]:
        """Ids for ``wanted`` names in ``table``.

        New rows get the ``defaults`` columns, then ``extra[name]`` for their own name.
        """
        cache = self._ids[table.name]
        missing = {n for n in wanted if n not in cache}
        if missing:
            self._load(conn, table, missing, cache)
            new = missing - cache.keys()
            if new:
                now = _now()
                rows = []
                for name in sorted(new):
                    row: dict[str, object] = {"name": name, "archived": False, "created_at": now}
                    row.update(defaults or {})
                    if extra and name in extra:
                        row.update(extra[name])
                    rows.append(row)
                # Columns must be the same in every row of one executemany.
                keys = set().union(*rows)
                for row in rows:
                    for key in keys:
                        row.setdefault(key, None)
                conn.execute(insert_ignore(conn, table), rows)
                self._load(conn, table, new, cache)
        return cache

    @staticmethod
    def _load(conn: Connection, table: Table, names: set[str], cache: dict[str, int]) -> None:
        ordered = sorted(names)
        for i in range(0, len(ordered), 1000):
            chunk = ordered[i : i + 1000]
            for row in conn.execute(
                select(table.c.name, table.c.id).where(table.c.name.in_(chunk))
            ):
                cache[row.name] = row.id

    def source(self, conn: Connection, kind: str, name: str, resource_id: int | None) -> int:
        """The id of the source ``(kind, name)``, created when new."""
        key = (kind, name)
        if key not in self._sources:
            where = tuple_(sources.c.kind, sources.c.name) == key
            found = conn.execute(select(sources.c.id).where(where)).scalar()
            if found is None:
                conn.execute(
                    insert_ignore(conn, sources).values(
                        kind=kind, name=name, resource_id=resource_id, created_at=_now()
                    )
                )
                found = conn.execute(select(sources.c.id).where(where)).scalar_one()
            self._sources[key] = found
        return self._sources[key]
