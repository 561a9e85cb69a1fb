"""Rate cards: list, add a version, import and export a CSV (``meterbook rates``).

A version is added to the card of the same quantity and scope, or a new card is made (refused
when it would tie with another card, see :mod:`meterbook.rating`). The CSV has one row per
version, with the columns :data:`CSV_COLUMNS`; an import is all or nothing, each error naming
its line. A row equal to a stored version is left as it is, so importing an export again
changes nothing.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import Connection, func, select

from meterbook.errors import ConfigError, ConflictError, InputError
from meterbook.periods import parse_date
from meterbook.rating import (
    MATCH_FIELDS,
    RateCard,
    check_quantity,
    conflict,
    normal_scope,
    parse_currency,
    parse_price,
)
from meterbook.store.charging import load_book
from meterbook.store.schema_rating import SCOPE, rate_cards, rate_versions

CSV_COLUMNS = (
    "quantity",
    *MATCH_FIELDS,
    "currency",
    "effective_from",
    "price",
    "description",
    "note",
)
_REQUIRED = ("quantity", "currency", "effective_from", "price")


@dataclass(frozen=True)
class RateSpec:
    """One version of a rate card, as given."""

    quantity: str
    scope: dict[str, str]
    currency: str
    effective_from: date
    price: Decimal
    description: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RateLine:
    """A version of a card, for listing: the card, the version and its validity."""

    card: RateCard
    version: int
    effective_from: date
    effective_to: date | None  # exclusive: the next version's day
    price: Decimal
    note: str | None


def make_spec(
    quantity: str,
    price: str,
    currency: str,
    effective_from: str,
    scope: dict[str, str | None],
    description: str | None = None,
    note: str | None = None,
) -> RateSpec:
    """Check and normalise what a user gave (one ConfigError naming the field)."""
    quantity = quantity.strip()
    clean = normal_scope(scope)
    check_quantity(quantity, clean["gpu_model"])
    for name, value in clean.items():
        if len(value) > SCOPE:
            raise ConfigError(f"{name}: longer than {SCOPE} characters")
    return RateSpec(
        quantity,
        clean,
        parse_currency(currency),
        parse_date(effective_from, "effective_from"),
        parse_price(price),
        description or None,
        note or None,
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def add_rate(conn: Connection, spec: RateSpec) -> tuple[RateCard, int, str]:
    """Add a version (and its card when new); returns the card, the version number and
    ``added`` / ``unchanged`` (the same version was there already)."""
    book = load_book(conn)
    card = next(
        (c for c in book.cards if c.quantity == spec.quantity and c.scope == spec.scope), None
    )
    if card is None:
        card = RateCard(0, spec.quantity, spec.scope, spec.currency, spec.description)
        other = conflict(card, book.cards)
        if other is not None:
            raise ConflictError(
                f"rate {card.label()} would tie with rate {other.id} {other.label()}: both "
                "could match the same records with the same specificity (narrow one of them)"
            )
        values = {
            "quantity": spec.quantity,
            **spec.scope,
            "currency": spec.currency,
            "description": spec.description,
            "created_at": _now(),
        }
        inserted = conn.execute(rate_cards.insert().values(**values)).inserted_primary_key
        assert inserted is not None
        card.id = int(inserted[0])
    elif card.currency != spec.currency:
        raise ConflictError(
            f"rate {card.id} {card.label()} is in {card.currency}, not {spec.currency}"
        )
    for v in card.versions:
        if v.effective_from == spec.effective_from:
            if v.price == spec.price:
                return card, v.version, "unchanged"
            raise ConflictError(
                f"rate {card.id} {card.label()} already has version {v.version} from "
                f"{v.effective_from} at {v.price.normalize():f}; add a version from another day"
            )
    number = (
        conn.execute(
            select(func.max(rate_versions.c.version)).where(rate_versions.c.rate_id == card.id)
        ).scalar()
        or 0
    ) + 1
    conn.execute(
        rate_versions.insert().values(
            rate_id=card.id,
            version=number,
            effective_from=spec.effective_from,
            price=spec.price,
            note=spec.note,
            created_at=_now(),
        )
    )
    return card, number, "added"


def list_rates(
    conn: Connection, quantity: str | None = None, on: date | None = None
) -> list[RateLine]:
    """Every version of every card (or the versions effective on ``on``), by card then date."""
    out = []
    for card in sorted(load_book(conn).cards, key=lambda c: c.id):
        if quantity and card.quantity != quantity:
            continue
        versions = card.versions
        for i, v in enumerate(versions):
            end = versions[i + 1].effective_from if i + 1 < len(versions) else None
            if on is not None and not (v.effective_from <= on and (end is None or on < end)):
                continue
            out.append(RateLine(card, v.version, v.effective_from, end, v.price, v.note))
    return out


def export_csv(conn: Connection, out: TextIO) -> int:
    """Write every version as a CSV row; returns the rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    lines = list_rates(conn)
    for line in lines:
        c = line.card
        writer.writerow(
            [
                c.quantity,
                *(c.scope[n] for n in MATCH_FIELDS),
                c.currency,
                line.effective_from.isoformat(),
                f"{line.price.normalize():f}",
                c.description or "",
                line.note or "",
            ]
        )
    return len(lines)


