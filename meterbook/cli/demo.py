"""``meterbook demo``: a ready-made ledger from generated sample data, in one command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from meterbook.cli.context import AppContext
from meterbook.cli.output import print_table
from meterbook.connectors.iolog import IoLogConnector
from meterbook.connectors.slurm import SlurmConnector
from meterbook.importing import run_import
from meterbook.periods import Period, parse_period, zone_for
from meterbook.samples import iolog as iolog_sample
from meterbook.samples import slurm as sample
from meterbook.settings import CONFIG_NAME, load_settings, render_config
from meterbook.store.core import upgrade_store
from meterbook.store.queries import io as io_queries
from meterbook.store.queries.usage import UsageRow, usage_summary

IO_START = datetime(2026, 10, 1, tzinfo=UTC)
IO_HOURS = 31 * 24
DEMO_PERIOD = Period(sample.DEMO_START.date(), sample.DEMO_END.date(), "2026-08..2026-10")


@click.command(
    epilog="""\b
Examples:
  meterbook demo
  meterbook demo --dir ~/ledger-demo --jobs 100000
  cd meterbook-demo && meterbook usage --period 2026-09 --by user --top 5
"""
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("meterbook-demo"),
    show_default=True,
    help="Folder for the demo's configuration, database and data.",
)
@click.option(
    "--jobs",
    type=click.IntRange(100, 5_000_000),
    default=50_000,
    show_default=True,
    help="Jobs in the generated Slurm sample.",
)
@click.pass_obj
def demo(app: AppContext, folder: Path, jobs: int) -> None:
    """Generate realistic Slurm accounting and NFS IO logs, import them into SQLite, show usage.

    The demo keeps its configuration, database and data in --dir (--db and --config do not
    apply). Running it again re-imports the same file: every record is then `unchanged`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / CONFIG_NAME
    if not config.exists():
        defaults = load_settings(None, discover=False)
        config.write_text(render_config(defaults, "sqlite:///meterbook.db"), encoding="utf-8")
    data = folder / "data" / f"aurora-sacct-{jobs}.log"
    if not data.exists():
        data.parent.mkdir(exist_ok=True)
        tmp = data.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            sample.write(out, jobs)
        tmp.replace(data)
        click.echo(f"generated {data} ({jobs:,} jobs of cluster aurora, Aug-Oct 2026)")
    logs = folder / "data" / "nfs"
    if not (logs / ".complete").exists():
        iolog_sample.write_files(logs, IO_HOURS, start=IO_START, users=60, machines=12)
        (logs / ".complete").write_text("")
        click.echo(f"generated {logs}/ (hourly NFS IO logs of October 2026, 60 users)")
    settings = load_settings(config, discover=False)
    store, _, _ = upgrade_store(settings)
    try:
        connector = SlurmConnector([str(data)], zone=zone_for("UTC"))
        result = run_import(store, connector, batch_size=settings.batch_size)
        click.echo(f"imported into {store.label}: {result.summary()} ({result.seconds:.1f} s)")
        with store.engine.connect() as conn:
            known = io_queries.file_states(conn)
        io_result = run_import(store, IoLogConnector([str(logs)], known=known, settle=0))
        click.echo(f"imported IO logs: {io_result.summary()} ({io_result.seconds:.1f} s)")
        with store.engine.connect() as conn:
            report = usage_summary(conn, DEMO_PERIOD, ("month",))
            accounts = usage_summary(
                conn, Period(DEMO_PERIOD.start, DEMO_PERIOD.end, ""), ("account",), top=8
            )
            scope = io_queries.IoScope(parse_period("2026-10"), store.zone)
            io_stats = io_queries.io_stats(conn, scope)
            io_users = io_queries.io_users(conn, scope, 5)
    finally:
        store.engine.dispose()
    _table("month", "Cluster aurora, usage by month", report.rows, report.total)
    _table("account", "Top accounts, Aug-Oct 2026", accounts.rows, None)
    print_table(
        ("blocks", "users", "machines", "sessions", "read ops", "write ops", "GiB read",
         "GiB written"),
        [(io_stats.blocks, io_stats.users, io_stats.machines, io_stats.sessions,
          io_stats.read_ops, io_stats.write_ops, io_stats.read_bytes / 2**30,
          io_stats.write_bytes / 2**30)],
        title="NFS IO, October 2026", numeric_from=0,
    )  # fmt: skip
    print_table(
        ("user", "role", "sessions", "machines", "read ops", "write ops"),
        [(u.user, u.role, u.sessions, u.machines, u.read_ops, u.write_ops) for u in io_users],
        title="Most active IO users, October 2026", numeric_from=2,
    )  # fmt: skip
    click.echo(
        f"\nNext (with Meterbook on your PATH, e.g. after `. .venv/bin/activate`):\n"
        f"  cd {folder} && meterbook usage --period 2026-09 --by user --top 10\n"
        f"  cd {folder} && meterbook io users --period 2026-10 --top 10"
    )


def _table(name: str, title: str, rows: list[UsageRow], total: UsageRow | None) -> None:
    def cells(r: UsageRow) -> tuple[object, ...]:
        return (r.cpu_hours, r.gpu_hours, r.node_hours, r.jobs_started, r.avg_wait_hours)

    print_table(
        (name, "CPU h", "GPU h", "node h", "jobs started", "avg wait h"),
        [(r.group[0], *cells(r)) for r in rows],
        title=title,
        numeric_from=1,
        footer=None if total is None else ("total", *cells(total)),
    )


COMMANDS = (demo,)
