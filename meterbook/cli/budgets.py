"""``meterbook budgets``: budgets per month, provider and team; clone; over/under."""

from __future__ import annotations

import click

from meterbook import budgets as lib
from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.cli.spend import money
from meterbook.collecting import requested_period
from meterbook.org import cell
from meterbook.periods import resolve_period
from meterbook.rating import parse_currency


@click.group(
    epilog="""\b
Examples:
  meterbook budgets set 2026-10 --provider AWS --team ml 5000 --comment 'Q4 plan'
  meterbook budgets list --month 2026-10
  meterbook budgets clone 2026-10 2026-11
  meterbook budgets overunder --period 2026-Q4
"""
)
def budgets() -> None:
    """Budgets: one amount per month, provider and team, with a comment and the team's
    response; clone a month into another; over/under per team and month."""


def _budget_row(b: lib.Budget) -> tuple[str, ...]:
    return (b.month, b.provider, b.team, money(b.amount), b.currency, b.comment or "",
            b.response or "", cell(b.updated_at))  # fmt: skip


_BUDGET_COLUMNS = (
    "month", "provider", "team", "amount", "currency", "comment", "response", "updated_at",
)  # fmt: skip


@budgets.command(
    "list",
    epilog="""\b
Examples:
  meterbook budgets list
  meterbook budgets list --month 2026-10 --team ml
  meterbook budgets list --provider AWS --format csv > budgets.csv
""",
)
@click.option("--month", multiple=True, metavar="YYYY-MM", help="Only this month.")
@click.option("--provider", multiple=True, metavar="NAME", help="Only this provider.")
@click.option("--team", multiple=True, metavar="NAME", help="Only this team.")
@format_option
@pass_app
def list_command(
    app: AppContext,
    month: tuple[str, ...],
    provider: tuple[str, ...],
    team: tuple[str, ...],
    fmt: str,
) -> None:
    """List budgets by month, provider and team."""
    with app.store().engine.connect() as conn:
        found = lib.list_budgets(conn, months=month, providers_=provider, teams_=team)
    rows = [_budget_row(b) for b in found]
    if fmt == "json":
        print_json([dict(zip(_BUDGET_COLUMNS, row, strict=True)) for row in rows])
    elif fmt == "csv":
        print_csv(_BUDGET_COLUMNS, rows)
    else:
        print_table(_BUDGET_COLUMNS, rows, title="Budgets", numeric_from=3, numeric_to=4)
        if not rows:
            click.echo("no budgets (add one with `meterbook budgets set`)")


@budgets.command(
    "set",
    epilog="""\b
Examples:
  meterbook budgets set 2026-10 --provider AWS --team ml 5000
  meterbook budgets set 2026-10 --provider AWS --team ml 5500.50 --comment 'new cluster'
  meterbook budgets set 2026-10 --provider AWS --team ml --response 'training run, agreed'
""",
)
@click.argument("month", metavar="YYYY-MM")
@click.argument("amount", required=False, metavar="[AMOUNT]")
@click.option("--provider", required=True, metavar="NAME", help="The provider (required).")
@click.option("--team", required=True, metavar="NAME", help="The team (required).")
@click.option("--currency", metavar="CODE",
              help="ISO 4217 code (default: the provider's currency, else USD).")  # fmt: skip
@click.option("--comment", metavar="TEXT", help="Why this amount ('' to clear).")
@click.option("--response", metavar="TEXT", help="The team's response ('' to clear).")
@pass_app
def set_command(
    app: AppContext,
    month: str,
    amount: str | None,
    provider: str,
    team: str,
    currency: str | None,
    comment: str | None,
    response: str | None,
) -> None:
    """Add or change the budget of a team at a provider in a month. AMOUNT (at most 6
    decimals, not negative) is needed for a new budget; for an existing one, give what
    changes."""
    with app.store().engine.begin() as conn:
        budget, outcome = lib.set_budget(
            conn, month, provider, team, amount,
            currency=currency, comment=comment, response=response,
        )  # fmt: skip
    click.echo(
        f"budget {budget.month} {budget.provider}/{budget.team} {outcome}: "
        f"{money(budget.amount)} {budget.currency}"
    )


@budgets.command(
    "remove",
    epilog="""\b
Example:
  meterbook budgets remove 2026-10 --provider AWS --team ml
""",
)
@click.argument("month", metavar="YYYY-MM")
@click.option("--provider", required=True, metavar="NAME", help="The provider (required).")
@click.option("--team", required=True, metavar="NAME", help="The team (required).")
@pass_app
def remove_command(app: AppContext, month: str, provider: str, team: str) -> None:
    """Remove the budget of a team at a provider in a month."""
    with app.store().engine.begin() as conn:
        lib.remove_budget(conn, month, provider, team)
    click.echo(f"budget {month.strip()} {provider}/{team} removed")


