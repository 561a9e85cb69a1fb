"""Charges in the database: rating records as they are written, and re-rating a period.

:class:`Charger` is used by the importer (:class:`meterbook.store.ingest.LedgerWriter`) inside
the import's transaction: it inserts the charges of new records, replaces those of changed
ones and keeps ``charge_daily`` in step; :func:`rerate` does the same for stored records of a
period after a rate change, touching only records whose charges differ (so running it twice
changes nothing). Without any rate card there is nothing to do, and the importer does nothing
more than one query per import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, delete, select

from meterbook.periods import local_day, split_seconds
from meterbook.rating import (
    QUANTITIES,
    UNITS,
    Charge,
    RateBook,
    RateCard,
    Version,
    charges_for,
    day_parts,
    split_parts,
)
from meterbook.store.dialect import backend, insert_rows, select_in, upsert_rows
from meterbook.store.schema import environments, providers, resources, sources, usage_records
from meterbook.store.schema_rating import (
    CHARGE_KEYS,
    CHARGE_MEASURES,
    charge_daily,
    charges,
    rate_cards,
    rate_versions,
)

#: Columns of a stored record that rating reads.
RECORD_FIELDS = (
    "source_id",
    "record_key",
    "resource_id",
    "user_id",
    "project_id",
    "partition",
    "qos",
    "workload_type",
    "gpu_type",
    "start_ts",
    "end_ts",
    "cpus",
    "gpus",
    "nodes",
    "mem_gb",
    "io_ops",
    "cost",
)
CHARGE_COLUMNS = (
    "source_id",
    "record_key",
    "quantity",
    "units",
    "rate_id",
    "version",
    "price",
    "amount",
    "currency",
)


_PRICE_PLACES = Decimal(1).scaleb(-12)


def _decimal(value: Any, places: Decimal = _PRICE_PLACES) -> Decimal:
    """A stored number, cut to the places it was stored with (SQLite keeps binary doubles,
    which SQLAlchemy turns into 18-decimal approximations)."""
    return Decimal(str(value)).quantize(places).normalize()


def load_book(conn: Connection) -> RateBook:
    """Every rate card with its versions."""
    cards: dict[int, RateCard] = {}
    for row in conn.execute(select(rate_cards).order_by(rate_cards.c.id)):
        scope = {
            n: row._mapping[n]
            for n in (
                "gpu_model",
                "source",
                "cluster",
                "partition",
                "qos",
                "provider",
                "workload_type",
                "environment",
            )
        }
        cards[row.id] = RateCard(row.id, row.quantity, scope, row.currency, row.description)
    if cards:
        for v in conn.execute(select(rate_versions).order_by(rate_versions.c.effective_from)):
            if v.rate_id in cards:
                cards[v.rate_id].versions.append(
                    Version(v.version, v.effective_from, _decimal(v.price), v.note)
                )
    return RateBook(list(cards.values()))


class _Names:
    """Names of sources and of clusters with their provider and environment, by id."""

    def __init__(self) -> None:
        self.sources: dict[int, str] = {}
        self.resources: dict[int, tuple[str, str, str]] = {}

    def load(self, conn: Connection) -> None:
        self.sources = {r[0]: r[1] for r in conn.execute(select(sources.c.id, sources.c.name))}
        query = select(
            resources.c.id, resources.c.name, providers.c.name, environments.c.name
        ).select_from(
            resources.outerjoin(providers, providers.c.id == resources.c.provider_id).outerjoin(
                environments, environments.c.id == resources.c.environment_id
            )
        )
        self.resources = {r[0]: (r[1], r[2] or "", r[3] or "") for r in conn.execute(query)}

    def fill(self, conn: Connection, record: dict[str, Any]) -> dict[str, Any]:
        """Add the names a rate card's scope can name."""
        source_id, resource_id = record["source_id"], record.get("resource_id")
        if source_id not in self.sources or (resource_id and resource_id not in self.resources):
            self.load(conn)
        cluster, provider, environment = self.resources.get(resource_id or 0, ("", "", ""))
        record["source"] = self.sources.get(source_id, "")
        record["cluster"] = cluster
        record["provider"] = provider
        record["environment"] = environment
        record["gpu_model"] = record.get("gpu_type") or ""
        return record


@dataclass
class RerateCounts:
    records: int = 0
    changed: int = 0
    charges: int = 0


