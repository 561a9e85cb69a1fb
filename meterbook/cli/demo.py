"""``meterbook demo``: a ready-made ledger from generated sample data, in one command."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from meterbook.cli.context import AppContext
from meterbook.cli.output import print_table
from meterbook.collecting import collect, sprint_calendar
from meterbook.connectors.iolog import IoLogConnector
from meterbook.connectors.slurm import SlurmConnector
from meterbook.importing import run_import
from meterbook.periods import Period, day_start, parse_period, zone_for
from meterbook.samples import cml_server as cml_sample
from meterbook.samples import cms_server as cms_sample
from meterbook.samples import direct_to_loopback
from meterbook.samples import iolog as iolog_sample
from meterbook.samples import slurm as sample
from meterbook.settings import CONFIG_NAME, Settings, load_settings, render_config
from meterbook.sources import AlibabaSource, CmlSource, Instance
from meterbook.store.core import Store, upgrade_store
from meterbook.store.queries import io as io_queries
from meterbook.store.queries.metrics import MetricScope, MetricSummary, metric_summary
from meterbook.store.queries.usage import UsageRow, usage_summary
from meterbook.store.queries.workloads import WorkloadSummary, workload_summary

IO_START = datetime(2026, 10, 1, tzinfo=UTC)
IO_HOURS = 31 * 24
DEMO_PERIOD = Period(sample.DEMO_START.date(), sample.DEMO_END.date(), "2026-08..2026-10")
#: The demo's sprint: 2026-10-08 .. 2026-10-21 with the default [periods] settings.
DEMO_SPRINT = 58
ML_SOURCE, CLOUD_SOURCE = "ml-demo", "ali-demo"


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
    """Generate realistic Slurm accounting and NFS IO logs, import them into SQLite, collect
    from a local ML workbench and CloudMonitor endpoint, and show what the ledger knows.

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
        ml, cloud = _collect_from_local_servers(store, settings)
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
    print_table(
        ("project", "workloads", "GPU workloads", "users", "CPU h", "GPU h", "mem GiB·h",
         "avg h"),
        [(w.group, w.workloads, w.gpu_workloads, w.users, w.cpu_hours, w.gpu_hours,
          w.mem_gb_hours, w.avg_duration_hours) for w in ml],
        title=f"ML workbench {ML_SOURCE}, October 2026, by project", numeric_from=1,
    )  # fmt: skip
    print_table(
        ("environment", "metric", "samples", "min %", "max %", "avg %", "p95 %", "> 80 %"),
        [(m.environment, m.metric, m.samples, m.minimum, m.maximum, m.average, m.p95,
          m.above) for m in cloud],
        title=f"Cloud utilisation, sprint {DEMO_SPRINT} (2026-10-08..21)", numeric_from=2,
    )  # fmt: skip
    click.echo(
        f"\nNext (with Meterbook on your PATH, e.g. after `. .venv/bin/activate`):\n"
        f"  cd {folder} && meterbook usage --period 2026-09 --by user --top 10\n"
        f"  cd {folder} && meterbook io users --period 2026-10 --top 10\n"
        f"  cd {folder} && meterbook workloads --source {ML_SOURCE} --period 2026-10 --by user\n"
        f"  cd {folder} && meterbook metrics summary --sprint {DEMO_SPRINT} --by group"
    )


def _collect_from_local_servers(
    store: Store, settings: Settings
) -> tuple[list[WorkloadSummary], list[MetricSummary]]:
    """Start a local CML workbench and CloudMonitor endpoint, collect from both with the real
    clients, and summarise what arrived."""
    month = parse_period("2026-10")
    start, end = (day_start(d, UTC) for d in (month.start, month.end))
    sprint = sprint_calendar(settings).sprint(DEMO_SPRINT)
    inventory = cms_sample.sample_inventory()
    cml_records = cml_sample.sample_workloads(400, start, end, seed=7)
    series = cml_sample.sample_series(start, end, step_s=900, seed=7)
    with direct_to_loopback(), \
            cml_sample.CmlServer(cml_records, api_key="demo-key", series=series) as workbench, \
            cms_sample.CmsServer(cms_sample.instance_kinds(inventory),
                                 access_keys={"demo-id": "demo-secret"}) as cms:  # fmt: skip
        sources = {
            ML_SOURCE: CmlSource(name=ML_SOURCE, type="cml", url=workbench.url,
                                 api_key_env="MB_DEMO_CML_KEY"),
            CLOUD_SOURCE: AlibabaSource(
                name=CLOUD_SOURCE, type="alibaba-cms", region="cn-hongkong",
                endpoint=cms.endpoint, protocol="http", period=300,
                inventory={env: {group: [Instance(id=i, name=n) for i, n in members.items()]
                                 for group, members in groups.items()}
                           for env, groups in inventory.items()},
            ),
        }  # fmt: skip
        demo_settings = settings.model_copy(update={"sources": sources})
        env = {"MB_DEMO_CML_KEY": "demo-key", "ALIBABA_CLOUD_ACCESS_KEY_ID": "demo-id",
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "demo-secret"}  # fmt: skip
        for name, period in ((ML_SOURCE, month), (CLOUD_SOURCE, sprint)):
            result = collect(store, demo_settings, name, period=period, env=env)
            click.echo(f"collected {name} (local {result.kind} server): {result.summary()} "
                       f"({result.seconds:.1f} s)")  # fmt: skip
    with store.engine.connect() as conn:
        ml = workload_summary(conn, start.timestamp(), end.timestamp(), "project", (ML_SOURCE,))
        cloud = metric_summary(
            conn,
            day_start(sprint.start, UTC).timestamp(),
            day_start(sprint.end, UTC).timestamp(),
            MetricScope(sources=(CLOUD_SOURCE,)),
            level="environment",
        )
    return ml, cloud


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
