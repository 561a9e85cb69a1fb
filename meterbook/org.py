"""The org model: divisions, teams, providers, projects and environments, kept by name.

Functions over a SQLAlchemy :class:`~sqlalchemy.Connection`; the caller owns the transaction
(``with store.engine.begin() as conn``), so a CSV import is all or nothing. Every kind has a
unique name, a description, an archived flag and a creation time, and some fields of its own
(:data:`KINDS`); fields that refer to another kind hold its name (a team's division, a
project's provider and team).

Values come as text (an option, a CSV cell) or as Python values (``Decimal``, ``datetime``);
a blank value clears an optional field. Errors are one line naming the field:

- :class:`~meterbook.errors.ConfigError`: a value is invalid, or a name does not exist;
- :class:`~meterbook.errors.ConflictError`: a name or a project's external id is taken, or the
  row to remove is referred to (by a foreign key or by the ids of usage and cost data, which
  have no foreign keys): removal is refused, never cascaded, and the message says what refers
  to it and suggests archiving instead;
- :class:`~meterbook.errors.InputError`: a CSV file cannot be imported; it names the line.

After a project is added, edited (external id, provider or team) or imported, or a provider's
tax rate changes, the functions of :data:`ATTRIBUTION_HOOKS` are called with the connection and
the ids of the providers whose billing lines must be attributed again and whose spend rollup
must be rebuilt, in the same transaction.
"""

from __future__ import annotations

import csv
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from meterbook.errors import ConfigError, ConflictError, InputError, MeterbookError
from meterbook.spend import reattribute
from meterbook.store.schema import (
    NAME,
    divisions,
    environments,
    projects,
    providers,
    resources,
    teams,
    usage_daily,
    usage_records,
    users,
)
from meterbook.store.schema_billing import (
    allocations,
    budgets,
    charge_rules,
    cost_daily,
    cost_lines,
    match_rules,
)

#: Called as ``hook(conn, provider_ids)`` after projects or a provider's tax rate change, inside
#: the same transaction: the billing lines of these providers must be attributed to projects
#: again and their spend rollup rebuilt (:func:`meterbook.spend.reattribute`, the default).
ATTRIBUTION_HOOKS: list[Callable[[Connection, set[int]], object]] = [reattribute]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_SIX_DECIMALS = Decimal("0.000001")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}


class _Invalid(ValueError):
    """A value that does not fit its field; the message says why (without the field)."""


# Values -------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _text(limit: int | None, *, line: bool = True) -> Callable[[object], object]:
    """Text of at most ``limit`` characters; ``line``: one line, no control characters."""

    def parse(raw: object) -> object:
        if not isinstance(raw, str):
            raise _Invalid("must be text")
        value = raw.strip()
        if limit is not None and len(value) > limit:
            raise _Invalid(f"at most {limit} characters")
        if line and _CONTROL.search(value):
            raise _Invalid("must not contain control characters")
        return value

    return parse


def _tax_rate(raw: object) -> object:
    """A percentage ``0 <= p < 100`` with at most six decimals (``13`` or ``13 %``)."""
    wrong = "must be a number between 0 and 100"
    try:
        if isinstance(raw, str):
            value = Decimal(raw.strip().removesuffix("%").strip())
        elif isinstance(raw, float):
            value = Decimal(repr(raw))
        elif isinstance(raw, int | Decimal) and not isinstance(raw, bool):
            value = Decimal(raw)
        else:
            raise _Invalid(wrong)
    except InvalidOperation:
        raise _Invalid(wrong) from None
    if not value.is_finite() or not Decimal(0) <= value < Decimal(100):
        raise _Invalid(wrong)
    fixed = value.quantize(_SIX_DECIMALS)
    if fixed != value:
        raise _Invalid("at most 6 decimals")
    return fixed


def _currency(raw: object) -> object:
    if not isinstance(raw, str) or not _CURRENCY.fullmatch(raw.strip()):
        raise _Invalid("must be 3 letters (an ISO 4217 code such as USD)")
    return raw.strip().upper()


