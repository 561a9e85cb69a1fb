"""Find users, projects, teams, divisions and resources by name, within what a reader may see."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, case, func, literal, or_, select

from meterbook.errors import ConfigError
from meterbook.store.schema import divisions, projects, resources, teams, users

#: What can be searched, with the table and the other text columns that match too.
KINDS: dict[str, tuple[Table, tuple[str, ...]]] = {
    "user": (users, ("display_name", "email")),
    "project": (projects, ("external_id", "description")),
    "team": (teams, ("description",)),
    "division": (divisions, ("description",)),
    "resource": (resources, ("display_name", "group_name")),
}
#: The LIKE escape character (not a backslash: MariaDB reads those in string literals too).
ESCAPE = "/"
#: Names visible per kind: None for every one; a kind left out is not searched.
Visible = Mapping[str, Collection[str] | None]


@dataclass(frozen=True)
class Hit:
    kind: str
    name: str
    #: What else is known: a display name, an external id, a resource's kind.
    detail: str


def _pattern(text: str) -> str:
    escaped = text.lower().replace(ESCAPE, ESCAPE * 2)
    escaped = escaped.replace("%", f"{ESCAPE}%").replace("_", f"{ESCAPE}_")
    return f"%{escaped}%"


def _detail(table: Table) -> Any:
    if table is users:
        return func.coalesce(table.c.display_name, literal(""))
    if table is projects:
        return func.coalesce(table.c.external_id, literal(""))
    if table is resources:
        return table.c.kind
    return func.coalesce(table.c.description, literal(""))


def search(conn: Connection, text: str, visible: Visible, limit: int = 50) -> list[Hit]:
    """Up to ``limit`` hits whose name (or display name, external id, description) contains
    ``text``, ignoring case: exact names first, then names that start with it, then the rest,
    each in name order; only among the names ``visible`` allows."""
    text = text.strip()
    if not text:
        raise ConfigError("q: give some text to search for")
    if len(text) > 200:
        raise ConfigError("q: at most 200 characters")
    pattern, lowered = _pattern(text), text.lower()
    hits: list[tuple[int, Hit]] = []  # (0 exact, 1 prefix, 2 elsewhere; the hit)
    for kind, (table, others) in KINDS.items():
        if kind not in visible:
            continue
        names = visible[kind]
        if names is not None and not names:
            continue
        name = func.lower(table.c.name)
        matches = [name.like(pattern, escape=ESCAPE)]
        matches += [func.lower(table.c[c]).like(pattern, escape=ESCAPE) for c in others]
        rank = case((name == lowered, 0), (name.like(pattern[1:], escape=ESCAPE), 1), else_=2)
        query = select(table.c.name, _detail(table), rank).where(or_(*matches))
        if names is not None:
            query = query.where(table.c.name.in_(sorted(names)))
        query = query.order_by(rank, table.c.name).limit(limit)
        for found, detail, order in conn.execute(query):
            hits.append((int(order), Hit(kind, found, str(detail or ""))))
    order_of_kind = list(KINDS)
    hits.sort(key=lambda h: (h[0], h[1].name.lower(), order_of_kind.index(h[1].kind)))
    return [hit for _, hit in hits[:limit]]
