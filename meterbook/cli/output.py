"""Printing results: tables for people, CSV and JSON for programs."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "csv", "json")
format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)


def console() -> Console:
    """A console for tables: on a pipe or file, as wide as the table needs (never cut)."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=1000, color_system=None)


def number(value: Any, decimals: int = 2) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{decimals}f}"
    return str(value)


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    footer: Sequence[Any] | None = None,
    numeric_from: int = 0,
    numeric_to: int | None = None,
) -> None:
    """A table; columns from ``numeric_from`` on (up to ``numeric_to``, exclusive) are
    right-aligned numbers."""
    table = Table(title=title, show_footer=footer is not None, title_justify="left")
    cells = [[number(v) for v in row] for row in rows]
    feet = ["" if footer is None else number(v) for v in (footer or [""] * len(columns))]
    for i, name in enumerate(columns):
        numeric = i >= numeric_from and (numeric_to is None or i < numeric_to)
        widest = max((len(c[i]) for c in [*cells, feet]), default=0)
        # Numbers are never cut: headings wrap instead.
        table.add_column(
            name,
            justify="right" if numeric else "left",
            footer=feet[i],
            min_width=widest if numeric else None,
            no_wrap=numeric,
        )
    for row in cells:
        table.add_row(*row)
    console().print(table)


def print_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])


def _plain(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str, title: str) -> None:
    """Rows as a table (no column taken as a number), CSV, or JSON objects keyed by column."""
    if fmt == "json":
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(columns, rows, title=title, numeric_from=len(columns))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def rounded(data: Any) -> Any:
    """Floats rounded to 4 decimals, recursively (the precision of reference figures)."""
    if isinstance(data, float):
        return round(data, 4)
    if isinstance(data, dict):
        return {k: rounded(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [rounded(v) for v in data]
    return data