class Charger:
    """Rates records and keeps ``charges`` and ``charge_daily`` in step, in the caller's
    transaction. Day deltas wait for :meth:`flush`."""

    def __init__(self, book: RateBook, zone: tzinfo) -> None:
        self.book = book
        self.zone = zone
        self.names = _Names()
        self._deltas: dict[tuple[Any, ...], list[Decimal]] = {}
        self._plans: dict[tuple[Any, ...], list[tuple[str, RateCard, Version]]] = {}
        self._removed = False

    @classmethod
    def load(cls, conn: Connection, zone: tzinfo) -> Charger | None:
        """A charger when any rate card exists, else None (nothing to rate)."""
        if conn.execute(select(rate_cards.c.id).limit(1)).first() is None:
            return None
        charger = cls(load_book(conn), zone)
        charger.names.load(conn)
        return charger

    def rate(self, conn: Connection, record: dict[str, Any]) -> list[Charge]:
        """The charges of a stored-form record. Its names are looked up only for the first
        record of each scope and start day: the others reuse that match."""
        start = record.get("start_ts")
        if record.get("cost") is not None or start is None:
            return []
        day = local_day(start, self.zone)
        key = (day, record["source_id"], record.get("resource_id"), record.get("partition"),
               record.get("qos"), record.get("workload_type"), record.get("gpu_type"))  # fmt: skip
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self.book.plan(self.names.fill(conn, record), day)
        return charges_for(record, plan)

    def add(self, conn: Connection, records: Iterable[dict[str, Any]]) -> int:
        """Rate and store the charges of records that have none; returns the charges."""
        rows: list[tuple[Any, ...]] = []
        for record in records:
            found = self.rate(conn, record)
            if not found:
                continue
            dims = _dims(record)
            start, end = record["start_ts"], record.get("end_ts")
            pieces = None
            for c in found:
                rows.append(_charge_row(record, c))
                if QUANTITIES[c.quantity] is None or end is None or end <= start:
                    parts: Iterable[tuple[date, list[Decimal]]] = (
                        (local_day(start, self.zone), [c.units, c.amount]),
                    )
                else:
                    if pieces is None:
                        pieces = list(split_seconds(start, end, self.zone))
                    parts = split_parts(pieces, end - start, (c.units, c.amount))
                self._sum(parts, (*dims, c.quantity, c.currency), 1)
        self._insert(conn, rows)
        return len(rows)

    def remove(self, conn: Connection, records: Sequence[Mapping[str, Any]]) -> None:
        """Delete the stored charges of records (their stored versions), and their day parts."""
        by_source: dict[int, dict[str, Mapping[str, Any]]] = {}
        for r in records:
            by_source.setdefault(r["source_id"], {})[r["record_key"]] = r
        for source_id, wanted in by_source.items():
            found = stored_charges(conn, source_id, list(wanted))
            for key, stored in found.items():
                for c in stored:
                    self._add_parts(wanted[key], c.quantity, c.currency, c.units, c.amount, -1)
            _delete(conn, source_id, list(found))

    def _add_parts(
        self,
        record: Mapping[str, Any],
        quantity: str,
        currency: str,
        units: Decimal,
        amount: Decimal,
        sign: int,
    ) -> None:
        parts = day_parts(record, quantity, (units, amount), self.zone)
        self._sum(parts, (*_dims(record), quantity, currency), sign)

    def _sum(
        self, parts: Iterable[tuple[date, list[Decimal]]], dims: tuple[Any, ...], sign: int
    ) -> None:
        if sign < 0:
            self._removed = True
        deltas = self._deltas
        for day, (u, a) in parts:
            key = (day, *dims)
            sums = deltas.get(key)
            if sums is None:
                deltas[key] = [u, a] if sign > 0 else [-u, -a]
            elif sign > 0:
                sums[0] += u
                sums[1] += a
            else:
                sums[0] -= u
                sums[1] -= a

    def _insert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if backend(conn) == "sqlite":  # no decimal type: as text
            rows = [(r[0], r[1], r[2], str(r[3]), r[4], r[5], str(r[6]), str(r[7]), r[8])
                    for r in rows]  # fmt: skip
        insert_rows(conn, charges, CHARGE_COLUMNS, rows)

    def flush(self, conn: Connection) -> None:
        """Add the day deltas gathered since the last flush to ``charge_daily``."""
        deltas, self._deltas = self._deltas, {}
        sqlite = backend(conn) == "sqlite"  # no decimal type: as text
        rows = [
            (k[0].isoformat(), *k[1:], str(u), str(a)) if sqlite else (*k, u, a)
            for k, (u, a) in deltas.items()
            if u or a
        ]
        if rows:
            for at in range(0, len(rows), 5000):
                chunk = rows[at : at + 5000]
                upsert_rows(
                    conn, charge_daily, CHARGE_KEYS, (*CHARGE_KEYS, *CHARGE_MEASURES), chunk
                )
        if self._removed:
            self._removed = False
            conn.execute(
                delete(charge_daily).where(charge_daily.c.amount == 0, charge_daily.c.units == 0)
            )


