"""``meterbook allocations``: amounts of hours or money for an account or project over a range
of days, with their burn-down."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import click

from meterbook import allocations as lib
from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.cli.spend import money
from meterbook.errors import ConfigError
from meterbook.periods import parse_date, resolve_period
from meterbook.rating import parse_currency


@click.group(
    epilog="""\b
Examples:
  meterbook allocations add astro-2026 --account astro --quantity cpu_hours 500000 --period 2026
  meterbook allocations list --as-of 2026-06-30
  meterbook allocations show astro-2026 --series week
  meterbook allocations edit astro-2026 --amount 550000 --comment 'top-up in May'
"""
)
def allocations() -> None:
    """Allocations: an amount of CPU, GPU or node hours or money for a usage account or
    project over a range of days, with burn-down: used, remaining, percent used and the
    projected exhaustion date."""


def _as_of(raw: str | None) -> date:
    return parse_date(raw.strip(), "--as-of") if raw else date.today()


def _figure(value: Decimal | None, places: int | None = None) -> str:
    return "" if value is None else money(value, places)


_CURRENCY_HELP = (
    "Money in CODE: the amount at its first day's rate, spend (any currency) at each day's "
    "rate (meterbook fx)."
)


def _percent(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


_LIST_COLUMNS = (
    "name", "scope_kind", "scope", "quantity", "amount", "unit", "start", "end", "used",
    "remaining", "percent_used", "exhaustion", "exhausts_early", "comment",
)  # fmt: skip


@allocations.command(
    "list",
    epilog="""\b
Examples:
  meterbook allocations list
  meterbook allocations list --as-of 2026-06-30 --format csv > allocations.csv
  meterbook allocations list --currency EUR      (money allocations converted)
""",
)
@click.option("--as-of", "as_of", metavar="DATE", help="Burn-down up to this day (default: today).")
@click.option("--currency", metavar="CODE", help=_CURRENCY_HELP)
@format_option
@pass_app
def list_command(app: AppContext, as_of: str | None, currency: str | None, fmt: str) -> None:
    """List allocations with their burn-down up to a day: used, remaining, percent used and
    the projected exhaustion date (flagged when it falls within the period)."""
    day = _as_of(as_of)
    with app.store().engine.connect() as conn:
        code = parse_currency(currency, "--currency") if currency else None
        found = [
            lib.burn_down(conn, a.name, day, currency=code) for a in lib.list_allocations(conn)
        ]
    plain = fmt != "table"
    rows = [
        (b.allocation.name, b.allocation.scope_kind, b.allocation.scope, b.allocation.quantity,
         money(b.allocation.amount), b.allocation.unit, b.allocation.start.isoformat(),
         b.allocation.end.isoformat(), _figure(b.used, None if plain else 2),
         _figure(b.remaining, None if plain else 2),
         _percent(b.percent_used),
         b.exhaustion.isoformat() if b.exhaustion else "",
         ("true" if b.exhausts_early else "false") if plain else ("yes" if b.exhausts_early
                                                                    else ""),
         b.allocation.comment or "")
        for b in found
    ]  # fmt: skip
    if fmt == "json":
        data: list[dict[str, object]] = [dict(zip(_LIST_COLUMNS, row, strict=True)) for row in rows]
        for item, burn in zip(data, found, strict=True):
            item["exhausts_early"] = burn.exhausts_early
        print_json(data)
    elif fmt == "csv":
        print_csv(_LIST_COLUMNS, rows)
    else:
        print_table(_LIST_COLUMNS, rows, title=f"Allocations as of {day}", numeric_from=8,
                    numeric_to=11)  # fmt: skip
        if not rows:
            click.echo("no allocations (add one with `meterbook allocations add`)")


def _scope(account: str | None, project: str | None) -> tuple[str, str]:
    if (account is None) == (project is None):
        raise ConfigError("scope: give either --account or --project")
    return ("account", account) if account is not None else ("project", project or "")


def _days(period: str | None, start: str | None, end: str | None) -> tuple[date, date] | None:
    if not (period or start or end):
        return None
    window = resolve_period(period, start, end)
    return window.start, date.fromordinal(window.end.toordinal() - 1)


@allocations.command(
    "add",
    epilog="""\b
Examples:
  meterbook allocations add astro-2026 --account astro --quantity cpu_hours 500000 --period 2026
  meterbook allocations add gpu-q1 --account bio --quantity gpu_hours 2000 --period 2026-Q1
  meterbook allocations add atlas-cloud --project atlas --quantity money 12000 --currency EUR \\
      --from 2026-03-01 --to 2026-08-31
""",
)
@click.argument("name")
@click.argument("amount")
@click.option("--account", metavar="NAME", help="A usage account (a Slurm account...).")
@click.option("--project", metavar="NAME", help="An org project.")
@click.option("--quantity", required=True, type=click.Choice(lib.QUANTITIES),
              help="What is allocated (required).")  # fmt: skip
@click.option("--period", metavar="P", help="2026, 2026-Q1, 2026-03 or a day.")
@click.option("--from", "start", metavar="DATE", help="First day (with --to).")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive.")
@click.option("--currency", metavar="CODE", help="ISO 4217 code, money only (default USD).")
@click.option("--comment", metavar="TEXT", help="Free text.")
@pass_app
def add_command(
    app: AppContext,
    name: str,
    amount: str,
    account: str | None,
    project: str | None,
    quantity: str,
    period: str | None,
    start: str | None,
    end: str | None,
    currency: str | None,
    comment: str | None,
) -> None:
    """Add an allocation NAME of AMOUNT (at most 6 decimals, not negative) of a quantity to
    a usage account or a project over --period or --from/--to (both days included)."""
    kind, scope = _scope(account, project)
    days = _days(period, start, end)
    if days is None:
        raise ConfigError("period: give --period or --from/--to")
    with app.store().engine.begin() as conn:
        found = lib.add_allocation(
            conn, name, scope_kind=kind, scope=scope, quantity=quantity, amount=amount,
            start=days[0], end=days[1], currency=currency, comment=comment,
        )  # fmt: skip
    click.echo(
        f"allocation {found.name!r} added: {money(found.amount)} {found.unit} for "
        f"{found.scope_kind} {found.scope!r} from {found.start} to {found.end}"
    )


@allocations.command(
    "edit",
    epilog="""\b
