"""``meterbook import ...`` and ``meterbook imports``: loading data and what became of it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from meterbook.cli.context import AppContext, pass_app, stacked
from meterbook.cli.lazy import LazyGroup
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.connectors.base import Connector
from meterbook.errors import ConfigError, InputError
from meterbook.importing import ImportResult, run_import
from meterbook.importing import Progress as ProgressFn
from meterbook.periods import zone_for
from meterbook.store.queries.imports import count_rejects, list_rejects, list_runs

#: The options every importer takes.
common = stacked(
    click.option(
        "--strict", is_flag=True, help="Fail on the first rejected line; nothing is committed."
    ),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    click.option(
        "--batch-size",
        type=click.IntRange(100, 200_000),
        metavar="N",
        help="Records per transaction (default from the configuration).",
    ),
)


@click.group(
    "import",
    cls=LazyGroup,
    lazy={"iolog": "iolog", "billing": "spend"},  # the others are defined below
    epilog="""\b
Examples:
  meterbook import slurm sacct-2017-01.log
  meterbook import swf NASA-iPSC-1993-3.1-cln.swf.gz
""",
)
def import_() -> None:
    """Import usage from files (see `meterbook import slurm --help`)."""
    from meterbook.pipeline import forgo_pandas

    forgo_pandas()  # 47 MB less memory: an import never uses pandas


@import_.command(
    epilog="""\b
Examples:
  meterbook import slurm /var/log/xdmod/sacct-2017-01-*.log
  TZ=UTC sacct -aXP --format ALL -S 2017-01-01 | meterbook import slurm - --cluster phillips
  meterbook import slurm sacct-local.txt --timezone Europe/Berlin --strict
"""
)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option(
    "--cluster",
    metavar="NAME",
    help="Record the jobs under this cluster (default: the Cluster column).",
)
@click.option(
    "--timezone",
    "tz",
    metavar="TZ",
    help="Zone of the timestamps (default [import] timezone, UTC).",
)
@common
@pass_app
def slurm(
    app: AppContext,
    files: tuple[str, ...],
    cluster: str | None,
    tz: str | None,
    strict: bool,
    as_json: bool,
    batch_size: int | None,
) -> None:
    """Import Slurm accounting: Open XDMoD's 26-field layout or `sacct --parsable2`.

    FILE may be `-` (stdin) or end in .gz. Job steps are skipped (their job line carries the
    allocation); requeued jobs keep each run. Importing the same data again changes nothing.
    """
    settings = app.settings()
    try:
        zone = zone_for(tz or settings.import_timezone)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"--timezone: unknown time zone {tz!r}") from exc
    from meterbook.connectors.slurm import SlurmConnector  # loads pandas: only when needed

    connector = SlurmConnector(list(files), zone=zone, cluster=cluster)
    report_import(app, connector, strict, as_json, batch_size)


@import_.command(
    epilog="""\b
Examples:
  meterbook import swf NASA-iPSC-1993-3.1-cln.swf.gz
  meterbook import swf trace.swf --trace ctc-sp2 --cluster ctc --prefix ctc-