def _dims(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The rollup dimensions of a record (0 or '' for none), without quantity and currency."""
    return (
        record["source_id"], record.get("resource_id") or 0, record.get("user_id") or 0,
        record.get("project_id") or 0, record.get("partition") or "",
        record.get("qos") or "", record.get("workload_type") or "",
    )  # fmt: skip


def _charge_row(record: Mapping[str, Any], c: Charge) -> tuple[Any, ...]:
    return (
        record["source_id"],
        record["record_key"],
        c.quantity,
        c.units,
        c.rate_id,
        c.version,
        c.price,
        c.amount,
        c.currency,
    )


def stored_charges(
    conn: Connection, source_id: int, keys: Sequence[str]
) -> dict[str, list[Charge]]:
    """The stored charges of records of one source, by record key."""
    columns = ("record_key", *CHARGE_COLUMNS[2:])
    found: dict[str, list[Charge]] = {}
    for row in select_in(conn, charges, columns, "source_id", source_id, "record_key", keys):
        found.setdefault(row.record_key, []).append(
            Charge(
                row.quantity,
                _decimal(row.units, UNITS),
                row.rate_id,
                row.version,
                _decimal(row.price),
                _decimal(row.amount, UNITS),
                row.currency,
            )
        )
    for listed in found.values():
        listed.sort(key=lambda c: c.quantity)
    return found


def _delete(conn: Connection, source_id: int, keys: Sequence[str]) -> None:
    for at in range(0, len(keys), 1000):
        conn.execute(
            delete(charges).where(
                charges.c.source_id == source_id, charges.c.record_key.in_(keys[at : at + 1000])
            )
        )


def rerate(
    conn: Connection, zone: tzinfo, start_ts: float, end_ts: float, page: int = 20000
) -> RerateCounts:
    """Rate again the records starting in ``[start_ts, end_ts)``; replace the charges that
    differ from the stored ones and update ``charge_daily`` by the difference."""
    counts = RerateCounts()
    charger = Charger(load_book(conn), zone)
    charger.names.load(conn)
    r = usage_records.c
    columns = [r.id, *(r[c] for c in RECORD_FIELDS)]
    last = 0
    while True:
        query = (
            select(*columns)
            .where(and_(r.id > last, r.start_ts >= start_ts, r.start_ts < end_ts))
            .order_by(r.id)
            .limit(page)
        )
        rows = conn.execute(query).all()
        if not rows:
            break
        last = rows[-1].id
        by_source: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_source.setdefault(row.source_id, []).append(dict(row._mapping))
        for source_id, records in by_source.items():
            stored = stored_charges(conn, source_id, [x["record_key"] for x in records])
            changed = []
            for record in records:
                counts.records += 1
                new = sorted(charger.rate(conn, record), key=lambda c: c.quantity)
                if new != stored.get(record["record_key"], []):
                    changed.append(record)
            if changed:
                counts.changed += len(changed)
                charger.remove(conn, changed)
                counts.charges += charger.add(conn, changed)
        charger.flush(conn)
    return counts


def rebuild_daily(conn: Connection, zone: tzinfo, page: int = 20000) -> int:
    """Recompute ``charge_daily`` from the stored charges (in ``zone``'s days); returns the
    charges read. Charges themselves are kept: ``rerate`` prices records again."""
    conn.execute(delete(charge_daily))
    charger = Charger(RateBook([]), zone)
    r, c = usage_records.c, charges.c
    columns = [
        r.id, r.source_id, r.record_key, r.resource_id, r.user_id, r.project_id, r.partition,
        r.qos, r.workload_type, r.start_ts, r.end_ts, c.quantity, c.units, c.amount, c.currency,
    ]  # fmt: skip
    joined = charges.join(
        usage_records, and_(r.source_id == c.source_id, r.record_key == c.record_key)
    )
    last, count = 0, 0
    while True:
        query = (
            select(*columns)
            .select_from(joined)
            .where(r.id > last)
            .order_by(r.id, c.quantity)
            .limit(page)
        )
        rows = conn.execute(query).all()
        if not rows:
            break
        if len(rows) == page:  # keep every charge of the last record for the next page
            kept = [x for x in rows if x.id != rows[-1].id]
            rows = kept or rows
        for x in rows:
            record = dict(x._mapping)
            charger._add_parts(record, x.quantity, x.currency, _decimal(x.units, UNITS),
                               _decimal(x.amount, UNITS), 1)  # fmt: skip
        count += len(rows)
        last = rows[-1].id
        charger.flush(conn)
    return count
