"""``meterbook import billing``, ``meterbook spend`` and ``meterbook rules``."""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.imports import import_
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.collecting import requested_period
from meterbook.connectors.billing.connector import FORMATS, BillingReader
from meterbook.errors import ConfigError, InputError
from meterbook.periods import parse_date, resolve_period
from meterbook.rating import parse_currency
from meterbook.spend import (
    BillingResult,
    add_charge_rule,
    import_billing,
    list_charge_rules,
    list_match_rules,
    read_match_rules,
    remove_charge_rule,
    replace_match_rules,
    write_match_rules,
)
from meterbook.store.cost_ingest import rebuild_spend
from meterbook.store.queries.spend import (
    DIMENSIONS,
    SpendFilters,
    SpendReport,
    spend_summary,
    unallocated,
)


def money(value: Decimal | None, places: int | None = None) -> str:
    """An amount as plain text: all its digits, or rounded to ``places``."""
    if value is None:
        return ""
    if places is not None:
        return f"{value:,.{places}f}"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@import_.command(
    epilog="""\b
Examples:
  meterbook import billing --format focus focus-2024-09.csv.gz
  meterbook import billing --format aws-cur --provider aws-main cur/
  meterbook import billing --format azure --since 2024-09-01 exports/
  meterbook import billing --format mapped --mapping colo.toml colo-2024-09-30.csv
"""
)
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="The files' format.")  # fmt: skip
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Mapping file (TOML) for --format mapped.")  # fmt: skip
@click.option("--provider", metavar="NAME",
              help="Every line under this provider (default: the file's or format's).")  # fmt: skip
@click.option("--since", metavar="DATE",
              help="In directories, load dated files from this day on (default: only files "
                   "newer than the provider's last load).")  # fmt: skip
@click.option("--delimiter", default=",", show_default=True, help="CSV field separator.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def billing(
    app: AppContext,
    paths: tuple[str, ...],
    fmt: str,
    mapping: Path | None,
    provider: str | None,
    since: str | None,
    delimiter: str,
    as_json: bool,
) -> None:
    """Import cloud and datacenter billing files: FOCUS 1.0-1.2, AWS CUR, Azure EA/MCA, OCI,
    Google Cloud (BigQuery export, legacy JSON), or any CSV/JSON through a mapping file.

    Each line keeps provider, accounts, project, service, SKU, region, resource, charge
    category, quantity, billed/effective/list cost, currency, tags and charge period. Lines
    whose project id no project claims go to Unallocated (`meterbook spend unallocated`).
    Importing the same file again changes nothing.
    """
    loaded_mapping: Any = None
    if fmt == "mapped":
        if mapping is None:
            raise ConfigError("--format mapped needs --mapping FILE")
        from meterbook.connectors.billing.mapped import load_mapping

        loaded_mapping = load_mapping(mapping)
    elif mapping is not None:
        raise ConfigError("--mapping goes with --format mapped")
    if len(delimiter) != 1:
        raise ConfigError("--delimiter: one character")
    reader = BillingReader(fmt, provider=provider, mapping=loaded_mapping, delimiter=delimiter)
    since_day = parse_date(since, "--since") if since else None
    store = app.store()
    result = import_billing(store, reader, list(paths), since=since_day)
    if as_json:
        print_json(_result_json(result))
    else:
        _print_result(store.label, result)
    if result.rejected and not result.records:
        raise InputError(
            f"every line was rejected ({result.rejected:,}): is --format {fmt} right? "
            f"See `meterbook imports rejects {result.run_id}`"
        )


def _result_json(result: BillingResult) -> dict[str, object]:
    return {
        "run": result.run_id,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "unallocated": result.unallocated,
        "files": result.files,
        "skipped_files": result.skipped_files,
        "providers_created": result.providers_created,
        "seconds": round(result.seconds, 3),
        "first_rejects": [
            {"file": r.file, "line": r.line, "reason": r.reason} for r in result.first_rejects
        ],
    }


def _print_result(label: str, result: BillingResult) -> None:
    rate = result.records / result.seconds if result.seconds else 0.0
    click.echo(
        f"billing import, run {result.run_id}, into {label}: {len(result.files)} file(s), "
        f"{result.summary()} ({result.seconds:.1f} s, {rate:,.0f} lines/s)"
    )
    if result.providers_created:
        click.echo(f"  new providers: {', '.join(result.providers_created)}")
    if result.unallocated:
        click.echo(f"  {result.unallocated:,} new lines with no project: "
                   "see `meterbook spend unallocated`")  # fmt: skip
    for name in result.skipped_files:
        click.echo(f"  not newer than the last load: {name} (use --since to load it)")
    for r in result.first_rejects:
        click.echo(f"  rejected {r.file}: line {r.line}: {r.reason}")
    if result.rejected:
        click.echo(f"  all rejects: meterbook imports rejects {result.run_id}")


