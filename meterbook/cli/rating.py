"""``meterbook rates``, ``meterbook charges`` and ``meterbook fx``: rate cards, charges and
exchange rates."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.cli.spend import money
from meterbook.collecting import requested_period
from meterbook.errors import InputError
from meterbook.fx import read_csv as read_fx_csv
from meterbook.periods import day_start, parse_date, resolve_period
from meterbook.rating import parse_currency
from meterbook.store.charging import rerate
from meterbook.store.queries import charges as queries
from meterbook.store.queries import fx as fx_store
from meterbook.store.queries import rates as rate_store


def _read(path: Path) -> list[str]:
    if str(path) == "-":
        return sys.stdin.read().splitlines()
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _emit(
    columns: list[str],
    rows: list[tuple[Any, ...]],
    fmt: str,
    title: str,
    numeric_from: int,
    numeric_to: int | None = None,
) -> None:
    if fmt == "json":
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(columns, rows, title=title, numeric_from=numeric_from, numeric_to=numeric_to)


#: Far beyond any record (epoch seconds): "from that day on" (MySQL has no infinity).
FOREVER = 1e15
_PERIOD_HELP = "2026, 2026-Q1, 2026-01 or 2026-01-05 (default: this month)."


# --- rates -----------------------------------------------------------------------------------


@click.group(
    epilog="""\b
Examples:
  meterbook rates add cpu_hours 0.02 --currency EUR --from 2026-01-01 --cluster hpc
  meterbook rates add gpu_hours 1.10 --currency EUR --from 2026-01-01 --gpu-model a100
  meterbook rates list
  meterbook rates import rates.csv
  meterbook rates apply --from 2026-01-01 --to 2026-03-31
"""
)
def rates() -> None:
    """Rate cards: effective-dated prices per unit of a ledger quantity, for a scope."""


_SCOPE_OPTIONS = (
    "gpu_model",
    "source",
    "cluster",
    "partition",
    "qos",
    "provider",
    "workload_type",
    "environment",
)


def _scope_options(func: Any) -> Any:
    for name in reversed(_SCOPE_OPTIONS):
        flag = "--" + name.replace("_", "-")
        func = click.option(
            flag,
            name,
            metavar="NAME",
            help=f"Only records of this {name.replace('_', ' ')} (default: any).",
        )(func)
    return func


@rates.command(
    "list",
    epilog="""\b
Examples:
  meterbook rates list
  meterbook rates list --quantity gpu_hours --on 2026-06-01
  meterbook rates list --format json
