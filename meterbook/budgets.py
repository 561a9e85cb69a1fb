"""Budgets: one amount per (month ``YYYY-MM``, provider, team), as in the original spend tracker.

Each budget has a currency (by default its provider's, else USD), a comment and the team's
response. :func:`clone` copies every budget of one month into another where that month has none
yet for the provider and team (never overwriting). :func:`over_under` sets the budgets of each
month against the billed cost of the spend rollup (derived tax and charge lines included, as
``meterbook spend`` reports it), per team and month, optionally per provider too.

Functions over a SQLAlchemy :class:`~sqlalchemy.Connection`; the caller owns the transaction.
Errors are one line naming the field: :class:`~meterbook.errors.ConfigError` for a bad value, a
provider or team that does not exist, or a budget that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, and_, select
from sqlalchemy.exc import IntegrityError

from meterbook.errors import ConfigError, ConflictError
from meterbook.periods import Period, add_months
from meterbook.store.queries.fx import converter
from meterbook.store.queries.spend import UNALLOCATED, SpendFilters, spend_summary
from meterbook.store.schema import providers, teams
from meterbook.store.schema_billing import budgets

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_SIX_DECIMALS = Decimal("0.000001")
#: Amounts stay below this (NUMERIC(38, 18) holds 20 integer digits; SQLite's doubles 15).
_LARGEST = Decimal(10) ** 15
DEFAULT_CURRENCY = "USD"

OVER = "over"
UNDER = "under"
ON_BUDGET = "on budget"
NO_BUDGET = "no budget"


@dataclass(frozen=True)
class Budget:
    month: str
    provider: str
    team: str
    amount: Decimal
    currency: str
    comment: str | None
    response: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "provider": self.provider,
            "team": self.team,
            "amount": self.amount,
            "currency": self.currency,
            "comment": self.comment,
            "response": self.response,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class CloneResult:
    created: int
    skipped: int


@dataclass(frozen=True)
class OverUnderRow:
    """Actual and budget of a team (and provider, when asked) in a month."""

    month: str
    provider: str | None
    team: str
    actual: Decimal
    budget: Decimal
    currency: str
    response: str
    #: Whether any budget was set for it (else ``budget`` is 0 and the status ``no budget``).
    budgeted: bool

    @property
    def difference(self) -> Decimal:
        """Actual minus budget: positive is over."""
        return self.actual - self.budget

    @property
    def status(self) -> str:
        if not self.budgeted:
            return NO_BUDGET
        if self.actual > self.budget:
            return OVER
        if self.actual < self.budget:
            return UNDER
        return ON_BUDGET


@dataclass
class OverUnderReport:
    period: Period
    by_provider: bool
    rows: list[OverUnderRow]
    #: Currencies of the spend in the period.
    currencies: list[str]


# Values -------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def check_month(raw: object, field: str = "month") -> str:
    """``YYYY-MM`` (trimmed), or a :class:`ConfigError` naming ``field``."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not _MONTH.fullmatch(text):
        raise ConfigError(f"{field}: {raw!r} is not a month (YYYY-MM, e.g. 2026-10)")
    return text


def check_amount(raw: object, field: str = "amount") -> Decimal:
    """An amount ``>= 0`` with at most six decimals (text, int or Decimal)."""
    wrong = f"{field}: {raw!r} is not an amount (a number such as 5000 or 1234.50)"
    try:
        if isinstance(raw, str):
            value = Decimal(raw.strip())
        elif isinstance(raw, int | Decimal) and not isinstance(raw, bool):
            value = Decimal(raw)
        else:
            raise ConfigError(wrong)
    except InvalidOperation:
        raise ConfigError(wrong) from None
    if not value.is_finite():
        raise ConfigError(wrong)
    if value < 0:
        raise ConfigError(f"{field}: must not be negative ({raw})")
    if value >= _LARGEST:
        raise ConfigError(f"{field}: must be below {_LARGEST:,}")
    fixed = value.quantize(_SIX_DECIMALS)
    if fixed != value:
        raise ConfigError(f"{field}: at most 6 decimals ({raw})")
    return fixed


def check_currency(raw: object) -> str:
    """A 3-letter currency code, upper-cased, or a :class:`ConfigError` naming ``currency``."""
    if not isinstance(raw, str) or not _CURRENCY.fullmatch(raw.strip()):
        raise ConfigError(f"currency: {raw!r} is not 3 letters (an ISO 4217 code such as USD)")
    return raw.strip().upper()


def _text(raw: str | None) -> str | None:
    """Free text; blank clears."""
    if raw is None or not raw.strip():
        return None
    return raw.strip()


def stored_amount(value: Any) -> Decimal:
    """A stored amount: SQLite keeps doubles, so cut back to the six decimals it was set with."""
    return Decimal(value if not isinstance(value, float) else repr(value)).quantize(_SIX_DECIMALS)


