"""The chargeback statement: one per team (or, with ``--team``, that team's), with its usage
charges by account and quantity and the rates that priced them, its provider spend by service,
the tax and derived lines (charge category and rule), and totals, in the report currency
(``[reports] currency``: every amount at the rate of its day) or per stored currency.

Usage accounts belong to a team through their project (``meterbook org projects``); the
figures are those of ``meterbook charges --by account --by quantity`` and ``meterbook spend
--by service`` / ``--by category --by rule`` for the team."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from meterbook import org
from meterbook.reports.model import Column, Headline, Section, Table
from meterbook.reports.types import Context, ReportType, register
from meterbook.reports.types.common import seconds, team_of_projects
from meterbook.store.queries.charges import (
    ChargeFilters,
    ChargeReport,
    RateUse,
    charges_summary,
    rates_used,
)
from meterbook.store.queries.spend import SpendFilters, SpendReport, spend_summary


@dataclass
class Statement:
    """One team's figures; ``totals`` is currency -> (charges, spend)."""

    team: str
    accounts: tuple[str, ...]
    charges: ChargeReport | None
    spend: SpendReport
    derived: SpendReport
    rates: list[RateUse]
    totals: dict[str, list[Decimal]] = field(default_factory=dict)


def _by(ctx: Context, *by: str) -> tuple[str, ...]:
    """Spend keys: with no report currency, amounts stay apart per currency."""
    return by if ctx.currency else (*by, "currency")


def statement(ctx: Context, team: str) -> Statement:
    accounts = tuple(sorted(p for p, t in team_of_projects(ctx).items() if t == team))
    found = None
    if accounts:  # no accounts: no charges (an empty filter would keep everything)
        found = charges_summary(
            ctx.conn,
            ctx.period,
            ("account", "quantity"),
            ChargeFilters(accounts=accounts),
            currency=ctx.currency,
        )
    filters = SpendFilters(teams=(team,))
    spend = spend_summary(ctx.conn, ctx.period, _by(ctx, "service"), filters, currency=ctx.currency)
    derived = spend_summary(
        ctx.conn, ctx.period, _by(ctx, "category", "rule"), filters, currency=ctx.currency
    )
    start, end = seconds(ctx)
    rates = rates_used(ctx.conn, start, end, accounts) if accounts else []
    ctx.rows_read += len(spend.rows) + len(derived.rows) + len(rates)
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in found.rows if found else []:
        totals[row.currency][0] += row.amount
    cur = len(spend.by) - 1
    for s in spend.rows:
        totals[ctx.currency or s.group[cur]][1] += s.billed_cost
    return Statement(team, accounts, found, spend, derived, rates, dict(sorted(totals.items())))


def teams(ctx: Context) -> list[str]:
    if ctx.team:
        return [ctx.team]
    return [e.name for e in org.list_entries(ctx.conn, "teams")]


def statements(ctx: Context) -> list[Statement]:
    found: list[Statement] = ctx.shared(
        "statements",
        lambda: [s for s in (statement(ctx, t) for t in teams(ctx)) if s.totals or ctx.team],
    )
    return found


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_") or "team"


def _unit(ctx: Context) -> str:
    return ctx.currency or "stored currency"


def overview(ctx: Context) -> Section:
    rows: list[list[Any]] = []
    grand: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for st in statements(ctx):
        for currency, (charged, spent) in st.totals.items():
            rows.append([st.team, currency, charged, spent, charged + spent])
            grand[currency][0] += charged
            grand[currency][1] += spent
    for currency, (charged, spent) in sorted(grand.items()):
        ctx.headlines.append(
            Headline(f"Total charged back ({currency})", charged + spent, "money", currency)
        )
    total = None
    if len(grand) == 1:
        ((currency, (charged, spent)),) = grand.items()
        total = ["total", currency, charged, spent, charged + spent]
    columns = [
        Column("team", "team"),
        Column("currency", "currency"),
        Column("charges", "usage charges", "money"),
        Column("spend", "provider spend", "money"),
        Column("total", "total", "money"),
    ]
    text = [
        f"Chargeback statements for {ctx.period.label}, amounts in {_unit(ctx)}"
        + (" (each day at its exchange rate)." if ctx.currency else "."),
        "Usage charges are the rated usage of the team's accounts; provider spend is the "
        "billed cost of the team's projects, tax and charge-rule lines included.",
    ]
    if not ctx.team:
        text.append("Charges of accounts of no team and unallocated spend are in no statement.")
    return Section(
        "overview",
        "Statements",
        text,
        [Table("statements", "Statement totals by team", columns, rows, total)],
    )


