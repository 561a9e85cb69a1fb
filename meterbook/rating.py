"""Rating: which rate card prices a usage record's quantities, and what the charge is.

Pure logic over the model (no SQL). A rate card prices one ledger quantity (:data:`QUANTITIES`)
for a scope: any of :data:`SCOPE_FIELDS` (and, for ``gpu_hours``, a GPU model); an empty field
matches anything. A card has versions, each with a price effective from a day (in the
accounting time zone) until the next version's day.

Matching a record: among the cards of the quantity whose every non-empty field equals the
record's, and that have a version effective on the record's start day, the most specific wins
(most non-empty fields, the GPU model counting as one). Two cards of the same specificity that
some record could match both (no field where both are set and differ) are refused when the
second is added, so a match is never a tie.

A charge: quantity rounded to 6 decimals (:data:`UNITS`) x price, rounded half-even to 6
decimals. Its day parts (for the rollup) follow the record's overlap with each day, rounded
the same way, the last day taking the remainder so that the parts add up to the charge exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from meterbook.errors import ConfigError
from meterbook.periods import local_day, split_seconds

#: Ledger quantities that can be rated, with the record column that is a rate over time (the
#: quantity is that rate x hours), or ``None`` for a count (``io_ops``).
QUANTITIES: dict[str, str | None] = {
    "cpu_hours": "cpus",
    "gpu_hours": "gpus",
    "node_hours": "nodes",
    "mem_gb_hours": "mem_gb",
    "wall_hours": "",
    "io_ops": None,
}
#: What a rate card's scope can name; each field of a record with the same name.
SCOPE_FIELDS = ("source", "cluster", "partition", "qos", "provider", "workload_type", "environment")
#: Every field that narrows a card, in the order they are shown.
MATCH_FIELDS = ("gpu_model", *SCOPE_FIELDS)
UNITS = Decimal("0.000001")


def _q(value: Decimal) -> Decimal:
    return value.quantize(UNITS, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Version:
    version: int
    effective_from: date
    price: Decimal
    note: str | None = None


@dataclass
class RateCard:
    id: int
    quantity: str
    scope: dict[str, str]  # every MATCH_FIELDS name; '' = any
    currency: str
    description: str | None = None
    versions: list[Version] = field(default_factory=list)

    @property
    def specificity(self) -> int:
        return sum(1 for name in MATCH_FIELDS if self.scope.get(name))

    def label(self) -> str:
        """``cpu_hours[cluster=hpc,partition=gpu]``; ``cpu_hours[*]`` for any scope."""
        parts = [f"{n}={self.scope[n]}" for n in MATCH_FIELDS if self.scope.get(n)]
        return f"{self.quantity}[{','.join(parts) or '*'}]"

    def version_on(self, day: date) -> Version | None:
        """The version effective on ``day`` (the latest starting on or before it)."""
        found = None
        for v in self.versions:  # ascending effective_from
            if v.effective_from <= day:
                found = v
            else:
                break
        return found

    def matches(self, record: Mapping[str, Any]) -> bool:
        return all(
            not wanted or record.get(name) == wanted
            for name, wanted in self.scope.items()
            if name in MATCH_FIELDS
        )


def normal_scope(scope: Mapping[str, str | None]) -> dict[str, str]:
    """Every match field, '' for "any"; unknown fields refused."""
    unknown = set(scope) - set(MATCH_FIELDS)
    if unknown:
        raise ConfigError(
            f"unknown scope field {sorted(unknown)[0]!r} (use {', '.join(MATCH_FIELDS)})"
        )
    return {name: (scope.get(name) or "").strip() for name in MATCH_FIELDS}


def check_quantity(quantity: str, gpu_model: str) -> None:
    if quantity not in QUANTITIES:
        raise ConfigError(f"unknown quantity {quantity!r} (use {', '.join(QUANTITIES)})")
    if gpu_model and quantity != "gpu_hours":
        raise ConfigError("a GPU model can only narrow a gpu_hours rate")


def parse_price(text: str, what: str = "price") -> Decimal:
    try:
        price = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise ConfigError(f"{what}: {text!r} is not a number") from exc
    if not price.is_finite() or price < 0:
        raise ConfigError(f"{what}: {text!r} must be a number, not negative")
    if price != price.quantize(Decimal(1).scaleb(-12)):
        raise ConfigError(f"{what}: {text!r} has more than 12 decimals")
    return price


def parse_currency(text: str, what: str = "currency") -> str:
    code = text.strip().upper()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise ConfigError(f"{what}: {text!r} is not an ISO 4217 code (three letters)")
    return code


def conflict(new: RateCard, cards: Iterable[RateCard]) -> RateCard | None:
    """A card of the same quantity and specificity that could match the same records."""
    for other in cards:
        if other.quantity != new.quantity or other.id == new.id:
            continue
        if other.specificity != new.specificity or other.scope == new.scope:
            continue
        if all(
            not a or not b or a == b
            for a, b in ((new.scope[n], other.scope[n]) for n in MATCH_FIELDS)
        ):
            return other
    return None


class RateBook:
    """Every rate card, indexed for matching records."""

    def __init__(self, cards: Sequence[RateCard]) -> None:
        self.cards = list(cards)
        self._plans: dict[tuple[Any, ...], list[tuple[str, RateCard, Version]]] = {}
        self._by_quantity: dict[str, list[RateCard]] = {}
        for card in sorted(cards, key=lambda c: (-c.specificity, c.id)):
            card.versions.sort(key=lambda v: v.effective_from)
            self._by_quantity.setdefault(card.quantity, []).append(card)

    def __bool__(self) -> bool:
        return bool(self.cards)

    def match(
        self, quantity: str, record: Mapping[str, Any], day: date
    ) -> tuple[RateCard, Version] | None:
        for card in self._by_quantity.get(quantity, ()):
            if card.matches(record):
                version = card.version_on(day)
                if version is not None:
                    return card, version
        return None

    @property
    def quantities(self) -> list[str]:
        return list(self._by_quantity)

    def plan(self, record: Mapping[str, Any], day: date) -> list[tuple[str, RateCard, Version]]:
        """The matching card and version of each quantity, for a record starting on ``day``
        (remembered: records of the same scope and day match the same cards)."""
        key = (day, *(record.get(n) or "" for n in MATCH_FIELDS))
        found = self._plans.get(key)
        if found is None:
            found = []
            for quantity in self._by_quantity:
                matched = self.match(quantity, record, day)
                if matched is not None:
                    found.append((quantity, *matched))
            self._plans[key] = found
        return found


@dataclass(frozen=True)
class Charge:
    quantity: str
    units: Decimal
    rate_id: int
    version: int
    price: Decimal
    amount: Decimal
    currency: str


def quantity_of(record: Mapping[str, Any], quantity: str) -> Decimal:
    """The record's total of ``quantity``, rounded to 6 decimals (0 when it has none)."""
    column = QUANTITIES[quantity]
    if column is None:
        return Decimal(int(record.get("io_ops") or 0))
    start, end = record.get("start_ts"), record.get("end_ts")
    if start is None or end is None or end <= start:
        return Decimal(0)
    rate = 1.0 if column == "" else float(record.get(column) or 0)
    return _q(Decimal(rate * (end - start) / 3600.0))