def _id_of(conn: Connection, kind: str, name: str) -> tuple[int, Any]:
    """The id (and, for providers, the currency) of the provider or team ``name``."""
    table = providers if kind == "provider" else teams
    extra = providers.c.currency if kind == "provider" else teams.c.id
    row = conn.execute(select(table.c.id, extra).where(table.c.name == name)).first()
    if row is None:
        raise ConfigError(
            f"{kind}: {kind} {name!r} does not exist (see `meterbook org {kind}s list`)"
        )
    return int(row[0]), row[1]


# Reading ------------------------------------------------------------------------------------


def _query() -> Any:
    b = budgets.c
    return (
        select(
            b.id, b.month, providers.c.name.label("provider"), teams.c.name.label("team"),
            b.amount, b.currency, b.comment, b.response, b.created_at, b.updated_at,
        )
        .select_from(
            budgets.join(providers, providers.c.id == b.provider_id).join(
                teams, teams.c.id == b.team_id
            )
        )
        .order_by(b.month, providers.c.name, teams.c.name)
    )  # fmt: skip


def _budget(row: Any) -> Budget:
    return Budget(
        row.month, row.provider, row.team, stored_amount(row.amount), row.currency, row.comment,
        row.response, row.created_at, row.updated_at,
    )  # fmt: skip


def list_budgets(
    conn: Connection,
    *,
    months: Sequence[str] = (),
    providers_: Sequence[str] = (),
    teams_: Sequence[str] = (),
) -> list[Budget]:
    """Budgets by month, provider and team; empty filters keep everything."""
    query = _query()
    if months:
        query = query.where(budgets.c.month.in_([check_month(m) for m in months]))
    if providers_:
        query = query.where(providers.c.name.in_(list(providers_)))
    if teams_:
        query = query.where(teams.c.name.in_(list(teams_)))
    return [_budget(row) for row in conn.execute(query)]


def get_budget(conn: Connection, month: str, provider: str, team: str) -> Budget | None:
    found = list_budgets(conn, months=[month], providers_=[provider], teams_=[team])
    return found[0] if found else None


# Changing -----------------------------------------------------------------------------------


def set_budget(
    conn: Connection,
    month: str,
    provider: str,
    team: str,
    amount: object = None,
    *,
    currency: str | None = None,
    comment: str | None = None,
    response: str | None = None,
) -> tuple[Budget, str]:
    """Add or change the budget of ``team`` at ``provider`` in ``month``.

    A new budget needs an amount; for an existing one, what is given changes (a blank comment
    or response clears it). Returns the budget as it is now and ``added``, ``changed`` or
    ``unchanged``.
    """
    month = check_month(month)
    fixed = None if amount is None else check_amount(amount)
    provider_id, provider_currency = _id_of(conn, "provider", provider)
    team_id, _ = _id_of(conn, "team", team)
    code = None if currency is None else check_currency(currency)
    b = budgets.c
    key = and_(b.month == month, b.provider_id == provider_id, b.team_id == team_id)
    current = conn.execute(select(budgets).where(key)).mappings().first()
    now = _now()
    if current is None:
        if fixed is None:
            raise ConfigError("amount: required for a new budget")
        values = {
            "month": month,
            "provider_id": provider_id,
            "team_id": team_id,
            "amount": fixed,
            "currency": code or (provider_currency or DEFAULT_CURRENCY).upper(),
            "comment": _text(comment),
            "response": _text(response),
            "created_at": now,
            "updated_at": now,
        }
        try:
            conn.execute(budgets.insert().values(**values))
        except IntegrityError as exc:
            raise ConflictError(f"budget {month} {provider}/{team}: written meanwhile") from exc
        outcome = "added"
    else:
        wanted: dict[str, Any] = {}
        if fixed is not None and stored_amount(current["amount"]) != fixed:
            wanted["amount"] = fixed
        if code is not None and current["currency"] != code:
            wanted["currency"] = code
        for column, raw in (("comment", comment), ("response", response)):
            if raw is not None and current[column] != _text(raw):
                wanted[column] = _text(raw)
        if wanted:
            conn.execute(budgets.update().where(key).values(**wanted, updated_at=now))
        outcome = "changed" if wanted else "unchanged"
    found = get_budget(conn, month, provider, team)
    assert found is not None
    return found, outcome


def remove_budget(conn: Connection, month: str, provider: str, team: str) -> None:
    """Remove a budget, or a :class:`ConfigError` when there is none."""
    month = check_month(month)
    provider_id, _ = _id_of(conn, "provider", provider)
    team_id, _ = _id_of(conn, "team", team)
    b = budgets.c
    gone = conn.execute(
        budgets.delete().where(b.month == month, b.provider_id == provider_id, b.team_id == team_id)
    ).rowcount
    if not gone:
        raise ConfigError(f"no budget for team {team!r} at provider {provider!r} in {month}")