def _charges_table(ctx: Context, st: Statement, slug: str) -> Table:
    uses: dict[tuple[str, str], list[RateUse]] = defaultdict(list)
    for u in st.rates:
        uses[(u.account, u.quantity)].append(u)
    rows: list[list[Any]] = []
    found = st.charges.rows if st.charges else []
    for row in sorted(found, key=lambda r: (r.group, r.currency)):
        account, quantity = row.group
        used = uses.get((account, quantity), [])
        prices = {(u.price, u.currency) for u in used}
        one = used[0] if len({(u.rate_id, u.version) for u in used}) == 1 else None
        rate = one.rate if one else ("several (see the rates used)" if used else "")
        version = one.version if one else None
        price, price_currency = next(iter(prices)) if len(prices) == 1 else (None, "")
        rows.append(
            [
                account,
                quantity,
                row.units,
                rate,
                version,
                price,
                price_currency,
                row.amount,
                row.currency,
            ]
        )
    columns = [
        Column("account", "account"),
        Column("quantity", "quantity"),
        Column("units", "units", "float"),
        Column("rate", "rate"),
        Column("version", "version", "int"),
        Column("price", "price", "money"),
        Column("price_currency", "price currency"),
        Column("amount", "amount", "money"),
        Column("currency", "currency"),
    ]
    totals = st.charges.totals if st.charges else {}
    total = None
    if len(totals) == 1:
        ((currency, amount),) = totals.items()
        total = ["total", "", None, "", None, None, "", amount, currency]
    return Table(
        f"{slug}_charges",
        f"{st.team}: usage charges",
        columns,
        rows,
        total,
        note="Price, rate and version where one rate version priced every record.",
    )


def _rates_table(st: Statement, slug: str) -> Table:
    columns = [
        Column("account", "account"),
        Column("quantity", "quantity"),
        Column("rate", "rate"),
        Column("version", "version", "int"),
        Column("price", "price", "money"),
        Column("currency", "currency"),
        Column("records", "records", "int"),
        Column("units", "units", "float"),
        Column("amount", "amount", "money"),
    ]
    rows = [
        [
            u.account,
            u.quantity,
            u.rate,
            u.version,
            u.price,
            u.currency,
            u.records,
            u.units,
            u.amount,
        ]
        for u in st.rates
    ]
    return Table(
        f"{slug}_rates",
        f"{st.team}: rates used",
        columns,
        rows,
        note="Records starting in the period, whole, in the rate's currency.",
    )


def _spend_table(ctx: Context, report: SpendReport, name: str, title: str) -> Table:
    keys = [Column(b, b) for b in report.by]
    columns = [
        *keys,
        Column("billed_cost", "billed", "money"),
        Column("effective_cost", "effective", "money"),
        Column("lines", "lines", "int"),
    ]
    rows = [[*r.group, r.billed_cost, r.effective_cost, r.lines] for r in report.rows]
    total = None
    if ctx.currency or len({r.group[-1] for r in report.rows}) <= 1:
        t = report.total
        blanks = [""] * (len(keys) - 1)
        total = ["total", *blanks, t.billed_cost, t.effective_cost, t.lines]
    return Table(name, title, columns, rows, total)


def team_statements(ctx: Context) -> list[Section]:
    out = []
    for st in statements(ctx):
        slug = _slug(st.team)
        totals = Table(
            f"{slug}_totals",
            f"{st.team}: totals",
            [
                Column("currency", "currency"),
                Column("charges", "usage charges", "money"),
                Column("spend", "provider spend", "money"),
                Column("total", "total", "money"),
            ],
            [[cur, a, b, a + b] for cur, (a, b) in st.totals.items()],
        )
        accounts = ", ".join(st.accounts) or "none"
        out.append(
            Section(
                f"team_{slug}",
                f"Statement: team {st.team}",
                [f"Accounts: {accounts}. Amounts in {_unit(ctx)}."],
                [
                    _charges_table(ctx, st, slug),
                    _rates_table(st, slug),
                    _spend_table(ctx, st.spend, f"{slug}_spend", f"{st.team}: provider spend"),
                    _spend_table(
                        ctx,
                        st.derived,
                        f"{slug}_derived",
                        f"{st.team}: spend by charge category and rule (tax, derived)",
                    ),
                    totals,
                ],
            )
        )
    return out


register(
    ReportType(
        "chargeback",
        "Chargeback statement",
        "One statement per team: usage charges with the rates used, provider spend, tax and "
        "derived lines, totals, in the report currency",
        [overview, team_statements],
        source_data=("usage", "billing"),
    )
)