"""
)
@click.argument("files", nargs=-1, required=True, metavar="FILE[.gz]...")
@click.option("--trace", metavar="NAME", help="Name of the trace (default: the file name).")
@click.option(
    "--cluster",
    metavar="NAME",
    help="Resource name (default: the Computer header, else the trace).",
)
@click.option(
    "--prefix",
    default="",
    metavar="TEXT",
    help="Prefix for user (u<id>) and group (g<id>) names, to keep traces apart.",
)
@common
@pass_app
def swf(
    app: AppContext,
    files: tuple[str, ...],
    trace: str | None,
    cluster: str | None,
    prefix: str,
    strict: bool,
    as_json: bool,
    batch_size: int | None,
) -> None:
    """Import Standard Workload Format traces (Parallel Workloads Archive).

    Times are UnixStartTime + submit (+ wait); users and groups are numbered in the trace.
    """
    from meterbook.connectors.swf import SwfConnector

    connector = SwfConnector(list(files), trace=trace, cluster=cluster, prefix=prefix)
    report_import(app, connector, strict, as_json, batch_size)


@contextmanager
def _progress(show: bool) -> Iterator[ProgressFn | None]:
    if not show:
        yield None
        return
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[items]:>12,} items  {task.fields[rate]:>8,.0f}/s"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=None, items=0, rate=0.0)

        def update(items: int, done: int, total: int | None) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, total=total, items=items, rate=items / elapsed)

        yield update


def report_import(
    app: AppContext, connector: Connector, strict: bool, as_json: bool, batch_size: int | None
) -> None:
    """Run an import and print its result (one line, or JSON); fail when all was rejected."""
    store = app.store()
    size = batch_size or app.settings().batch_size
    show = sys.stdout.isatty() and not as_json and not connector.follow
    with _progress(show) as progress:
        result = run_import(store, connector, batch_size=size, strict=strict, progress=progress)
    if as_json:
        print_json(_as_dict(result))
    else:
        _print_result(store.label, result)
    if result.rejected and not result.records:
        raise InputError(
            f"every line was rejected ({result.rejected:,}): is this the right format? "
            f"See `meterbook imports rejects {result.run_id}`"
        )


def _as_dict(result: ImportResult) -> dict[str, object]:
    return {
        "run": result.run_id,
        "kind": result.kind,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "skipped": result.skipped,
        "seconds": round(result.seconds, 3),
        "first_rejects": [
            {"file": r.file, "line": r.line, "reason": r.reason} for r in result.first_rejects
        ],
    }


def _print_result(label: str, result: ImportResult) -> None:
    rate = result.records / result.seconds if result.seconds else 0.0
    click.echo(
        f"{result.kind} import, run {result.run_id}, into {label}: {result.summary()} "
        f"({result.seconds:.1f} s, {rate:,.0f} {result.unit}/s)"
    )
    for r in result.first_rejects:
        click.echo(f"  rejected {r.file}: line {r.line}: {r.reason}")
    if result.rejected:
        click.echo(f"  all rejects: meterbook imports rejects {result.run_id}")


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  meterbook imports
  meterbook imports --limit 5 --format json
  meterbook imports rejects 12
""",
)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@format_option
@click.pass_context
def imports(ctx: click.Context, limit: int, fmt: str) -> None:
    """List import runs, newest first (status, counts, inputs)."""
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.obj
    with app.store().engine.connect() as conn:
        runs = list_runs(conn, limit)
    columns = (
        "run",
        "kind",
        "status",
        "started (UTC)",
        "seconds",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "skipped",
        "inputs",
    )
    rows = [
        (
            r.id,
            r.kind,
            r.status,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.seconds,
            r.inserted,
            r.updated,
            r.unchanged,
            r.rejected,
            r.skipped,
            ", ".join(r.inputs),
        )
        for r in runs
    ]
    if fmt == "json":
        print_json([r.as_dict() for r in runs])
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(columns, rows, title="Import runs", numeric_from=99)


@imports.command(epilog="Example:\n\n  meterbook imports rejects 12 --format csv > rejects.csv")
@click.argument("run", type=int)
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
@format_option
@pass_app
def rejects(app: AppContext, run: int, limit: int, fmt: str) -> None:
    """List the lines run RUN rejected: file, line number, reason, raw text."""
    with app.store().engine.connect() as conn:
        found = list_rejects(conn, run, limit)
        total = count_rejects(conn, run)
    columns = ("file", "line", "reason", "raw")
    rows = [(r.file, r.line, r.reason, r.raw) for r in found]
    if fmt == "json":
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(
            columns,
            [(f, n, why, raw[:60]) for f, n, why, raw in rows],
            title=f"Rejects of run {run}",
            numeric_from=99,
        )
    if total > len(found):
        click.echo(f"showing {len(found):,} of {total:,} rejects: use --limit", err=True)


COMMANDS = (import_, imports)
