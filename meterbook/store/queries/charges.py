"""Charges: summaries from the day rollup ``charge_daily``, one record's explanation, and
the records that matched no rate (``meterbook charges``; reports and statements use these).

Without a target currency every total is per currency (``currency`` is always a group key);
with one, each day's rows convert at that day's rate (:mod:`meterbook.fx`) before summing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, literal, or_, select

from meterbook.errors import ConfigError
from meterbook.periods import Period, day_start
from meterbook.rating import QUANTITIES, UNITS, RateCard
from meterbook.store.charging import load_book, stored_charges
from meterbook.store.dialect import month_of
from meterbook.store.queries.fx import converter
from meterbook.store.schema import projects, resources, sources, usage_records, users
from meterbook.store.schema_rating import charge_daily, charges

c = charge_daily.c
DIMENSIONS = (
    "source",
    "cluster",
    "partition",
    "qos",
    "account",
    "user",
    "workload_type",
    "quantity",
    "currency",
    "day",
    "month",
)


@dataclass(frozen=True)
class ChargeFilters:
    """Names to keep (empty: keep all)."""

    sources: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    quantities: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChargeRow:
    group: tuple[str, ...]
    currency: str
    units: Decimal
    amount: Decimal

    def as_dict(self, by: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = dict(zip(by, self.group, strict=True))
        out.update(currency=self.currency, units=self.units, amount=self.amount)
        return out


@dataclass
class ChargeReport:
    period: Period
    by: tuple[str, ...]
    currency: str | None
    rows: list[ChargeRow]
    totals: dict[str, Decimal] = field(default_factory=dict)  # per currency


def _dimension(conn: Connection, name: str) -> ColumnElement[Any]:
    columns: dict[str, ColumnElement[Any]] = {
        "source": func.coalesce(sources.c.name, literal("")),
        "cluster": func.coalesce(resources.c.name, literal("")),
        "partition": c.partition,
        "qos": c.qos,
        "account": func.coalesce(projects.c.name, literal("")),
        "user": func.coalesce(users.c.name, literal("")),
        "workload_type": c.workload_type,
        "quantity": c.quantity,
        "currency": c.currency,
        "day": c.day,
    }
    if name == "month":
        return month_of(conn, c.day)
    if name not in columns:
        raise ConfigError(f"--by: unknown dimension {name!r} (use {', '.join(DIMENSIONS)})")
    return columns[name]


def _joined() -> Any:
    return (
        charge_daily.outerjoin(sources, sources.c.id == c.source_id)
        .outerjoin(resources, resources.c.id == c.resource_id)
        .outerjoin(projects, projects.c.id == c.project_id)
        .outerjoin(users, users.c.id == c.user_id)
    )


def _where(period: Period, filters: ChargeFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [c.day >= period.start, c.day < period.end]
    pairs = (
        (filters.sources, sources.c.name),
        (filters.clusters, resources.c.name),
        (filters.accounts, projects.c.name),
        (filters.users, users.c.name),
        (filters.quantities, c.quantity),
    )
    for names, column in pairs:
        if names:
            where.append(column.in_(names))
    return where


def _decimal(value: Any) -> Decimal:
    """A stored sum of charges: they have 6 decimals (SQLite's doubles come back as
    approximations, cut here)."""
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).quantize(UNITS)


def _label(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def charges_summary(
    conn: Connection,
    period: Period,
    by: Sequence[str] = (),
    filters: ChargeFilters | None = None,
    currency: str | None = None,
) -> ChargeReport:
    """Charges over ``period`` grouped by ``by`` (and currency), largest amount first (time
    in order); with ``currency``, every amount converted at the rate of its day."""
    filters = filters or ChargeFilters()
    by = tuple(by)
    keys = [_dimension(conn, n).label(f"k{i}") for i, n in enumerate(by)]
    extra = [c.currency.label("cur")]
    if currency:
        extra.append(c.day.label("d"))
    stmt = (
        select(*keys, *extra, func.sum(c.units).label("units"), func.sum(c.amount).label("amount"))
        .select_from(_joined())
        .where(and_(*_where(period, filters)))
        .group_by(*keys, *extra)
    )
    sums: dict[tuple[tuple[str, ...], str], list[Decimal]] = {}
    convert = converter(conn, currency) if currency else None
    for r in conn.execute(stmt):
        group = tuple(_label(v) for v in r[: len(keys)])
        units, amount = _decimal(r.units), _decimal(r.amount)
        row_currency = r.cur
        if convert is not None:
            amount = convert.convert(amount, row_currency, _as_date(r.d))
            row_currency = convert.target
        key = (group, row_currency)
        found = sums.setdefault(key, [Decimal(0), Decimal(0)])
        found[0] += units
        found[1] += amount
    rows = [ChargeRow(g, cur, u, a) for (g, cur), (u, a) in sums.items()]
    time_keys = [i for i, n in enumerate(by) if n in ("day", "month")]
    if time_keys:
        rows.sort(key=lambda x: (tuple(x.group[i] for i in time_keys), x.currency, -x.amount))
    else:
        rows.sort(key=lambda x: (-x.amount, x.group, x.currency))
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, Decimal(0)) + row.amount
    return ChargeReport(period, by, currency, rows, dict(sorted(totals.items())))


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ExplainedCharge:
    quantity: str
    units: Decimal
    rate_id: int
    rate: str  # the card's label
    version: int
    effective_from: date | None
    price: Decimal
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Explanation:
    record_id: int
    source: str
    record_key: str
    start_ts: float | None
    end_ts: float | None
    cost: Decimal | None
    cost_currency: str | None
    quantities: dict[str, Decimal]
    charges: list[ExplainedCharge]

    @property
    def status(self) -> str:
        if self.cost is not None:
            return "provider cost (not charged)"
        return "charged" if self.charges else "unrated"


def find_record(conn: Connection, record: str, source: str | None = None) -> Any:
    """A stored record by id, or by natural key (with its source when keys repeat)."""
    r = usage_records.c
    columns = [r.id, sources.c.name.label("source_name"), *r]
    base = select(*columns).select_from(usage_records.join(sources, sources.c.id == r.source_id))
    if source is None and record.isdigit():
        found = conn.execute(base.where(r.id == int(record))).first()
        if found is not None:
            return found
    query = base.where(r.record_key == record)
    if source is not None:
        query = query.where(sources.c.name == source)
    rows = conn.execute(query.limit(2)).all()
    if not rows:
        where = f" in source {source}" if source else ""
        raise ConfigError(f"no usage record {record!r}{where} (give a record id or natural key)")
    if len(rows) > 1:
        raise ConfigError(f"record key {record!r} is in several sources: give --source")
    return rows[0]


def explain(conn: Connection, record: str, source: str | None = None) -> Explanation:
    """Which rate and version priced each quantity of a record: quantity x price = amount."""
    from meterbook.rating import quantity_of

    row = find_record(conn, record, source)
    data = dict(row._mapping)
    book = {card.id: card for card in load_book(conn).cards}
    stored = stored_charges(conn, row.source_id, [row.record_key]).get(row.record_key, [])
    explained = []
    for ch in stored:
        card: RateCard | None = book.get(ch.rate_id)
        since = next(
            (v.effective_from for v in (card.versions if card else []) if v.version == ch.version),
            None,
        )
        explained.append(
            ExplainedCharge(
                ch.quantity,
                ch.units,
                ch.rate_id,
                card.label() if card else f"rate {ch.rate_id}",
                ch.version,
                since,
                ch.price,
                ch.amount,
                ch.currency,
            )
        )
    quantities = {q: quantity_of(data, q) for q in QUANTITIES}
    cost = _decimal(row.cost) if row.cost is not None else None
    return Explanation(
        row.id,
        row.source_name,
        row.record_key,
        row.start_ts,
        row.end_ts,
        cost,
        row.currency,
        {q: v for q, v in quantities.items() if v},
        explained,
    )


@dataclass(frozen=True)
class UnratedRecord:
    record_id: int
    source: str
    record_key: str
    user: str
    account: str
    cluster: str
    partition: str
    start: datetime
    wall_hours: float


def unrated(
    conn: Connection, period: Period, zone: tzinfo, limit: int | None = None
) -> tuple[list[UnratedRecord], int]:
    """Records starting in ``period`` without a provider cost, with hours or IO operations,
    that no rate priced; returns up to ``limit`` of them (oldest first) and how many there are."""
    r = usage_records.c
    start = day_start(period.start, zone).timestamp()
    end = day_start(period.end, zone).timestamp()
    joined = usage_records.outerjoin(
        charges, and_(charges.c.source_id == r.source_id, charges.c.record_key == r.record_key)
    )
    where = and_(
        charges.c.source_id.is_(None),
        r.cost.is_(None),
        r.start_ts >= start,
        r.start_ts < end,
        or_(r.end_ts > r.start_ts, r.io_ops > 0),
    )
    total = conn.execute(select(func.count()).select_from(joined).where(where)).scalar() or 0
    query = (
        select(
            r.id,
            sources.c.name,
            r.record_key,
            users.c.name,
            projects.c.name,
            resources.c.name,
            r.partition,
            r.start_ts,
            r.end_ts,
        )
        .select_from(
            joined.join(sources, sources.c.id == r.source_id)
            .outerjoin(users, users.c.id == r.user_id)
            .outerjoin(projects, projects.c.id == r.project_id)
            .outerjoin(resources, resources.c.id == r.resource_id)
        )
        .where(where)
        .order_by(r.start_ts, r.id)
    )
    if limit is not None:
        query = query.limit(limit)
    out = []
    for x in conn.execute(query):
        hours = (x[8] - x[7]) / 3600.0 if x[8] is not None and x[8] > x[7] else 0.0
        out.append(
            UnratedRecord(
                x[0],
                x[1],
                x[2],
                x[3] or "",
                x[4] or "",
                x[5] or "",
                x[6] or "",
                datetime.fromtimestamp(x[7], zone),
                hours,
            )
        )
    return out, int(total)


@dataclass(frozen=True)
class RateUse:
    """The charges of one account and quantity priced by one rate version."""

    account: str
    quantity: str
    rate_id: int
    rate: str  # the card's label
    version: int
    price: Decimal
    currency: str
    records: int
    units: Decimal
    amount: Decimal


def rates_used(
    conn: Connection, start_ts: float, end_ts: float, accounts: Sequence[str] = ()
) -> list[RateUse]:
    """Which rate versions priced the charges of the records *starting* in ``[start_ts,
    end_ts)``, per account and quantity (empty ``accounts``: all). Amounts are whole records'
    charges, in the rate's currency: a record running over a boundary counts where it starts,
    whereas :func:`charges_summary` splits it by day."""
    r, ch = usage_records.c, charges.c
    account = func.coalesce(projects.c.name, literal("")).label("account")
    stmt = (
        select(account, ch.quantity, ch.rate_id, ch.version, ch.price, ch.currency,
               func.count().label("records"), func.sum(ch.units).label("units"),
               func.sum(ch.amount).label("amount"))
        .select_from(
            charges.join(usage_records, and_(r.source_id == ch.source_id,
                                             r.record_key == ch.record_key))
            .outerjoin(projects, projects.c.id == r.project_id)
        )
        .where(r.start_ts >= start_ts, r.start_ts < end_ts)
        .group_by(account, ch.quantity, ch.rate_id, ch.version, ch.price, ch.currency)
    )  # fmt: skip
    if accounts:
        stmt = stmt.where(projects.c.name.in_(list(accounts)))
    book = {card.id: card for card in load_book(conn).cards}
    out = []
    for row in conn.execute(stmt):
        card = book.get(row.rate_id)
        out.append(
            RateUse(_label(row.account), row.quantity, row.rate_id,
                    card.label() if card else f"rate {row.rate_id}", row.version,
                    _decimal(row.price), row.currency, int(row.records), _decimal(row.units),
                    _decimal(row.amount))
        )  # fmt: skip
    out.sort(key=lambda u: (u.account, u.quantity, u.rate_id, u.version, u.price))
    return out