def read_csv(lines: Iterable[str], source: str) -> list[tuple[int, RateSpec]]:
    """Parse a rate CSV; every problem is an InputError naming the line (nothing stored)."""
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(
            f"{source}: empty file (the header needs {', '.join(_REQUIRED)})"
        ) from None
    except csv.Error as exc:
        raise InputError(f"{source}: line 1: {exc}") from None
    for name in header:
        if name not in CSV_COLUMNS:
            raise InputError(
                f"{source}: line 1: unknown column {name!r} (use {', '.join(CSV_COLUMNS)})"
            )
    if len(set(header)) < len(header):
        raise InputError(f"{source}: line 1: a column appears twice")
    for name in _REQUIRED:
        if name not in header:
            raise InputError(f"{source}: line 1: no {name} column")
    specs = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise InputError(
                    f"{source}: line {line}: {len(cells)} fields but the header has {len(header)}"
                )
            row = dict(zip(header, cells, strict=True))
            try:
                spec = make_spec(
                    row["quantity"],
                    row["price"],
                    row["currency"],
                    row["effective_from"],
                    {n: row.get(n) for n in MATCH_FIELDS},
                    row.get("description"),
                    row.get("note"),
                )
            except ConfigError as exc:
                raise InputError(f"{source}: line {line}: {exc}") from None
            specs.append((line, spec))
    except csv.Error as exc:
        raise InputError(f"{source}: line {reader.line_num}: {exc}") from None
    return specs


@dataclass
class ImportSummary:
    added: int = 0
    unchanged: int = 0


def import_csv(conn: Connection, lines: Iterable[str], source: str) -> ImportSummary:
    """Add every version of a rate CSV in the caller's transaction (all or nothing: the first
    error, naming its line, raises and the caller rolls back)."""
    summary = ImportSummary()
    for line, spec in read_csv(lines, source):
        try:
            _, _, outcome = add_rate(conn, spec)
        except ConflictError as exc:
            raise ConflictError(f"{source}: line {line}: {exc}") from None
        if outcome == "added":
            summary.added += 1
        else:
            summary.unchanged += 1
    return summary


def scope_text(card: RateCard) -> str:
    parts = [f"{n}={card.scope[n]}" for n in MATCH_FIELDS if card.scope[n]]
    return " ".join(parts) or "any"


def columns_of(lines: Sequence[RateLine]) -> list[dict[str, Any]]:
    """Rows of plain values for output."""
    return [
        {
            "rate": line.card.id,
            "quantity": line.card.quantity,
            "scope": scope_text(line.card),
            "version": line.version,
            "from": line.effective_from.isoformat(),
            "to": line.effective_to.isoformat() if line.effective_to else "",
            "price": line.price,
            "currency": line.card.currency,
            "description": line.card.description or "",
            "note": line.note or "",
        }
        for line in lines
    ]