Examples:
  meterbook allocations edit astro-2026 --amount 550000
  meterbook allocations edit astro-2026 --to 2027-03-31 --comment 'extended'
""",
)
@click.argument("name")
@click.option("--amount", metavar="AMOUNT", help="The new amount.")
@click.option("--period", metavar="P", help="New period: 2026, 2026-Q1, 2026-03 or a day.")
@click.option("--from", "start", metavar="DATE", help="New first day.")
@click.option("--to", "end", metavar="DATE", help="New last day, inclusive.")
@click.option("--currency", metavar="CODE", help="ISO 4217 code (money only).")
@click.option("--comment", metavar="TEXT", help="Free text ('' to clear).")
@pass_app
def edit_command(
    app: AppContext,
    name: str,
    amount: str | None,
    period: str | None,
    start: str | None,
    end: str | None,
    currency: str | None,
    comment: str | None,
) -> None:
    """Change the amount, the days, the currency or the comment of an allocation."""
    first: str | date | None = start
    last: str | date | None = end
    if period:
        days = _days(period, start, end)
        assert days is not None
        first, last = days
    with app.store().engine.begin() as conn:
        found, changed = lib.edit_allocation(
            conn, name, amount=amount, start=first, end=last, currency=currency, comment=comment
        )
    click.echo(
        f"allocation {found.name!r} {'changed' if changed else 'unchanged'}: "
        f"{money(found.amount)} {found.unit} from {found.start} to {found.end}"
    )


@allocations.command(
    "remove",
    epilog="""\b
Example:
  meterbook allocations remove astro-2026
""",
)
@click.argument("name")
@pass_app
def remove_command(app: AppContext, name: str) -> None:
    """Remove an allocation."""
    with app.store().engine.begin() as conn:
        lib.remove_allocation(conn, name)
    click.echo(f"allocation {name.strip()!r} removed")


@allocations.command(
    "show",
    epilog="""\b
Examples:
  meterbook allocations show astro-2026
  meterbook allocations show astro-2026 --as-of 2026-06-30 --series week --format csv
  meterbook allocations show atlas-cloud --currency EUR
""",
)
@click.argument("name")
@click.option("--as-of", "as_of", metavar="DATE", help="Burn-down up to this day (default: today).")
@click.option("--series", type=click.Choice(lib.SERIES), default="day", show_default=True,
              help="Cumulative use per day or per week (7 days from the start).")  # fmt: skip
@click.option("--currency", metavar="CODE", help=_CURRENCY_HELP)
@format_option
@pass_app
def show_command(
    app: AppContext, name: str, as_of: str | None, series: str, currency: str | None, fmt: str
) -> None:
    """The burn-down of an allocation up to a day: used, remaining, percent used, average
    daily burn, projected exhaustion date, and the cumulative use per day or week."""
    day = _as_of(as_of)
    with app.store().engine.connect() as conn:
        code = parse_currency(currency, "--currency") if currency else None
        b = lib.burn_down(conn, name, day, series=series, currency=code)
    a = b.allocation
    if fmt == "json":
        data = {
            **a.as_dict(), "as_of": b.as_of, "elapsed_days": b.elapsed_days, "used": b.used,
            "remaining": b.remaining, "percent_used": b.percent_used, "daily_burn": b.daily_burn,
            "exhaustion": b.exhaustion, "exhausts_early": b.exhausts_early,
        }  # fmt: skip
        print_json({
            **{k: money(v) if isinstance(v, Decimal) else v for k, v in data.items()},
            "series": [{series: p.day, "used": money(p.used), "cumulative": money(p.cumulative)}
                       for p in b.series],
        })  # fmt: skip
        return
    rows = [(p.day.isoformat(), money(p.used), money(p.cumulative)) for p in b.series]
    if fmt == "csv":
        print_csv((series, "used", "cumulative"), rows)
        return
    exhaustion = "-" if b.exhaustion is None else b.exhaustion.isoformat()
    if b.exhausts_early:
        exhaustion += " (before the period ends)"
    for label, value in (
        ("allocation", f"{a.name}: {money(a.amount)} {a.unit} for {a.scope_kind} {a.scope!r}"),
        ("period", f"{a.start} to {a.end} (inclusive)"),
        ("as of", f"{b.as_of} ({b.elapsed_days:,} day(s) elapsed)"),
        ("used", f"{_figure(b.used, 2)} ({_percent(b.percent_used) or '-'} %)"),
        ("remaining", _figure(b.remaining, 2)),
        ("daily burn", _figure(b.daily_burn, 2) or "-"),
        ("exhaustion", exhaustion),
    ):
        click.echo(f"{label + ':':<12}{value}")
    if rows:
        print_table(
            (series, "used", "cumulative"),
            [(p.day.isoformat(), f"{p.used:,.2f}", f"{p.cumulative:,.2f}") for p in b.series],
            title="Cumulative use",
            numeric_from=1,
            numeric_to=3,
        )


COMMANDS = (allocations,)