def clone(conn: Connection, month_from: str, month_to: str) -> CloneResult:
    """Copy every budget of ``month_from`` into ``month_to`` where ``month_to`` has none yet
    for that provider and team (comment ``Cloned from YYYY-MM``); existing ones stay as they
    are and are counted as skipped."""
    source = check_month(month_from, "from month")
    target = check_month(month_to, "to month")
    if source == target:
        raise ConfigError(f"to month: the same month as the from month ({source})")
    b = budgets.c
    taken = {
        (row.provider_id, row.team_id)
        for row in conn.execute(select(b.provider_id, b.team_id).where(b.month == target))
    }
    now = _now()
    new: list[dict[str, Any]] = []
    skipped = 0
    for row in conn.execute(select(budgets).where(b.month == source).order_by(b.id)).mappings():
        if (row["provider_id"], row["team_id"]) in taken:
            skipped += 1
            continue
        new.append({
            "month": target, "provider_id": row["provider_id"], "team_id": row["team_id"],
            "amount": stored_amount(row["amount"]), "currency": row["currency"],
            "comment": f"Cloned from {source}", "response": None,
            "created_at": now, "updated_at": now,
        })  # fmt: skip
    if new:
        try:
            conn.execute(budgets.insert(), new)
        except IntegrityError as exc:
            raise ConflictError(f"clone into {target}: budgets written meanwhile") from exc
    return CloneResult(len(new), skipped)


# Over/under ---------------------------------------------------------------------------------


def whole_months(period: Period) -> Period:
    """The months ``period`` touches, from the first day of its first to the end of its last."""
    start = period.start.replace(day=1)
    end = period.end if period.end.day == 1 else add_months(period.end, 1)
    return Period(start, end, period.label)


def month_label(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def over_under(
    conn: Connection,
    period: Period,
    *,
    by_provider: bool = False,
    providers_: Sequence[str] = (),
    teams_: Sequence[str] = (),
    currency: str | None = None,
) -> OverUnderReport:
    """Billed cost against budget per team and month (and provider, with ``by_provider``) over
    the whole months that ``period`` touches.

    With ``currency``, spend converts day by day at each day's exchange rate and a budget at
    the rate of its month's first day (:mod:`meterbook.fx`).

    Actuals are the spend rollup's billed cost (tax and charge-rule lines included), as
    :func:`~meterbook.store.queries.spend.spend_summary` reports it; spend of no project is
    the team :data:`~meterbook.store.queries.spend.UNALLOCATED`. A team with spend and no
    budget has budget 0 (status ``no budget``); a budget without spend has actual 0.
    """
    window = whole_months(period)
    months = [month_label(m) for m in window.months()]
    by = ("month", "provider", "team") if by_provider else ("month", "team")
    report = spend_summary(
        conn,
        window,
        by,
        SpendFilters(providers=tuple(providers_), teams=tuple(teams_)),
        currency=currency,
    )
    into = converter(conn, currency) if currency else None

    def key(month: str, provider: str, team: str) -> tuple[str, ...]:
        return (month, provider, team) if by_provider else (month, team)

    actual: dict[tuple[str, ...], Decimal] = {r.group: r.billed_cost for r in report.rows}
    planned: dict[tuple[str, ...], list[Budget]] = {}
    for budget in list_budgets(conn, months=months, providers_=providers_, teams_=teams_):
        if into is not None:
            first = date.fromisoformat(f"{budget.month}-01")
            amount = into.convert(budget.amount, budget.currency, first)
            budget = replace(budget, amount=amount, currency=into.target)
        planned.setdefault(key(budget.month, budget.provider, budget.team), []).append(budget)
    rows = []
    for group in sorted(actual.keys() | planned.keys()):
        found = planned.get(group, [])
        currencies = sorted({b.currency for b in found})
        responses = [
            (f"{b.provider}: {b.response}" if len(found) > 1 else b.response)
            for b in found
            if b.response
        ]
        rows.append(
            OverUnderRow(
                month=group[0],
                provider=group[1] if by_provider else None,
                team=group[-1],
                actual=actual.get(group, Decimal(0)),
                budget=sum((b.amount for b in found), Decimal(0)),
                currency=", ".join(currencies),
                response="; ".join(responses),
                budgeted=bool(found),
            )
        )
    return OverUnderReport(window, by_provider, rows, report.currencies)


__all__ = [
    "NO_BUDGET",
    "ON_BUDGET",
    "OVER",
    "UNALLOCATED",
    "UNDER",
    "Budget",
    "CloneResult",
    "OverUnderReport",
    "OverUnderRow",
    "check_amount",
    "check_currency",
    "check_month",
    "clone",
    "get_budget",
    "list_budgets",
    "over_under",
    "remove_budget",
    "set_budget",
    "stored_amount",
    "whole_months",
]