""",
)
@click.option("--quantity", metavar="NAME", help="Only rates of this quantity.")
@click.option("--on", "on", metavar="YYYY-MM-DD", help="Only the versions effective that day.")
@format_option
@pass_app
def rates_list(app: AppContext, quantity: str | None, on: str | None, fmt: str) -> None:
    """List every version of every rate card (from: first day; to: the next version's day)."""
    day = parse_date(on, "--on") if on else None
    with app.store().engine.connect() as conn:
        lines = rate_store.list_rates(conn, quantity, day)
    data = rate_store.columns_of(lines)
    columns = [
        "rate",
        "quantity",
        "scope",
        "version",
        "from",
        "to",
        "price",
        "currency",
        "description",
        "note",
    ]
    rows = [tuple(money(v) if k == "price" else v for k, v in d.items()) for d in data]
    _emit(columns, rows, fmt, "Rates", 6, 7)
    if fmt == "table" and not rows:
        click.echo("no rates (add one with `meterbook rates add`)")


@rates.command(
    "add",
    epilog="""\b
Examples:
  meterbook rates add cpu_hours 0.02 --currency EUR --from 2026-01-01
  meterbook rates add cpu_hours 0.03 --currency EUR --from 2026-01-01 --partition highmem
  meterbook rates add gpu_hours 1.10 --currency EUR --from 2026-01-01 --gpu-model a100
  meterbook rates add cpu_hours 0.025 --currency EUR --from 2026-07-01 --apply

A price for a quantity and scope that has a rate already adds a version to it. A version
starting in the past does not re-rate stored records: give --apply, or run `meterbook rates
apply`.
""",
)
@click.argument("quantity")
@click.argument("price")
@click.option("--currency", required=True, metavar="CODE", help="ISO 4217 code (required).")
@click.option(
    "--from",
    "start",
    required=True,
    metavar="YYYY-MM-DD",
    help="First day of this price (accounting time zone).",
)
@_scope_options
@click.option("--description", metavar="TEXT", help="What the rate is (new rates only).")
@click.option("--note", metavar="TEXT", help="Why this version (e.g. the decision).")
@click.option("--apply", "apply_", is_flag=True, help="Re-rate the stored records from --from on.")
@pass_app
def rates_add(
    app: AppContext,
    /,
    quantity: str,
    price: str,
    currency: str,
    start: str,
    description: str | None,
    note: str | None,
    apply_: bool,
    **scope: str | None,
) -> None:
    """Add a price for QUANTITY (cpu_hours, gpu_hours, node_hours, mem_gb_hours, wall_hours,
    io_ops) from a day on, for the scope given by the options (none: any record)."""
    spec = rate_store.make_spec(quantity, price, currency, start, scope, description, note)
    store = app.store()
    with store.engine.begin() as conn:
        card, version, outcome = rate_store.add_rate(conn, spec)
        counts = None
        if apply_:
            since = day_start(spec.effective_from, store.zone).timestamp()
            counts = rerate(conn, store.zone, since, FOREVER)
    click.echo(
        f"rate {card.id} {card.label()} version {version} {outcome}: "
        f"{money(spec.price)} {card.currency} from {spec.effective_from}"
    )
    if counts is not None:
        click.echo(f"re-rated {counts.records:,} records; {counts.changed:,} changed")


@rates.command(
    "import",
    epilog="""\b
Examples:
  meterbook rates import rates.csv
  meterbook rates export > rates.csv; meterbook rates import rates.csv   (changes nothing)

Columns (header required; quantity, currency, effective_from and price required, the others
may be left out or empty): quantity, gpu_model, source, cluster, partition, qos, provider,
workload_type, environment, currency, effective_from, price, description, note.
""",
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Re-rate the stored records from the earliest imported day on.",
)
@pass_app
def rates_import(app: AppContext, path: Path, apply_: bool) -> None:
    """Add the rate versions of a CSV file, all or nothing (an error names its line)."""
    lines = _read(path)
    specs = rate_store.read_csv(lines, str(path))
    store = app.store()
    with store.engine.begin() as conn:
        summary = rate_store.import_csv(conn, lines, str(path))
        counts = None
        if apply_ and specs:
            first = min(s.effective_from for _, s in specs)
            counts = rerate(conn, store.zone, day_start(first, store.zone).timestamp(), FOREVER)
    click.echo(f"{path}: {summary.added:,} versions added, {summary.unchanged:,} unchanged")
    if counts is not None:
        click.echo(f"re-rated {counts.records:,} records; {counts.changed:,} changed")


@rates.command("export", epilog="Example:\n\n  meterbook rates export > rates.csv")
@pass_app
def rates_export(app: AppContext) -> None:
    """Write every rate version as CSV (the columns `rates import` reads)."""
    with app.store().engine.connect() as conn:
        rate_store.export_csv(conn, sys.stdout)


@rates.command(
    "apply",
    epilog="""\b
Examples:
  meterbook rates apply --from 2026-01-01 --to 2026-03-31
  meterbook rates apply --period 2026-Q1

Running it twice changes nothing the second time.
""",
)
@click.option("--period", metavar="PERIOD", help="2026, 2026-Q1, 2026-01 or 2026-01-05.")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (inclusive).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (inclusive).")
@pass_app
def rates_apply(app: AppContext, period: str | None, start: str | None, end: str | None) -> None:
    """Rate again the records that start in the period (after a rate change): their charges
    and the charge rollup follow."""
    if not (period or start or end):
        raise click.UsageError("give --period or --from/--to")
    window = resolve_period(period, start, end)
    store = app.store()
    with store.engine.begin() as conn:
        counts = rerate(
            conn,
            store.zone,
            day_start(window.start, store.zone).timestamp(),
            day_start(window.end, store.zone).timestamp(),
        )
    click.echo(
        f"{window.label}: re-rated {counts.records:,} records; {counts.changed:,} changed "
        f"({counts.charges:,} charges written)"
    )


# --- charges ---------------------------------------------------------------------------------


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  meterbook charges --period 2026-01 --by account
  meterbook charges --period 2026-Q1 --by quantity,month --currency EUR
  meterbook charges explain 12345
  meterbook charges unrated --period 2026-01
""",
)
@click.option("--period", metavar="PERIOD", help=_PERIOD_HELP)
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (inclusive).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (inclusive).")
@click.option("--sprint", metavar="N", help="A sprint of the configured calendar.")
@click.option(
    "--by",
    "by",
    metavar="DIMS",
    default="",
    help=f"Group by a comma list of: {', '.join(queries.DIMENSIONS)}.",
)
@click.option(
    "--currency", metavar="CODE", help="Convert every amount into CODE at the rate of its day."
)
@click.option("--source", multiple=True, metavar="NAME", help="Only this source.")
@click.option("--cluster", multiple=True, metavar="NAME", help="Only this cluster.")
@click.option("--account", multiple=True, metavar="NAME", help="Only this account/project.")
@click.option("--user", multiple=True, metavar="NAME", help="Only this user.")
@click.option("--quantity", multiple=True, metavar="NAME", help="Only this quantity.")
@format_option
@click.pass_context
def charges(
    ctx: click.Context,
    period: str | None,
    start: str | None,
    end: str | None,
    sprint: str | None,
    by: str,
    currency: str | None,
    source: tuple[str, ...],
    cluster: tuple[str, ...],
    account: tuple[str, ...],
    user: tuple[str, ...],
    quantity: tuple[str, ...],
    fmt: str,
) -> None:
    """Charges of rated usage over a period, from the charge rollup (per currency unless
    --currency converts them)."""
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.obj
    window = requested_period(
        app.settings(), period=period, start=start, end=end, sprint=sprint
    ) or resolve_period(None, None, None)
    dims = [d.strip() for d in by.split(",") if d.strip()]
    target = parse_currency(currency, "--currency") if currency else None
    filters = queries.ChargeFilters(source, cluster, account, user, quantity)
    with app.store().engine.connect() as conn:
        report = queries.charges_summary(conn, window, dims, filters, target)
    show_units = "quantity" in dims
    columns = [*dims, "currency", *(["units"] if show_units else []), "amount"]
    rows = [
        (*r.group, r.currency, *([money(r.units)] if show_units else []), money(r.amount))
        for r in report.rows
    ]
    if fmt != "table":
        _emit(columns, rows, fmt, "", 0)
        return
    table_rows = [
        (*r.group, r.currency, *([money(r.units, 2)] if show_units else []), money(r.amount, 2))
        for r in report.rows
    ]
    title = f"Charges {window.label}" + (f" by {', '.join(dims)}" if dims else "")
    print_table(columns, table_rows, title=title, numeric_from=len(dims) + 1)
    for cur, total in report.totals.items():
        click.echo(f"total {money(total, 2)} {cur}")
    if not report.rows:
        click.echo("no charges in this period (add rates with `meterbook rates add`)")


@charges.command(
    "explain",
    epilog="""\b
Examples:
  meterbook charges explain 12345
  meterbook charges explain 1700000000.123456 --source hpc
""",
)
@click.argument("record")
@click.option("--source", metavar="NAME", help="The record's source (when keys repeat).")
@format_option
@pass_app
def charges_explain(app: AppContext, record: str, source: str | None, fmt: str) -> None:
    """How a record (id or natural key) was charged: per quantity, which rate, which version,
    quantity x price = amount."""
    with app.store().engine.connect() as conn:
        e = queries.explain(conn, record, source)
    columns = [
        "quantity",
        "units",
        "rate",
        "scope",
        "version",
        "from",
        "price",
        "amount",
        "currency",
    ]
    rows = [
        (
            c.quantity,
            money(c.units),
            c.rate_id,
            c.rate,
            c.version,
            c.effective_from.isoformat() if c.effective_from else "",
            money(c.price),
            money(c.amount),
            c.currency,
        )
        for c in e.charges
    ]
    if fmt == "json":
        print_json(
            {
                "record": e.record_id,
                "source": e.source,
                "record_key": e.record_key,
                "status": e.status,
                "cost": None if e.cost is None else money(e.cost),
                "cost_currency": e.cost_currency,
                "quantities": {k: money(v) for k, v in e.quantities.items()},
                "charges": [dict(zip(columns, row, strict=True)) for row in rows],
            }
        )
        return
    if fmt == "csv":
        print_csv(columns, rows)
        return
    click.echo(f"record {e.record_id} ({e.source} {e.record_key}): {e.status}")
    if e.cost is not None:
        click.echo(f"provider cost {money(e.cost)} {e.cost_currency or ''}".rstrip())
    for c in e.charges:
        since = f" from {c.effective_from}" if c.effective_from else ""
        click.echo(
            f"  {c.quantity}: {money(c.units)} x {money(c.price)} = {money(c.amount)} "
            f"{c.currency}  (rate {c.rate_id} {c.rate}, version {c.version}{since})"
        )
    if not e.charges and e.cost is None:
        listed = ", ".join(f"{k} {money(v)}" for k, v in e.quantities.items()) or "none"
        click.echo(f"  no rate matched its quantities ({listed})")


@charges.command(
    "unrated",
    epilog="""\b
Examples:
  meterbook charges unrated --period 2026-01
  meterbook charges unrated --from 2026-01-01 --to 2026-01-07 --format csv
""",
)
@click.option("--period", metavar="PERIOD", help=_PERIOD_HELP)
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (inclusive).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (inclusive).")
@click.option("--limit", type=int, default=50, show_default=True, help="Records to list (table).")
@format_option
@pass_app
def charges_unrated(
    app: AppContext, period: str | None, start: str | None, end: str | None, limit: int, fmt: str
) -> None:
    """Records starting in the period, without a provider cost, that no rate priced."""
    window = resolve_period(period, start, end)
    store = app.store()
    with store.engine.connect() as conn:
        found, total = queries.unrated(conn, window, store.zone, None if fmt != "table" else limit)
    columns = [
        "record",
        "source",
        "record_key",
        "user",
        "account",
        "cluster",
        "partition",
        "start",
        "wall_hours",
    ]
    rows = [
        (
            r.record_id,
            r.source,
            r.record_key,
            r.user,
            r.account,
            r.cluster,
            r.partition,
            r.start.isoformat(timespec="seconds"),
            round(r.wall_hours, 4),
        )
        for r in found
    ]
    _emit(columns, rows, fmt, f"Unrated records {window.label}", 8)
    if fmt == "table":
        shown = f" (first {len(rows)} shown)" if total > len(rows) else ""
        click.echo(f"{total:,} unrated records{shown}")


# --- fx --------------------------------------------------------------------------------------


@click.group(
    epilog="""\b
Examples:
  meterbook fx import rates.csv          (columns: date,from,to,rate)
  meterbook fx list --currency EUR
"""
)
def fx() -> None:
    """Exchange rates by day, for reporting money in another currency."""


@fx.command(
    "import",
    epilog="""\b
Example:
  meterbook fx import ecb.csv

The file has the header date,from,to,rate; a row means 1 FROM = RATE TO from that date on.
A row for a day and pair already stored replaces it.
""",
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def fx_import(app: AppContext, path: Path) -> None:
    """Import dated exchange rates, all or nothing (an error names its line)."""
    found = read_fx_csv(_read(path), str(path))
    with app.store().engine.begin() as conn:
        new, replaced = fx_store.store_rates(conn, found)
    click.echo(f"{path}: {new:,} rates added, {replaced:,} replaced")


@fx.command(
    "list",
    epilog="""\b
Examples:
  meterbook fx list
  meterbook fx list --currency USD --from 2026-01-01 --to 2026-01-31 --format csv
""",
)
@click.option("--currency", metavar="CODE", help="Only rates from or to this currency.")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (inclusive).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (inclusive).")
@format_option
@pass_app
def fx_list(
    app: AppContext, currency: str | None, start: str | None, end: str | None, fmt: str
) -> None:
    """List the stored exchange rates."""
    first = parse_date(start, "--from") if start else None
    last = parse_date(end, "--to") if end else None
    after = date.fromordinal(last.toordinal() + 1) if last else None
    code = parse_currency(currency, "--currency") if currency else None
    with app.store().engine.connect() as conn:
        found = fx_store.list_rates(conn, code, first, after)
    rows = [(r.day.isoformat(), r.from_currency, r.to_currency, money(r.rate)) for r in found]
    _emit(["date", "from", "to", "rate"], rows, fmt, "Exchange rates", 3)
    if fmt == "table" and not rows:
        click.echo("no exchange rates (import some with `meterbook fx import`)")


COMMANDS = (rates, charges, fx)
