"""``meterbook export``: the ledger in standard formats for other tools."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import click

from meterbook.cli.context import AppContext, pass_app
from meterbook.collecting import requested_period
from meterbook.errors import ConfigError
from meterbook.focus_export import FORMATS, Format, export_focus


@click.group(
    epilog="""\b
Examples:
  meterbook export focus --period 2024-09 focus-2024-09.csv
  meterbook export focus --from 2024-01-01 --to 2024-06-30 --format parquet h1.parquet
"""
)
def export() -> None:
    """Write the ledger in standard formats (see `meterbook export focus --help`)."""


@export.command(
    epilog="""\b
Examples:
  meterbook export focus --period 2024-09 focus-2024-09.csv
  meterbook export focus --period 2024-Q3 costs.parquet
  meterbook export focus --from 2024-09-01 --to 2024-09-15 --format parquet half.pq
"""
)
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--period", metavar="P", help="2024, 2024-Q3, 2024-09 or 2024-09-05.")
@click.option("--from", "start", metavar="DATE", help="First day (with --to).")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="File format (default: parquet for *.parquet and *.pq, else csv).",
)
@pass_app
def focus(
    app: AppContext,
    out: Path,
    period: str | None,
    start: str | None,
    end: str | None,
    fmt: str | None,
) -> None:
    """A period's costs as a FOCUS 1.2 dataset (CSV or Parquet).

    Writes OUT, a FOCUS 1.2 Cost and Usage dataset, and its metadata OUT.metadata.json.
    Exported: each billing line whose charge period starts in the period (whole, as
    imported) and each derived charge (tax, charge rules) of a day in the period, one row
    per day. Projects, teams, divisions, workload groups and the deriving rule are in the
    x_ columns. Days are UTC, as in billing files.
    """
    window = requested_period(app.settings(), period=period, start=start, end=end, sprint=None)
    if window is None:
        raise ConfigError("give the period: --period P, or --from DATE --to DATE")
    if fmt is None:
        fmt = "parquet" if out.suffix.lower() in (".parquet", ".pq") else "csv"
    chosen: Format = "parquet" if fmt == "parquet" else "csv"
    with app.store().engine.connect() as conn:
        result = export_focus(conn, window.start, window.end, out, chosen)
    currencies = ", ".join(result.currencies) or "no currency"
    click.echo(
        f"wrote {result.rows:,} rows, BilledCost total {_amount(result.billed_cost)} "
        f"({currencies}) to {result.path} (+ {result.metadata_path.name})"
    )


def _amount(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


COMMANDS = (export,)