# ---------------------------------------------------------------------------------------------


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  meterbook spend --period 2024-09 --by provider
  meterbook spend --period 2024 --by month --by team --format csv
  meterbook spend --from 2024-09-01 --to 2024-09-30 --by day --provider AWS
  meterbook spend --period 2024-09 --by group --project atlas
  meterbook spend --period 2024-09 --by provider --currency EUR   (converted day by day)
  meterbook spend unallocated --period 2024-09
""",
)
@click.option("--by", "by", multiple=True, type=click.Choice(DIMENSIONS), metavar="DIM",
              help=f"Group by ({', '.join(DIMENSIONS)}); repeat for several.")  # fmt: skip
@click.option("--period", metavar="P", help="2024, 2024-Q3, 2024-09 or 2024-09-05.")
@click.option("--from", "start", metavar="DATE", help="First day (with --to).")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive.")
@click.option("--provider", multiple=True, metavar="NAME", help="Only this provider.")
@click.option("--division", multiple=True, metavar="NAME", help="Only this division.")
@click.option("--team", multiple=True, metavar="NAME", help="Only this team.")
@click.option("--project", multiple=True, metavar="NAME",
              help=f"Only this project ({'Unallocated'} for lines without one).")  # fmt: skip
@click.option("--group", "groups", multiple=True, metavar="NAME", help="Only this workload group.")
@click.option("--service", multiple=True, metavar="NAME", help="Only this service.")
@click.option(
    "--only-currency",
    "only_currency",
    multiple=True,
    metavar="CODE",
    help="Only costs billed in this currency.",
)
@click.option(
    "--currency",
    metavar="CODE",
    help="Report in CODE: each day's costs at that day's exchange rate (meterbook fx).",
)
@click.option("--top", type=int, metavar="N", help="Only the N largest groups.")
@format_option
@click.pass_context
def spend(
    ctx: click.Context,
    by: tuple[str, ...],
    period: str | None,
    start: str | None,
    end: str | None,
    provider: tuple[str, ...],
    division: tuple[str, ...],
    team: tuple[str, ...],
    project: tuple[str, ...],
    groups: tuple[str, ...],
    service: tuple[str, ...],
    only_currency: tuple[str, ...],
    currency: str | None,
    top: int | None,
    fmt: str,
) -> None:
    """Spend over a period (default: this month) from the day rollup: billed, effective and
    list cost, grouped. Derived lines (tax, charge rules) are included; `--by rule` shows them.

    Days are UTC days; a monthly charge is spread evenly over its month.
    """
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.obj
    window = requested_period(
        app.settings(), period=period, start=start, end=end, sprint=None
    ) or resolve_period(None, None, None)
    codes = tuple(c.upper() for c in only_currency)
    filters = SpendFilters(provider, division, team, project, groups, service, codes)
    target = parse_currency(currency, "--currency") if currency else None
    with app.store().engine.connect() as conn:
        report = spend_summary(conn, window, by, filters, top, target)
    if fmt == "json":
        print_json(_report_json(report))
    elif fmt == "csv":
        print_csv([*report.by, "billed_cost", "effective_cost", "list_cost", "lines"],
                  [(*r.group, money(r.billed_cost), money(r.effective_cost),
                    money(r.list_cost), r.lines) for r in report.rows])  # fmt: skip
    else:
        _spend_table(report)


def _report_json(report: SpendReport) -> dict[str, object]:
    def row(r: Any, by: tuple[str, ...]) -> dict[str, object]:
        values: dict[str, object] = r.as_dict(by)
        for c in ("billed_cost", "effective_cost", "list_cost"):
            values[c] = money(getattr(r, c))
        return values

    return {
        "period": {"label": report.period.label, "from": report.period.start.isoformat(),
                   "to_exclusive": report.period.end.isoformat()},
        "by": list(report.by),
        "currencies": report.currencies,
        "rows": [row(r, report.by) for r in report.rows],
        "total": row(report.total, ()),
    }  # fmt: skip


def _spend_table(report: SpendReport) -> None:
    by = report.by
    currency = ", ".join(report.currencies) or "-"
    title = f"Spend {report.period.label} ({currency})" + (f" by {', '.join(by)}" if by else "")
    heads = ["billed", "effective", "list", "lines"]

    def values(r: Any) -> list[Any]:
        return [money(r.billed_cost, 6), money(r.effective_cost, 6), money(r.list_cost, 6),
                r.lines]  # fmt: skip

    if not by:
        print_table(heads, [values(report.total)], title=title)
    else:
        footer = ["total", *([""] * (len(by) - 1)), *values(report.total)]
        print_table([*by, *heads], [(*r.group, *values(r)) for r in report.rows], title=title,
                    footer=footer, numeric_from=len(by))  # fmt: skip
    if len(report.currencies) > 1:
        click.echo(
            "several currencies: add --by currency, --only-currency CODE, or --currency CODE "
            "to convert"
        )
    if not report.rows:
        click.echo("no spend in this period (see `meterbook imports` for what was loaded)")


@spend.command(
    "unallocated",
    epilog="""\b