@budgets.command(
    "clone",
    epilog="""\b
Examples:
  meterbook budgets clone 2026-10 2026-11
  meterbook budgets clone "$(date +%Y-%m)" "$(date -d 'next month' +%Y-%m)"
""",
)
@click.argument("month_from", metavar="FROM")
@click.argument("month_to", metavar="TO")
@pass_app
def clone_command(app: AppContext, month_from: str, month_to: str) -> None:
    """Copy every budget of month FROM into month TO where TO has none yet for that provider
    and team (comment "Cloned from FROM"). Existing budgets of TO are never overwritten."""
    with app.store().engine.begin() as conn:
        result = lib.clone(conn, month_from, month_to)
    click.echo(
        f"{result.created:,} budget(s) cloned from {month_from.strip()} into "
        f"{month_to.strip()}; {result.skipped:,} skipped ({month_to.strip()} had them already)"
    )


@budgets.command(
    "overunder",
    epilog="""\b
Examples:
  meterbook budgets overunder --period 2026-10
  meterbook budgets overunder --period 2026 --team ml --format csv
  meterbook budgets overunder --from 2026-09-01 --to 2026-11-30 --by provider
  meterbook budgets overunder --period 2026-10 --currency EUR   (converted, see meterbook fx)
""",
)
@click.option("--period", metavar="P", help="2026, 2026-Q4 or 2026-10 (whole months).")
@click.option("--from", "start", metavar="DATE", help="First day (with --to); its whole month.")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive; its whole month.")
@click.option("--by", "by", type=click.Choice(("team", "provider")), default="team",
              show_default=True,
              help="Per team and month, or per provider, team and month.")  # fmt: skip
@click.option("--provider", multiple=True, metavar="NAME", help="Only this provider.")
@click.option("--team", multiple=True, metavar="NAME",
              help="Only this team (Unallocated: spend of no project).")  # fmt: skip
@click.option(
    "--currency",
    metavar="CODE",
    help="Report in CODE: spend at each day's rate, budgets at their month's first.",
)
@format_option
@pass_app
def overunder_command(
    app: AppContext,
    period: str | None,
    start: str | None,
    end: str | None,
    by: str,
    provider: tuple[str, ...],
    team: tuple[str, ...],
    currency: str | None,
    fmt: str,
) -> None:
    """Actual (billed cost, tax and charge lines included, as `meterbook spend` reports it)
    against budget per team and month (default: this month): the difference (actual minus
    budget), over, under, on budget or no budget, and the team's response."""
    window = requested_period(
        app.settings(), period=period, start=start, end=end, sprint=None
    ) or resolve_period(None, None, None)
    with app.store().engine.connect() as conn:
        report = lib.over_under(
            conn,
            window,
            by_provider=by == "provider",
            providers_=provider,
            teams_=team,
            currency=parse_currency(currency, "--currency") if currency else None,
        )
    keys = ["month", "provider", "team"] if report.by_provider else ["month", "team"]
    columns = [*keys, "actual", "budget", "difference", "status", "currency", "response"]

    def key(r: lib.OverUnderRow) -> list[str]:
        return [r.month, r.provider or "", r.team] if report.by_provider else [r.month, r.team]

    if fmt in ("json", "csv"):
        data = [
            (*key(r), money(r.actual), money(r.budget), money(r.difference), r.status,
             r.currency, r.response)
            for r in report.rows
        ]  # fmt: skip
        if fmt == "csv":
            print_csv(columns, data)
        else:
            print_json({
                "from": report.period.start.isoformat(),
                "to_exclusive": report.period.end.isoformat(),
                "by": keys,
                "spend_currencies": report.currencies,
                "rows": [dict(zip(columns, row, strict=True)) for row in data],
            })  # fmt: skip
        return
    rows = [
        (*key(r), money(r.actual, 2), money(r.budget, 2), f"{r.difference:+,.2f}", r.status,
         r.currency, r.response)
        for r in report.rows
    ]  # fmt: skip
    spent = ", ".join(report.currencies) or "-"
    title = f"Over/under {window.label} (spend in {spent})"
    print_table(columns, rows, title=title, numeric_from=len(keys), numeric_to=len(keys) + 3)
    budget_currencies = {c for r in report.rows for c in r.currency.split(", ") if c}
    if budget_currencies and set(report.currencies) - budget_currencies:
        click.echo(
            "note: spend and budgets are in different currencies; figures are not converted "
            "(--currency CODE converts them)"
        )
    if not rows:
        click.echo("no spend and no budgets in this period")


COMMANDS = (budgets,)
