"""Exchange rates in the store: import, list, and a converter for reports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, delete, select, tuple_

from meterbook.fx import Converter, FxRate
from meterbook.store.schema_rating import fx_rates


def _decimal(value: object) -> Decimal:
    """A stored rate (at most 12 decimals; SQLite's doubles come back as approximations)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-12)).normalize()


def store_rates(conn: Connection, rates: Sequence[FxRate]) -> tuple[int, int]:
    """Insert rates, replacing those of the same day and pair; returns (new, replaced)."""
    f = fx_rates.c
    keys = [(r.day, r.from_currency, r.to_currency) for r in rates]
    replaced = 0
    for at in range(0, len(keys), 500):
        part = keys[at : at + 500]
        replaced += conn.execute(
            delete(fx_rates).where(tuple_(f.day, f.from_currency, f.to_currency).in_(part))
        ).rowcount
    if rates:
        conn.execute(
            fx_rates.insert(),
            [
                {
                    "day": r.day,
                    "from_currency": r.from_currency,
                    "to_currency": r.to_currency,
                    "rate": r.rate,
                }
                for r in rates
            ],
        )
    return len(rates) - replaced, replaced


def list_rates(
    conn: Connection,
    currency: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[FxRate]:
    f = fx_rates.c
    query = select(fx_rates).order_by(f.day, f.from_currency, f.to_currency)
    if currency:
        query = query.where((f.from_currency == currency) | (f.to_currency == currency))
    if start:
        query = query.where(f.day >= start)
    if end:
        query = query.where(f.day < end)
    return [
        FxRate(r.day, r.from_currency, r.to_currency, _decimal(r.rate)) for r in conn.execute(query)
    ]


def converter(conn: Connection, target: str) -> Converter:
    """A converter into ``target`` with every stored rate involving it."""
    return Converter(target, list_rates(conn, target))
