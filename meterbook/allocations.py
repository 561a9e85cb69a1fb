"""Allocations: an amount of a quantity for a usage account or project over a range of days,
with its burn-down.

An allocation grants CPU hours, GPU hours, node hours or money (:data:`QUANTITIES`) to a scope:
a usage account (``account``, such as a Slurm account) or an org project (``project``). Both
are rows of ``projects`` (an importer turns each account it meets into one), so the scope must
exist. The period is a range of days from ``start`` to ``end``, **both inclusive**, as
``meterbook usage --from/--to`` are.

What is used comes from the rollups, through their query functions: hours from the usage day
rollup (:func:`~meterbook.store.queries.usage.usage_summary`, the scope as account), money
from the spend rollup (:func:`~meterbook.store.queries.spend.spend_summary`, the scope as
project, billed cost with derived tax and charge lines, only in the allocation's currency).

:func:`burn_down` sets it against the amount up to a day: used, remaining, percent used, the
average daily burn over the elapsed days, the projected exhaustion date and the cumulative
series per day or week.

Functions over a SQLAlchemy :class:`~sqlalchemy.Connection`; the caller owns the transaction.
Errors are one line naming the field: :class:`~meterbook.errors.ConfigError` for a bad value, a
scope or allocation that does not exist; :class:`~meterbook.errors.ConflictError` for a name
that is taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from meterbook.budgets import DEFAULT_CURRENCY, check_amount, check_currency, stored_amount
from meterbook.errors import ConfigError, ConflictError
from meterbook.periods import Period, parse_date
from meterbook.store.queries.fx import converter
from meterbook.store.queries.spend import SpendFilters, spend_summary
from meterbook.store.queries.usage import UsageFilters, usage_summary
from meterbook.store.schema import NAME, projects
from meterbook.store.schema_billing import allocations

SCOPES = ("account", "project")
QUANTITIES = ("cpu_hours", "gpu_hours", "node_hours", "money")
SERIES = ("day", "week")
#: What the hours quantities are summed from (usage_summary's measures).
_HOURS = {"cpu_hours", "gpu_hours", "node_hours"}
_SIX_DECIMALS = Decimal("0.000001")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Allocation:
    name: str
    scope_kind: str
    scope: str
    quantity: str
    amount: Decimal
    #: Money only; None for hours.
    currency: str | None
    #: First and last day, both inclusive.
    start: date
    end: date
    comment: str | None
    created_at: datetime

    @property
    def unit(self) -> str:
        """The currency of money, else the quantity (``cpu_hours``...)."""
        return self.currency or self.quantity

    @property
    def period(self) -> Period:
        """The allocation's days as a half-open :class:`Period`."""
        return Period(self.start, self.end + _DAY, f"{self.start}..{self.end}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope_kind": self.scope_kind,
            "scope": self.scope,
            "quantity": self.quantity,
            "amount": self.amount,
            "currency": self.currency,
            "start": self.start,
            "end": self.end,
            "comment": self.comment,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class SeriesPoint:
    """One day (or week, from ``day`` for 7 days or to the end): used in it and up to its end."""

    day: date
    used: Decimal
    cumulative: Decimal


@dataclass
class BurnDown:
    allocation: Allocation
    as_of: date
    #: Days of the period up to ``as_of`` (0 before the start, all of them after the end).
    elapsed_days: int
    used: Decimal
    remaining: Decimal
    #: Used as a percentage of the amount (None for an amount of 0).
    percent_used: Decimal | None
    #: Used per elapsed day (None when no day has elapsed).
    daily_burn: Decimal | None
    #: The day the amount runs out at the average daily burn (the day it ran out, when it has);
    #: None when nothing is used.
    exhaustion: date | None
    series: list[SeriesPoint] = field(default_factory=list)

    @property
    def exhausts_early(self) -> bool:
        """Whether the amount runs (or ran) out on or before the period's last day."""
        return self.exhaustion is not None and self.exhaustion <= self.allocation.end


# Values -------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _name(raw: object, what: str = "name") -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise ConfigError(f"{what}: must not be empty")
    if len(text) > NAME:
        raise ConfigError(f"{what}: longer than {NAME} characters")
    return text


def _choice(raw: object, choices: tuple[str, ...], what: str) -> str:
    text = raw.strip().lower().replace("-", "_") if isinstance(raw, str) else ""
    if text not in choices:
        raise ConfigError(f"{what}: {raw!r} is not one of {', '.join(choices)}")
    return text


def _day(raw: object, what: str) -> date:
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str):
        raise ConfigError(f"{what}: {raw!r} is not a date (YYYY-MM-DD)")
    return parse_date(raw.strip(), what)