Examples:
  meterbook spend unallocated --period 2024-09
  meterbook spend unallocated --period 2024 --format csv > unknown-projects.csv
""",
)
@click.option("--period", metavar="P", help="2024, 2024-Q3, 2024-09 or 2024-09-05.")
@click.option("--from", "start", metavar="DATE", help="First day (with --to).")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive.")
@format_option
@pass_app
def unallocated_command(
    app: AppContext, period: str | None, start: str | None, end: str | None, fmt: str
) -> None:
    """Costs whose project id (as the provider knows it) no project claims: add the project
    (`meterbook org projects add NAME --external-id ID --provider P --team T`) and they move."""
    window = requested_period(
        app.settings(), period=period, start=start, end=end, sprint=None
    ) or resolve_period(None, None, None)
    with app.store().engine.connect() as conn:
        rows = unallocated(conn, window)
    columns = ["provider", "project_ext", "name", "currency", "billed", "lines", "first", "last"]
    data = [
        (r.provider, r.project_ext, r.sub_account_name, r.currency, money(r.billed_cost), r.lines,
         r.first_day, r.last_day)
        for r in rows
    ]  # fmt: skip
    if fmt == "json":
        print_json([dict(zip(columns, row, strict=True)) for row in data])
    elif fmt == "csv":
        print_csv(columns, data)
    else:
        table_rows = [
            (*row[:4], money(r.billed_cost, 6), *row[5:]) for row, r in zip(data, rows, strict=True)
        ]
        print_table(columns, table_rows, title=f"Unallocated {window.label}", numeric_from=4)
        if not rows:
            click.echo("nothing unallocated in this period")


@spend.command(
    "rebuild",
    epilog="Example:\n\n  meterbook spend rebuild",
)
@pass_app
def rebuild_command(app: AppContext) -> None:
    """Attribute every billing line again (projects, workload groups) and rebuild the spend
    rollup with the current tax rates and charge rules."""
    with app.store().engine.begin() as conn:
        moved = rebuild_spend(conn)
    click.echo(f"spend rollup rebuilt; {moved:,} lines changed project or workload group")


# ---------------------------------------------------------------------------------------------


@click.group(
    epilog="""\b
Examples:
  meterbook rules match import rules.csv
  meterbook rules match list
  meterbook rules charges add overhead-10 --kind overhead --percent 10 --provider AWS
"""
)
def rules() -> None:
    """Match rules (workload groups) and charge rules (overhead, markup, discount)."""


@rules.group(
    "match",
    epilog="""\b
Examples:
  meterbook rules match list
  meterbook rules match export > rules.csv
  meterbook rules match import rules.csv
""",
)
def match() -> None:
    """Ranked regular expressions that put costs into workload groups."""


@match.command(
    "list",
    epilog="Example:\n\n  meterbook rules match list --format csv",
)
@format_option
@pass_app
def match_list(app: AppContext, fmt: str) -> None:
    """The match rules in rank order."""
    with app.store().engine.connect() as conn:
        rows = list_match_rules(conn)
    columns = ["ruleid", "rank", "groupname", "textmatch", "provider", "field", "scalefactor",
               "scaleunit"]  # fmt: skip
    if fmt == "json":
        print_json(rows)
    elif fmt == "csv":
        print_csv(columns, [[r[c] for c in columns] for r in rows])
    else:
        print_table(columns, [[r[c] for c in columns] for r in rows], title="Match rules",
                    numeric_from=len(columns))  # fmt: skip
        if not rows:
            click.echo("no match rules: every cost is in the group 'Other'")


@match.command(
    "import",
    epilog="Example:\n\n  meterbook rules match import rules.csv",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def match_import(app: AppContext, file: Path) -> None:
    """Replace the match rules with a CSV of `ruleid,rank,groupname,textmatch,prvid,
    scalefactor,scaleunit` (and optionally `field`: metric, service or sku), then
    attribute every line again."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{file}: cannot read: {exc.strerror}") from exc
    with app.store().engine.begin() as conn:
        parsed = read_match_rules(conn, text, str(file))
        moved = replace_match_rules(conn, parsed)
    click.echo(f"{len(parsed)} match rules imported; {moved:,} lines changed workload group")