def rate_record(book: RateBook, record: Mapping[str, Any], zone: tzinfo) -> list[Charge]:
    """The charges of one record (its fields: see :data:`MATCH_FIELDS`, ``gpu_model`` being
    the record's GPU type, plus the quantities' columns, ``start_ts``, ``end_ts`` and
    ``cost``). A record with a provider cost or without a start has none."""
    if record.get("cost") is not None or record.get("start_ts") is None:
        return []
    return charges_for(record, book.plan(record, local_day(record["start_ts"], zone)))


def charges_for(
    record: Mapping[str, Any], plan: Sequence[tuple[str, RateCard, Version]]
) -> list[Charge]:
    """The charges of a record (with a start, without a provider cost) under the cards and
    versions that :meth:`RateBook.plan` matched for it."""
    start, end = record["start_ts"], record.get("end_ts")
    hours = (end - start) / 3600.0 if end is not None and end > start else 0.0
    out = []
    for quantity, card, version in plan:
        column = QUANTITIES[quantity]
        if column is None:
            units = Decimal(int(record.get("io_ops") or 0))
        elif not hours:
            continue
        else:
            rate = 1.0 if column == "" else float(record.get(column) or 0)
            units = _q(Decimal(rate * hours))
        if not units:
            continue
        amount = _q(units * version.price)
        out.append(
            Charge(quantity, units, card.id, version.version, version.price, amount,
                   card.currency)
        )  # fmt: skip
    return out


def day_parts(
    record: Mapping[str, Any], quantity: str, values: Sequence[Decimal], zone: tzinfo
) -> Iterator[tuple[date, list[Decimal]]]:
    """Split each of ``values`` (a charge's units and amount) over the record's days in
    proportion to its overlap with each (counts: all on the start day). Rounded to 6
    decimals; the last day takes the remainder, so each value's parts add up to it."""
    start, end = record["start_ts"], record.get("end_ts")
    if QUANTITIES[quantity] is None or end is None or end <= start:
        yield local_day(start, zone), list(values)
        return
    yield from split_parts(list(split_seconds(start, end, zone)), end - start, values)


def split_parts(
    pieces: Sequence[tuple[date, float, bool]], seconds: float, values: Sequence[Decimal]
) -> Iterator[tuple[date, list[Decimal]]]:
    """:func:`day_parts` for the pieces of :func:`meterbook.periods.split_seconds`."""
    if len(pieces) == 1:
        yield pieces[0][0], list(values)
        return
    total = Decimal(seconds)
    left = list(values)
    for i, (day, seconds, _) in enumerate(pieces):
        if i == len(pieces) - 1:
            yield day, left
            return
        share = Decimal(seconds) / total
        part = [_q(v * share) for v in values]
        left = [a - b for a, b in zip(left, part, strict=True)]
        yield day, part