def _text(raw: str | None) -> str | None:
    return raw.strip() if raw is not None and raw.strip() else None


def _project_id(conn: Connection, kind: str, name: str) -> int:
    found = conn.execute(select(projects.c.id).where(projects.c.name == name)).scalar()
    if found is None:
        where = (
            "accounts appear once their usage is imported; see `meterbook usage --by account`"
            if kind == "account"
            else "see `meterbook org projects list`"
        )
        raise ConfigError(f"{kind}: {kind} {name!r} does not exist ({where})")
    return int(found)


# Reading ------------------------------------------------------------------------------------


def _query() -> Any:
    a = allocations.c
    return (
        select(
            a.name, a.scope_kind, projects.c.name.label("scope"), a.quantity, a.amount,
            a.currency, a.start_date, a.end_date, a.comment, a.created_at,
        )
        .select_from(allocations.join(projects, projects.c.id == a.project_id))
        .order_by(a.name)
    )  # fmt: skip


def _allocation(row: Any) -> Allocation:
    return Allocation(
        row.name, row.scope_kind, row.scope, row.quantity, stored_amount(row.amount), row.currency,
        row.start_date, row.end_date, row.comment, row.created_at,
    )  # fmt: skip


def list_allocations(conn: Connection) -> list[Allocation]:
    """Every allocation, by name."""
    return [_allocation(row) for row in conn.execute(_query())]


def get_allocation(conn: Connection, name: str) -> Allocation:
    """The allocation ``name``, or a :class:`ConfigError`."""
    row = conn.execute(_query().where(allocations.c.name == name.strip())).first()
    if row is None:
        raise ConfigError(
            f"name: no allocation {name.strip()!r} (see `meterbook allocations list`)"
        )
    return _allocation(row)


# Changing -----------------------------------------------------------------------------------


def _check_days(start: date, end: date) -> None:
    if end < start:
        raise ConfigError(f"end: {end} is before the start ({start})")


def add_allocation(
    conn: Connection,
    name: str,
    *,
    scope_kind: str,
    scope: str,
    quantity: str,
    amount: object,
    start: object,
    end: object,
    currency: str | None = None,
    comment: str | None = None,
) -> Allocation:
    """Add an allocation of ``amount`` of ``quantity`` to the account or project ``scope``
    from ``start`` to ``end`` (both inclusive). Money has a currency (default USD); hours
    have none."""
    name = _name(name)
    kind = _choice(scope_kind, SCOPES, "scope")
    what = _choice(quantity, QUANTITIES, "quantity")
    fixed = check_amount(amount)
    first, last = _day(start, "start"), _day(end, "end")
    _check_days(first, last)
    if what == "money":
        code: str | None = DEFAULT_CURRENCY if currency is None else check_currency(currency)
    elif currency is not None:
        raise ConfigError(f"currency: only for money, not {what}")
    else:
        code = None
    project_id = _project_id(conn, kind, _name(scope, kind))
    taken = conn.execute(select(allocations.c.id).where(allocations.c.name == name)).first()
    if taken is not None:
        raise ConflictError(f"name: allocation {name!r} exists already")
    try:
        conn.execute(
            allocations.insert().values(
                name=name, scope_kind=kind, project_id=project_id, quantity=what, amount=fixed,
                currency=code, start_date=first, end_date=last, comment=_text(comment),
                created_at=_now(),
            )
        )  # fmt: skip
    except IntegrityError as exc:
        raise ConflictError(f"name: allocation {name!r} written meanwhile") from exc
    return get_allocation(conn, name)


def edit_allocation(
    conn: Connection,
    name: str,
    *,
    amount: object = None,
    start: object = None,
    end: object = None,
    currency: str | None = None,
    comment: str | None = None,
) -> tuple[Allocation, bool]:
    """Change what is given (a blank comment clears it); returns the allocation as it is now
    and whether anything changed."""
    current = get_allocation(conn, name)
    wanted: dict[str, Any] = {}
    if amount is not None and check_amount(amount) != current.amount:
        wanted["amount"] = check_amount(amount)
    first = current.start if start is None else _day(start, "start")
    last = current.end if end is None else _day(end, "end")
    _check_days(first, last)
    if first != current.start:
        wanted["start_date"] = first
    if last != current.end:
        wanted["end_date"] = last
    if currency is not None:
        if current.quantity != "money":
            raise ConfigError(f"currency: only for money, not {current.quantity}")
        if check_currency(currency) != current.currency:
            wanted["currency"] = check_currency(currency)
    if comment is not None and _text(comment) != current.comment:
        wanted["comment"] = _text(comment)
    if wanted:
        conn.execute(
            allocations.update().where(allocations.c.name == current.name).values(**wanted)
        )
    return get_allocation(conn, current.name), bool(wanted)