@match.command(
    "export",
    epilog="Example:\n\n  meterbook rules match export rules.csv",
)
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def match_export(app: AppContext, file: Path | None) -> None:
    """Write the match rules as CSV (to FILE or standard output)."""
    with app.store().engine.connect() as conn:
        text = write_match_rules(conn)
    if file is None:
        sys.stdout.write(text)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(f"wrote {file}")


@rules.group(
    "charges",
    epilog="""\b
Examples:
  meterbook rules charges list
  meterbook rules charges add platform-overhead --kind overhead --percent 8
  meterbook rules charges remove platform-overhead
""",
)
def charges() -> None:
    """Percentage rules deriving lines from provider charges."""


@charges.command(
    "list",
    epilog="Example:\n\n  meterbook rules charges list --format json",
)
@format_option
@pass_app
def charges_list(app: AppContext, fmt: str) -> None:
    """The charge rules."""
    with app.store().engine.connect() as conn:
        rows = list_charge_rules(conn)
    columns = ["name", "kind", "percent", "provider", "service_match", "group",
               "charge_category", "valid_from", "valid_to"]  # fmt: skip
    if fmt == "json":
        print_json(rows)
    elif fmt == "csv":
        print_csv(columns, [[r[c] for c in columns] for r in rows])
    else:
        print_table(columns, [[r[c] for c in columns] for r in rows], title="Charge rules",
                    numeric_from=len(columns))  # fmt: skip
        if not rows:
            click.echo("no charge rules")


@charges.command(
    "add",
    epilog="""\b
Examples:
  meterbook rules charges add platform-overhead --kind overhead --percent 8
  meterbook rules charges add edp --kind discount --percent 5 --provider AWS --from 2024-01-01
  meterbook rules charges add gpu-markup --kind markup --percent 12 --group "GCE VMs"
""",
)
@click.argument("name")
@click.option("--kind", type=click.Choice(["overhead", "markup", "discount"]), required=True)
@click.option("--percent", required=True, help="Percentage of the matching charges.")
@click.option("--provider", metavar="NAME", help="Only this provider's charges.")
@click.option("--service", "service_match", metavar="REGEX", help="Only services matching.")
@click.option("--group", metavar="NAME", help="Only this workload group.")
@click.option("--category", metavar="CATEGORY", help="Only this charge category.")
@click.option("--from", "valid_from", metavar="DATE", help="First day it applies.")
@click.option("--to", "valid_to", metavar="DATE", help="Last day it applies.")
@pass_app
def charges_add(
    app: AppContext,
    name: str,
    kind: str,
    percent: str,
    provider: str | None,
    service_match: str | None,
    group: str | None,
    category: str | None,
    valid_from: str | None,
    valid_to: str | None,
) -> None:
    """Add a rule: overhead and markup add an Adjustment line, discount a Credit line, each
    naming the rule (see `meterbook spend --by rule`). Tax lines are never marked up."""
    first: date | None = parse_date(valid_from, "--from") if valid_from else None
    last: date | None = parse_date(valid_to, "--to") if valid_to else None
    with app.store().engine.begin() as conn:
        add_charge_rule(conn, name, kind, percent, provider=provider,
                        service_match=service_match, group=group, charge_category=category,
                        valid_from=first, valid_to=last)  # fmt: skip
    click.echo(f"added charge rule {name!r}; spend rollup rebuilt")


@charges.command(
    "remove",
    epilog="Example:\n\n  meterbook rules charges remove platform-overhead",
)
@click.argument("name")
@pass_app
def charges_remove(app: AppContext, name: str) -> None:
    """Remove a charge rule (its derived lines go with it)."""
    with app.store().engine.begin() as conn:
        remove_charge_rule(conn, name)
    click.echo(f"removed charge rule {name!r}; spend rollup rebuilt")


COMMANDS = (spend, rules)