def _moment(raw: object) -> object:
    """A date and time, naive UTC to the second (``2025-02-13 10:00:00``, ISO 8601)."""
    wrong = "must be a date and time such as 2025-02-13T10:00:00 (UTC, or with an offset)"
    if isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise _Invalid(wrong) from None
    elif isinstance(raw, datetime):
        value = raw
    else:
        raise _Invalid(wrong)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _flag(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid("must be true or false")


def check_name(raw: object, field: str = "name") -> str:
    """A valid name (trimmed), or a :class:`ConfigError` naming ``field``."""
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{field}: must not be empty")
    try:
        value = _text(NAME)(raw)
    except _Invalid as exc:
        raise ConfigError(f"{field}: {exc}") from None
    assert isinstance(value, str)
    return value


_any_text = _text(None)


def _quoted(name: object) -> str:
    return f"'{name}'"


# The kinds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A field of a kind: its name (option, CSV column) and how it is stored.

    ``ref`` names the kind it refers to by name. ``required``: a new row must have a value
    (after ``default``, called with the row's name) and a set value cannot be cleared.
    """

    name: str
    column: str
    parse: Callable[[object], object] = _any_text
    ref: str | None = None
    required: bool = False
    default: Callable[[str], object] | None = None


@dataclass(frozen=True)
class Referrer:
    """A table whose ``column`` holds ids of a kind; ``one``/``many`` name its rows."""

    table: Table
    column: str
    one: str
    many: str

    def count(self, n: int) -> str:
        return f"{n:,} {self.one if n == 1 else self.many}"


@dataclass(frozen=True)
class Kind:
    name: str
    one: str
    table: Table
    fields: tuple[Field, ...]
    referrers: tuple[Referrer, ...]

    @property
    def columns(self) -> list[str]:
        """The CSV columns: name, the fields, archived."""
        return ["name", *(f.name for f in self.fields), "archived"]

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)


_DESCRIPTION = Field("description", "description", _text(None, line=False))

_COST_LINES = ("cost line", "cost lines")
_COST_DAYS = ("daily cost row", "daily cost rows")

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "divisions",
            "division",
            divisions,
            (_DESCRIPTION,),
            (Referrer(teams, "division_id", "team", "teams"),),
        ),
        Kind(
            "teams",
            "team",
            teams,
            (Field("division", "division_id", ref="divisions"), _DESCRIPTION),
            (
                Referrer(projects, "team_id", "project", "projects"),
                Referrer(users, "team_id", "user", "users"),
                Referrer(budgets, "team_id", "budget", "budgets"),
            ),
        ),
        Kind(
            "providers",
            "provider",
            providers,
            (
                Field("kind", "kind", _text(40), required=True, default=lambda _: "cloud"),
                Field("tax_rate", "tax_rate", _tax_rate),
                Field("currency", "currency", _currency),
                Field("last_load", "last_load_at", _moment),
                _DESCRIPTION,
            ),
            (
                Referrer(projects, "provider_id", "project", "projects"),
                Referrer(resources, "provider_id", "resource", "resources"),
                Referrer(cost_lines, "provider_id", *_COST_LINES),
                Referrer(cost_daily, "provider_id", *_COST_DAYS),
                Referrer(match_rules, "provider_id", "match rule", "match rules"),
                Referrer(charge_rules, "provider_id", "charge rule", "charge rules"),
                Referrer(budgets, "provider_id", "budget", "budgets"),
            ),
        ),
        Kind(
            "projects",
            "project",
            projects,
            (
                Field("external_id", "external_id", _text(200), required=True, default=str),
                Field("provider", "provider_id", ref="providers", required=True),
                Field("team", "team_id", ref="teams", required=True),
                _DESCRIPTION,
            ),
            (
                Referrer(cost_lines, "project_id", *_COST_LINES),
                Referrer(cost_daily, "project_id", *_COST_DAYS),
                Referrer(usage_records, "project_id", "usage record", "usage records"),
                Referrer(usage_daily, "project_id", "daily usage row", "daily usage rows"),
                Referrer(allocations, "project_id", "allocation", "allocations"),
            ),
        ),
        Kind(
            "environments",
            "environment",
            environments,
            (_DESCRIPTION,),
            (Referrer(resources, "environment_id", "resource", "resources"),),
        ),
    )
}

#: Project columns whose change moves billing lines between projects.
_ATTRIBUTION = ("external_id", "provider_id", "team_id")


def kind_of(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ConfigError(f"no such kind {kind!r} (one of {', '.join(KINDS)})") from None


# Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One row as shown: referred rows by name, tax rates as ``Decimal``, times naive UTC."""

    kind: str
    id: int
    name: str
    values: dict[str, Any]
    archived: bool
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.values,
            "archived": self.archived,
            "created_at": self.created_at,
        }


def _query(k: Kind) -> Select[Any]:
    table = k.table
    columns: list[Any] = [table.c.id, table.c.name, table.c.archived, table.c.created_at]
    joined: Any = table
    for field in k.fields:
        if field.ref is None:
            columns.append(table.c[field.column].label(f"f_{field.name}"))
            continue
        other = KINDS[field.ref].table.alias(f"ref_{field.name}")
        joined = joined.outerjoin(other, other.c.id == table.c[field.column])
        columns.append(other.c.name.label(f"f_{field.name}"))
    return select(*columns).select_from(joined)


def _entry(k: Kind, row: Any) -> Entry:
    values = {f.name: getattr(row, f"f_{f.name}") for f in k.fields}
    return Entry(k.name, row.id, row.name, values, bool(row.archived), row.created_at)


def list_entries(conn: Connection, kind: str, /, *, archived: bool = False) -> list[Entry]:
    """The rows of ``kind`` by name; archived ones only with ``archived=True``."""
    k = kind_of(kind)
    query = _query(k).order_by(k.table.c.name)
    if not archived:
        query = query.where(k.table.c.archived == False)  # noqa: E712
    return [_entry(k, row) for row in conn.execute(query)]


def get(conn: Connection, kind: str, name: str, /) -> Entry:
    """The row named ``name``, or a :class:`ConfigError` saying it does not exist."""
    k = kind_of(kind)
    row = conn.execute(_query(k).where(k.table.c.name == name)).first()
    if row is None:
        raise ConfigError(f"{k.one} {_quoted(name)} does not exist")
    return _entry(k, row)


def _row(conn: Connection, k: Kind, name: str) -> Mapping[str, Any]:
    row = conn.execute(select(k.table).where(k.table.c.name == name)).mappings().first()
    if row is None:
        raise ConfigError(f"{k.one} {_quoted(name)} does not exist")
    return dict(row)


def _check_free(conn: Connection, k: Kind, name: str) -> None:
    archived = conn.execute(select(k.table.c.archived).where(k.table.c.name == name)).first()
    if archived is None:
        return
    if archived[0]:
        hint = f"meterbook org {k.name} unarchive {shlex.quote(name)}"
        raise ConflictError(f"{k.one} {_quoted(name)} already exists, archived ({hint})")
    raise ConflictError(f"{k.one} {_quoted(name)} already exists")


class _Names:
    """Ids of referred rows by name, looked up once per kind and name."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._ids: dict[tuple[str, str], int] = {}

    def id_of(self, kind: str, name: str) -> int:
        key = (kind, name)
        if key not in self._ids:
            k = KINDS[kind]
            found = self.conn.execute(select(k.table.c.id).where(k.table.c.name == name)).first()
            if found is None:
                raise ConfigError(f"{k.one} {_quoted(name)} does not exist")
            self._ids[key] = found[0]
        return self._ids[key]

    def name_of(self, kind: str, id_: int) -> str:
        for (known_kind, name), known in self._ids.items():
            if known_kind == kind and known == id_:
                return name
        table = KINDS[kind].table
        name = self.conn.execute(select(table.c.name).where(table.c.id == id_)).scalar_one()
        self._ids[(kind, name)] = id_
        return str(name)


# Writing ------------------------------------------------------------------------------------


def _value(field: Field, raw: object, names: _Names) -> object:
    if field.ref is not None:
        name = raw.strip() if isinstance(raw, str) else raw
        if not isinstance(name, str):
            raise ConfigError(f"{field.name}: must be the name of a {KINDS[field.ref].one}")
        return names.id_of(field.ref, name)
    try:
        return field.parse(raw)
    except _Invalid as exc:
        raise ConfigError(f"{field.name}: {exc}") from None


def _prepare(
    k: Kind,
    names: _Names,
    name: str,
    values: Mapping[str, object],
    current: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The columns to write for ``values`` (all of them for a new row, ``current`` None)."""
    for key in values:
        if key not in {f.name for f in k.fields}:
            known = ", ".join(f.name for f in k.fields)
            raise ConfigError(f"{key}: {k.name} have no such field (they have {known})")
    out: dict[str, Any] = {}
    for field in k.fields:
        raw = values.get(field.name)
        if field.name in values and not _blank(raw):
            out[field.column] = _value(field, raw, names)
        elif current is None:
            out[field.column] = None if field.default is None else field.default(name)
        elif field.name in values:
            out[field.column] = None
        else:
            continue
        needed = current is None or current[field.column] is not None
        if field.required and out[field.column] is None and needed:
            raise ConfigError(f"{field.name}: required")
    if k is KINDS["projects"]:
        merged = {**(current or {}), **out}
        # A project billed by a provider is known there by an id: its name unless given.
        if merged.get("provider_id") is not None and merged.get("external_id") is None:
            out["external_id"] = name
    return out


def _check_external(
    conn: Connection, names: _Names, project_id: int | None, provider_id: Any, external_id: Any
) -> None:
    """A provider knows each of its projects by a different external id."""
    if provider_id is None or external_id is None:
        return
    query = select(projects.c.name).where(
        projects.c.provider_id == provider_id, projects.c.external_id == external_id
    )
    if project_id is not None:
        query = query.where(projects.c.id != project_id)
    other = conn.execute(query).scalar()
    if other is not None:
        provider = names.name_of("providers", provider_id)
        raise ConflictError(
            f"external_id: project {_quoted(other)} already has external id "
            f"{_quoted(external_id)} at provider {_quoted(provider)}"
        )


def _attribute(conn: Connection, provider_ids: Iterable[int | None]) -> None:
    wanted = {i for i in provider_ids if i is not None}
    if wanted:
        for hook in ATTRIBUTION_HOOKS:
            hook(conn, set(wanted))


def _integrity(what: str, exc: IntegrityError) -> ConflictError:
    """A change the database refused: written at the same time by someone else."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return ConflictError(f"{what}: the database refused the change: {reason}")


def add(conn: Connection, kind: str, name: str, /, **values: object) -> Entry:
    """Add a row; ``values`` are fields of the kind (refer to other rows by name)."""
    k = kind_of(kind)
    name = check_name(name)
    names = _Names(conn)
    out = _prepare(k, names, name, values, None)
    _check_free(conn, k, name)
    if k is KINDS["projects"]:
        _check_external(conn, names, None, out["provider_id"], out["external_id"])
    try:
        conn.execute(k.table.insert().values(name=name, archived=False, created_at=_now(), **out))
    except IntegrityError as exc:
        raise _integrity(f"{k.one} {_quoted(name)}", exc) from None
    if k is KINDS["projects"]:
        _attribute(conn, [out["provider_id"]])
    return get(conn, kind, name)


def edit(
    conn: Connection, kind: str, name: str, /, *, new_name: str | None = None, **values: object
) -> tuple[Entry, bool]:
    """Rename a row and/or change fields (a blank value clears an optional field).

    Returns the row as it is now and whether anything changed.
    """
    k = kind_of(kind)
    current = _row(conn, k, name)
    names = _Names(conn)
    final = name if new_name is None else check_name(new_name)
    changes = {
        c: v for c, v in _prepare(k, names, final, values, current).items() if current[c] != v
    }
    if final != name:
        _check_free(conn, k, final)
        changes["name"] = final
    if k is KINDS["projects"] and {"provider_id", "external_id"} & changes.keys():
        merged = {**current, **changes}
        _check_external(conn, names, current["id"], merged["provider_id"], merged["external_id"])
    if changes:
        try:
            conn.execute(k.table.update().where(k.table.c.id == current["id"]).values(**changes))
        except IntegrityError as exc:
            raise _integrity(f"{k.one} {_quoted(name)}", exc) from None
    if k is KINDS["projects"] and set(_ATTRIBUTION) & changes.keys():
        _attribute(conn, [current["provider_id"], changes.get("provider_id")])
    if k is KINDS["providers"] and "tax_rate" in changes:
        _attribute(conn, [current["id"]])
    return get(conn, kind, final), bool(changes)


def references(conn: Connection, kind: str, name: str, /) -> list[tuple[Referrer, int]]:
    """What refers to the row: each referring table with its number of rows (none: empty)."""
    k = kind_of(kind)
    row_id = _row(conn, k, name)["id"]
    found = []
    for referrer in k.referrers:
        column = referrer.table.c[referrer.column]
        count = conn.execute(select(func.count()).where(column == row_id)).scalar_one()
        if count:
            found.append((referrer, int(count)))
    return found


def remove(conn: Connection, kind: str, name: str, /) -> None:
    """Remove a row nothing refers to; otherwise a :class:`ConflictError` saying what does."""
    k = kind_of(kind)
    row_id = _row(conn, k, name)["id"]
    found = references(conn, kind, name)
    if found:
        parts = [referrer.count(n) for referrer, n in found]
        listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
        verb = "refers" if len(found) == 1 and found[0][1] == 1 else "refer"
        raise ConflictError(
            f"cannot remove {k.one} {_quoted(name)}: {listed} {verb} to it; archive it instead "
            f"(meterbook org {k.name} archive {shlex.quote(name)})"
        )
    try:
        conn.execute(k.table.delete().where(k.table.c.id == row_id))
    except IntegrityError as exc:
        raise _integrity(f"{k.one} {_quoted(name)}", exc) from None


def set_archived(conn: Connection, kind: str, name: str, archived: bool, /) -> bool:
    """Archive (hide from lists) or bring back a row; whether that changed anything."""
    k = kind_of(kind)
    current = _row(conn, k, name)
    if bool(current["archived"]) == archived:
        return False
    conn.execute(k.table.update().where(k.table.c.id == current["id"]).values(archived=archived))
    return True


# CSV ----------------------------------------------------------------------------------------


def cell(value: object) -> str:
    """A value as CSV text (and as shown in tables)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


def export_csv(conn: Connection, kind: str, out: TextIO, /) -> int:
    """Write every row of ``kind`` (archived ones too) as CSV; returns the number of rows."""
    k = kind_of(kind)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(k.columns)
    entries = list_entries(conn, kind, archived=True)
    for entry in entries:
        values = [entry.values[f.name] for f in k.fields]
        writer.writerow([cell(v) for v in (entry.name, *values, entry.archived)])
    return len(entries)


@dataclass(frozen=True)
class ImportSummary:
    added: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.added:,} added, {self.updated:,} updated, {self.unchanged:,} unchanged"


