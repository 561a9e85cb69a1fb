"""Currency conversion at the rate of a figure's day.

Rates are dated: one unit of ``from`` is ``rate`` units of ``to`` from that day until a later
day's rate. A figure of day D converts at the latest rate on or before D; a rate given only
the other way round (``to`` -> ``from``) is used inverted. No rate on or before the day is an
error naming the currencies and the day (:class:`meterbook.errors.ConfigError`).

Conversion keeps every digit (Decimal); totals are rounded for display only.
"""

from __future__ import annotations

import bisect
import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from meterbook.errors import ConfigError, InputError
from meterbook.periods import parse_date
from meterbook.rating import parse_currency, parse_price


@dataclass(frozen=True)
class FxRate:
    day: date
    from_currency: str
    to_currency: str
    rate: Decimal


class Converter:
    """Converts amounts into one currency with a table of dated rates."""

    def __init__(self, target: str, rates: Iterable[FxRate]) -> None:
        self.target = target
        self._days: dict[str, list[date]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        pairs: dict[str, dict[date, Decimal]] = {}
        inverse: dict[str, dict[date, Decimal]] = {}
        for r in rates:
            if r.to_currency == target and r.rate:
                pairs.setdefault(r.from_currency, {})[r.day] = r.rate
            elif r.from_currency == target and r.rate:
                inverse.setdefault(r.to_currency, {})[r.day] = 1 / r.rate
        for currency in set(pairs) | set(inverse):
            merged = {**inverse.get(currency, {}), **pairs.get(currency, {})}
            days = sorted(merged)
            self._days[currency] = days
            self._rates[currency] = [merged[d] for d in days]

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == self.target:
            return Decimal(1)
        days = self._days.get(currency, [])
        at = bisect.bisect_right(days, day)
        if not at:
            raise ConfigError(
                f"no exchange rate from {currency} to {self.target} on or before {day} "
                "(add one with `meterbook fx import`)"
            )
        return self._rates[currency][at - 1]

    def convert(self, amount: Decimal, currency: str, day: date) -> Decimal:
        return amount * self.rate(currency, day)


def read_csv(lines: Iterable[str], source: str) -> list[FxRate]:
    """Rows ``date,from,to,rate``; each error an InputError naming its line."""
    reader = csv.reader(lines)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{source}: empty file (the header is date,from,to,rate)") from None
    if header != ["date", "from", "to", "rate"]:
        raise InputError(f"{source}: line 1: the header must be date,from,to,rate")
    out: dict[tuple[date, str, str], FxRate] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != 4:
            raise InputError(f"{source}: line {line}: {len(cells)} fields, expected 4")
        try:
            day = parse_date(cells[0].strip(), "date")
            source_code = parse_currency(cells[1], "from")
            target = parse_currency(cells[2], "to")
            rate = parse_price(cells[3], "rate")
        except ConfigError as exc:
            raise InputError(f"{source}: line {line}: {exc}") from None
        if rate == 0:
            raise InputError(f"{source}: line {line}: rate: must be more than 0")
        if source_code == target:
            raise InputError(f"{source}: line {line}: from and to are both {target}")
        out[(day, source_code, target)] = FxRate(day, source_code, target, rate)
    return list(out.values())