def remove_allocation(conn: Connection, name: str) -> None:
    """Remove an allocation, or a :class:`ConfigError` when there is none."""
    current = get_allocation(conn, name)
    conn.execute(allocations.delete().where(allocations.c.name == current.name))


# Burn-down ----------------------------------------------------------------------------------


def daily_use(
    conn: Connection, allocation: Allocation, window: Period, currency: str | None = None
) -> dict[date, Decimal]:
    """What the allocation's scope used of its quantity on each day of ``window``; money in
    the allocation's currency, or with ``currency`` the spend in every currency converted
    into it at each day's rate."""
    out: dict[date, Decimal] = {}
    if window.days <= 0:
        return out
    if allocation.quantity in _HOURS:
        report = usage_summary(conn, window, ("day",), UsageFilters(accounts=(allocation.scope,)))
        for row in report.rows:
            hours = Decimal(repr(getattr(row, allocation.quantity))).quantize(_SIX_DECIMALS)
            out[date.fromisoformat(row.group[0])] = hours
    else:
        only = () if currency else (allocation.currency or "",)
        spend = spend_summary(
            conn, window, ("day",),
            SpendFilters(projects=(allocation.scope,), currencies=only), currency=currency,
        )  # fmt: skip
        for spent in spend.rows:
            out[date.fromisoformat(spent.group[0])] = spent.billed_cost
    return out


def _series(used: dict[date, Decimal], start: date, stop: date, step: int) -> list[SeriesPoint]:
    """Cumulative use from ``start`` to ``stop`` (exclusive) in blocks of ``step`` days."""
    points = []
    total = Decimal(0)
    day = start
    while day < stop:
        block_end = min(day + timedelta(days=step), stop)
        block = sum((v for d, v in used.items() if day <= d < block_end), Decimal(0))
        total += block
        points.append(SeriesPoint(day, block, total))
        day = block_end
    return points


def burn_down(
    conn: Connection,
    name: str,
    as_of: date | None = None,
    *,
    series: str = "day",
    currency: str | None = None,
) -> BurnDown:
    """The allocation ``name`` up to the end of day ``as_of`` (default: today).

    ``used`` counts the allocation's days up to ``as_of``; the daily burn is ``used`` over those
    elapsed days; the projected exhaustion is the first day whose end sees the remainder used
    at that burn (``as_of``, or the period's last day when ``as_of`` is past it, plus
    ``ceil(remaining / daily burn)`` days); when the amount is used up already it is the day
    the cumulative use reached it. ``series`` is the cumulative use per ``day`` or per
    ``week`` (7-day blocks from the start; the last may be shorter) over the elapsed days.

    With ``currency``, a money allocation is reported in that currency: its amount at the
    rate of its first day, the spend (in any currency) at each day's rate. Hours are kept.
    """
    allocation = get_allocation(conn, name)
    if currency and allocation.quantity == "money" and allocation.currency:
        into = converter(conn, currency)
        amount = into.convert(allocation.amount, allocation.currency, allocation.start)
        allocation = replace(allocation, amount=amount, currency=into.target)
    else:
        currency = None
    kind = _choice(series, SERIES, "series")
    as_of = as_of or date.today()
    last = min(as_of, allocation.end)
    window = Period(allocation.start, max(allocation.start, last + _DAY), "elapsed")
    per_day = daily_use(conn, allocation, window, currency)
    used = sum(per_day.values(), Decimal(0))
    remaining = allocation.amount - used
    elapsed = window.days
    percent = (
        (used * 100 / allocation.amount).quantize(_SIX_DECIMALS) if allocation.amount else None
    )
    burn = (used / elapsed).quantize(_SIX_DECIMALS) if elapsed else None
    exhaustion: date | None = None
    if used > 0 and remaining <= 0:
        total = Decimal(0)
        for day in sorted(per_day):
            total += per_day[day]
            if total >= allocation.amount:
                exhaustion = day
                break
    elif used > 0:
        # At ``used / elapsed`` a day, the remainder lasts ``remaining * elapsed / used`` days.
        exhaustion = last + timedelta(days=math.ceil(remaining * elapsed / used))
    points = _series(per_day, window.start, window.end, 1 if kind == "day" else 7)
    return BurnDown(allocation, as_of, elapsed, used, remaining, percent, burn, exhaustion, points)


__all__ = [
    "QUANTITIES",
    "SCOPES",
    "SERIES",
    "Allocation",
    "BurnDown",
    "SeriesPoint",
    "add_allocation",
    "burn_down",
    "daily_use",
    "edit_allocation",
    "get_allocation",
    "list_allocations",
    "remove_allocation",
]