@dataclass
class _Planned:
    line: int
    name: str
    changes: dict[str, Any]
    current: Mapping[str, Any] | None


def _read_csv(k: Kind, lines: Iterable[str], source: str) -> list[tuple[int, dict[str, str]]]:
    """The data rows with their first line numbers; each row has the header's columns."""
    reader = csv.reader(lines, strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    end = 0  # the last line read of the last complete row
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(
                f"{source}: empty: the first line must name the columns ({', '.join(k.columns)})"
            )
        columns = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
        for column in columns:
            if column not in k.columns:
                raise InputError(
                    f"{source}: line 1: unknown column {_quoted(column)} "
                    f"({k.name} have {', '.join(k.columns)})"
                )
            if columns.count(column) > 1:
                raise InputError(f"{source}: line 1: column {_quoted(column)} appears twice")
        if "name" not in columns:
            raise InputError(f"{source}: line 1: no name column ({', '.join(k.columns)})")
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                raise InputError(
                    f"{source}: line {start}: {len(cells)} fields but the header has {len(columns)}"
                )
            rows.append((start, dict(zip(columns, cells, strict=True))))
    except csv.Error as exc:
        raise InputError(f"{source}: line {end + 1}: {exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 text") from None
    return rows


def import_csv(conn: Connection, kind: str, lines: Iterable[str], source: str, /) -> ImportSummary:
    """Add or update (by name) the rows of a CSV file, as :func:`export_csv` writes it.

    The columns are ``name`` and any of the kind's fields and ``archived``, in any order; a
    blank cell clears an optional field, a column left out leaves that field as it is (new
    rows take its default). The whole file is checked before anything is written; an error
    names the file (``source``) and the line. Run it inside one transaction.
    """
    k = kind_of(kind)
    rows = _read_csv(k, lines, source)
    existing = {r["name"]: dict(r) for r in conn.execute(select(k.table)).mappings()}
    names = _Names(conn)
    seen: dict[str, int] = {}
    planned: list[_Planned] = []
    for line, values in rows:
        try:
            name = check_name(values.pop("name"))
            if name in seen:
                raise ConflictError(f"name: {_quoted(name)} is on line {seen[name]} already")
            seen[name] = line
            current = existing.get(name)
            flag = values.pop("archived", None)
            changes = _prepare(k, names, name, values, current)
            if flag is not None or current is None:
                try:
                    changes["archived"] = _flag(flag or "")
                except _Invalid as exc:
                    raise ConfigError(f"archived: {exc}") from None
            if current is not None:
                changes = {c: v for c, v in changes.items() if current[c] != v}
        except ConflictError as exc:
            raise ConflictError(f"{source}: line {line}: {exc}") from None
        except MeterbookError as exc:
            raise InputError(f"{source}: line {line}: {exc}") from None
        planned.append(_Planned(line, name, changes, current))
    if k is KINDS["projects"]:
        _check_externals(existing, planned, names, source)
    _write(conn, k, planned)
    updated = sum(1 for p in planned if p.current is not None and p.changes)
    added = sum(1 for p in planned if p.current is None)
    return ImportSummary(added, updated, len(planned) - added - updated)


def _check_externals(
    existing: Mapping[str, Mapping[str, Any]],
    planned: list[_Planned],
    names: _Names,
    source: str,
) -> None:
    """No two projects, in the file or not, with the same provider and external id."""
    final: dict[str, tuple[Any, Any, int | None]] = {
        name: (row["provider_id"], row["external_id"], None) for name, row in existing.items()
    }
    for p in planned:
        merged = {**(p.current or {}), **p.changes}
        final[p.name] = (merged["provider_id"], merged["external_id"], p.line)
    holders: dict[tuple[Any, Any], tuple[str, int | None]] = {}
    # Rows not in the file first, then the file's in order: the error names the later line.
    for name, (provider_id, external_id, line) in sorted(
        final.items(), key=lambda item: (item[1][2] or 0, item[0])
    ):
        if provider_id is None or external_id is None:
            continue
        other = holders.setdefault((provider_id, external_id), (name, line))
        if other[0] != name:
            where = "" if other[1] is None else f" (line {other[1]})"
            provider = names.name_of("providers", provider_id)
            raise ConflictError(
                f"{source}: line {line}: external_id: project {_quoted(other[0])}{where} already "
                f"has external id {_quoted(external_id)} at provider {_quoted(provider)}"
            )


def _write(conn: Connection, k: Kind, planned: list[_Planned]) -> None:
    table = k.table
    updates = [p for p in planned if p.current is not None and p.changes]
    if k is KINDS["projects"]:
        # Free the external ids that move first: two projects may swap theirs.
        moving = [
            p.current["id"]
            for p in updates
            if p.current is not None and {"provider_id", "external_id"} & p.changes.keys()
        ]
        if moving:
            conn.execute(table.update().where(table.c.id.in_(moving)).values(external_id=None))
    try:
        for p in updates:
            assert p.current is not None
            conn.execute(table.update().where(table.c.id == p.current["id"]).values(**p.changes))
        new = [p for p in planned if p.current is None]
        if new:
            now = _now()
            rows = [{"name": p.name, "created_at": now, **p.changes} for p in new]
            conn.execute(table.insert(), rows)
    except IntegrityError as exc:
        raise _integrity(f"import of {k.name}", exc) from None
    if k is KINDS["projects"]:
        touched: list[int | None] = []
        for p in planned:
            if p.current is None:
                touched.append(p.changes["provider_id"])
            elif set(_ATTRIBUTION) & p.changes.keys():
                touched += [p.current["provider_id"], p.changes.get("provider_id")]
        _attribute(conn, touched)
    elif k is KINDS["providers"]:
        _attribute(
            conn, [p.current["id"] for p in updates if p.current and "tax_rate" in p.changes]
        )
