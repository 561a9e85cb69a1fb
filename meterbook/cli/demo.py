"""``meterbook demo``: a ready-made ledger from generated sample data, in one command."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import click
from sqlalchemy import Connection

from meterbook import org
from meterbook.cli import demo_extras as extras
from meterbook.cli.context import AppContext
from meterbook.cli.forecast import print_forecast_table
from meterbook.cli.output import print_table
from meterbook.collecting import collect, sprint_calendar
from meterbook.connectors.billing.connector import BillingReader
from meterbook.connectors.iolog import IoLogConnector
from meterbook.connectors.slurm import SlurmConnector
from meterbook.forecast import SeriesForecast, forecast
from meterbook.importing import run_import
from meterbook.periods import Period, day_start, parse_period, zone_for
from meterbook.reports import produce
from meterbook.samples import billing as billing_sample
from meterbook.samples import cml_server as cml_sample
from meterbook.samples import cms_server as cms_sample
from meterbook.samples import direct_to_loopback
from meterbook.samples import iolog as iolog_sample
from meterbook.samples import slurm as sample
from meterbook.settings import CONFIG_NAME, Settings, load_settings, render_config
from meterbook.sources import AlibabaSource, CmlSource, Instance
from meterbook.spend import (
    BillingResult,
    import_billing,
    list_match_rules,
    read_match_rules,
    replace_match_rules,
)
from meterbook.store.core import Store, open_store, upgrade_store
from meterbook.store.queries import io as io_queries
from meterbook.store.queries.charges import charges_summary
from meterbook.store.queries.metrics import MetricScope, MetricSummary, metric_summary
from meterbook.store.queries.rates import add_rate, make_spec
from meterbook.store.queries.spend import (
    UNALLOCATED,
    SpendReport,
    SpendRow,
    UnallocatedRow,
    spend_summary,
    unallocated,
)
from meterbook.store.queries.usage import UsageRow, usage_summary
from meterbook.store.queries.workloads import WorkloadSummary, workload_summary

IO_START = datetime(2026, 10, 1, tzinfo=UTC)
IO_HOURS = 31 * 24
DEMO_PERIOD = Period(sample.DEMO_START.date(), sample.DEMO_END.date(), "2026-08..2026-10")
#: The demo's sprint: 2026-10-08 .. 2026-10-21 with the default [periods] settings.
DEMO_SPRINT = 58
ML_SOURCE, CLOUD_SOURCE = "ml-demo", "ali-demo"

#: The billing files: one FOCUS file a month, each with this many lines.
BILLING_MONTHS = (date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1))
BILLING_LINES = 20_000
#: The monthly reports the demo writes (the data's last month) and their formats.
REPORT_MONTH = "2026-10"
REPORT_TYPES = ("usage", "io", "spend", "utilisation", "trends", "chargeback")
REPORT_FORMATS = ("html", "pdf", "xlsx", "csv", "json")
#: The month the spend tables by team and the unallocated sub-accounts are of.
SPEND_MONTH = "2026-10"
#: Months forecast after the last one of the billing files.
FORECAST_MONTHS = 1
#: Divisions and their teams; projects go to the teams in turn.
DIVISIONS = {
    "Research": ("genomics", "climate", "ml-research"),
    "Engineering": ("platform", "web"),
    "Shared services": ("it-ops",),
}
#: The billing files' providers; one has a tax rate: Meterbook adds that tax to its charges.
TAX_PROVIDER, TAX_RATE = "Microsoft", "8.1"
PROVIDERS = {
    "AWS": "Amazon Web Services, FOCUS export",
    "Microsoft": f"Azure, FOCUS export; {TAX_RATE} % VAT is due on its charges",
    "Oracle": "Oracle Cloud, FOCUS export",
}
#: Every tenth sub-account of each provider (the 4th, 14th, ...) has no project on purpose:
#: its costs stay Unallocated, as those of new accounts do until someone claims them.
UNCLAIMED_EVERY, UNCLAIMED_AT = 10, 3
TOP_GROUPS = 10
#: The rule of lines from the files (`--by rule`); derived lines name theirs (`tax`...).
NO_RULE = "-"
#: Workload groups, in the CSV of `meterbook rules match import`.
MATCH_RULES = """\
ruleid,rank,groupname,textmatch,prvid,field
1,10,Data transfer,(?i)data transfer|outbound,,metric
2,20,Machine learning,SageMaker|Machine Learning,,service
3,30,Kubernetes and containers,Kubernetes|KUBERNETES|Container Service,,service
4,35,Storage,(?i)GB-mo,,metric
5,40,Compute,Compute Cloud|Virtual Machines|Lambda|Functions|App Service,,service
6,41,Compute,^COMPUTE$,Oracle,service
7,50,Databases,Database|DATABASE|DynamoDB|Cosmos|SQL|ElastiCache,,service
8,60,Storage,Storage|STORAGE|File System,,service
9,70,Networking,(?i)load.?balanc|CloudFront|Route 53|Private Cloud|Bandwidth|^NETWORK$,,service
10,80,Monitoring,CloudWatch|CloudTrail|Monitor|LOGGING,,service
"""


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
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="End by serving the dashboard on the demo ledger (until Ctrl-C).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True,
              help="Port of the dashboard.")  # fmt: skip
@click.pass_obj
def demo(app: AppContext, folder: Path, jobs: int, serve: bool, port: int) -> None:
    """Generate realistic Slurm accounting, NFS IO logs and cloud billing files (FOCUS),
    import them into SQLite, collect from a local ML workbench and CloudMonitor endpoint, and
    show what the ledger knows: usage, IO, utilisation and spend by provider, team and
    workload group.

    The demo keeps its configuration, database and data in --dir (--db and --config do not
    apply). Running it again re-imports the same files: every record is then `unchanged`.
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
    bills = folder / "data" / "billing"
    if not (bills / ".complete").exists():
        billing_sample.write_files(bills, BILLING_MONTHS, BILLING_LINES)
        (bills / ".complete").write_text("")
        click.echo(f"generated {bills}/ (FOCUS billing files of AWS, Microsoft and Oracle, "
                   f"Aug-Oct 2026, {BILLING_LINES:,} lines a month)")  # fmt: skip
    settings = load_settings(config, discover=False)
    store, _, _ = upgrade_store(settings)
    try:
        _demo_rates(store)
        connector = SlurmConnector([str(data)], zone=zone_for("UTC"))
        result = run_import(store, connector, batch_size=settings.batch_size)
        click.echo(f"imported into {store.label}: {result.summary()} ({result.seconds:.1f} s)")
        with store.engine.connect() as conn:
            known = io_queries.file_states(conn)
        io_result = run_import(store, IoLogConnector([str(logs)], known=known, settle=0))
        click.echo(f"imported IO logs: {io_result.summary()} ({io_result.seconds:.1f} s)")
        ml, cloud = _collect_from_local_servers(store, settings)
        spend = _spend(store, bills)
        _finance(store)
        with store.engine.connect() as conn:
            report = usage_summary(conn, DEMO_PERIOD, ("month",))
            accounts = usage_summary(
                conn, Period(DEMO_PERIOD.start, DEMO_PERIOD.end, ""), ("account",), top=8
            )
            scope = io_queries.IoScope(parse_period("2026-10"), store.zone)
            io_stats = io_queries.io_stats(conn, scope)
            io_users = io_queries.io_users(conn, scope, 5)
            charged = charges_summary(conn, DEMO_PERIOD, ("month", "quantity"))
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
    print_table(
        ("month", "quantity", "units", "amount", "currency"),
        [(r.group[0], r.group[1], float(r.units), _money(r.amount), r.currency)
         for r in charged.rows],
        title="Charges of cluster aurora (demo rate card), by month", numeric_from=2,
        numeric_to=4,
    )  # fmt: skip
    _spend_tables(spend)
    store = open_store(settings)
    try:
        extras.evaluate_alerts(store, settings)
    finally:
        store.engine.dispose()
    _reports(folder, settings)
    click.echo(
        f"\nNext (with Meterbook on your PATH, e.g. after `. .venv/bin/activate`):\n"
        f"  cd {folder} && meterbook usage --period 2026-09 --by user --top 10\n"
        f"  cd {folder} && meterbook io users --period 2026-10 --top 10\n"
        f"  cd {folder} && meterbook workloads --source {ML_SOURCE} --period 2026-10 --by user\n"
        f"  cd {folder} && meterbook metrics summary --sprint {DEMO_SPRINT} --by group\n"
        f"  cd {folder} && meterbook spend --period {SPEND_MONTH} --by team --by group\n"
        f"  cd {folder} && meterbook spend unallocated --period {SPEND_MONTH}\n"
        f"  cd {folder} && meterbook spend --from 2026-08-01 --to 2026-10-31 --by month --by rule\n"
        f"  cd {folder} && meterbook report spend --period {REPORT_MONTH} --format pdf,xlsx\n"
        f"  cd {folder} && meterbook forecast --by team --months 2\n"
        f"  cd {folder} && meterbook anomalies --period {SPEND_MONTH} --min-severity medium\n"
        f"  cd {folder} && meterbook charges --period 2026-09 --by account\n"
        f"  cd {folder} && meterbook rates list"
    )
    store = open_store(settings)
    login = extras.web_accounts(store)
    if not serve:
        click.echo(f"dashboard: `cd {folder} && meterbook serve`, sign in as {login.login} / "
                   f"{login.password}")  # fmt: skip
        store.engine.dispose()
        return
    try:
        extras.serve(settings, login, port)
    finally:
        store.engine.dispose()


def _finance(store: Store) -> None:
    """Teams of the cluster accounts, budgets and an allocation (what is not there yet)."""
    accounts = extras.attribute_accounts(store)
    added = extras.set_budgets(store)
    allocation = extras.set_allocation(store)
    if accounts or added or allocation:
        click.echo(f"finance: {accounts} cluster accounts given teams, {added} budgets"
                   + (f", allocation {extras.ALLOCATION}" if allocation else ""))  # fmt: skip
    else:
        click.echo("finance: account teams, budgets and the allocation already there, kept")


def _reports(folder: Path, settings: Settings) -> None:
    """Write the monthly reports of the demo data's last month and print where they are."""
    base = folder / "reports"
    period = parse_period(REPORT_MONTH)
    store = open_store(settings)
    try:
        click.echo(f"\nMonthly reports of {REPORT_MONTH} ({', '.join(REPORT_FORMATS)}):")
        for name in REPORT_TYPES:
            made, where = produce(store, settings, name, period, REPORT_FORMATS, base=base)
            click.echo(f"  {made.title}: {where}/ ({len(made.files)} files)")
    finally:
        store.engine.dispose()
    click.echo(f"open {base / 'usage' / REPORT_MONTH / f'usage-{REPORT_MONTH}.html'} in a browser")


#: The demo's rate card for cluster aurora: (quantity, GPU model, price in EUR).
DEMO_RATES = (
    ("cpu_hours", "", "0.02"),
    ("gpu_hours", "", "0.90"),
    ("mem_gb_hours", "", "0.002"),
)


def _demo_rates(store: Store) -> None:
    """The demo rate card (kept when there), so that the Slurm records are charged."""
    with store.engine.begin() as conn:
        for quantity, model, price in DEMO_RATES:
            scope = {"cluster": "aurora", "gpu_model": model}
            add_rate(conn, make_spec(quantity, price, "EUR", "2026-01-01", dict(scope)))


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


@dataclass
class _Spend:
    """What the billing part found, for its tables."""

    by_month: SpendReport  # by month, provider and rule
    by_team: SpendReport
    groups: SpendReport
    unclaimed: list[UnallocatedRow]
    forecast: list[SeriesForecast]


def _spend(store: Store, bills: Path) -> _Spend:
    """Set up the org model and the match rules (what is not there yet), import the billing
    files of ``bills`` and query the spend."""
    with store.engine.begin() as conn:
        added = _org_model(conn)
        rules = 0
        if not list_match_rules(conn):
            parsed = read_match_rules(conn, MATCH_RULES, "the demo's match rules")
            replace_match_rules(conn, parsed)
            rules = len(parsed)
    if added or rules:
        what = [f"{n} {kind}" for kind, n in added.items()]
        if added["providers"]:
            what[-2 if added["projects"] else -1] += f" ({TAX_PROVIDER}: tax rate {TAX_RATE} %)"
        what += [f"{rules} match rules"] if rules else []
        click.echo(f"org model: added {', '.join(what)}")
    else:
        click.echo("org model and match rules: already there, kept")
    result = import_billing(store, BillingReader("focus"), [str(bills)])
    click.echo(_billing_line(result))
    month = parse_period(SPEND_MONTH)
    projected = forecast(store.engine, by="provider", months=FORECAST_MONTHS)
    with store.engine.connect() as conn:
        return _Spend(
            spend_summary(conn, DEMO_PERIOD, ("month", "provider", "rule")),
            spend_summary(conn, month, ("division", "team")),
            spend_summary(conn, DEMO_PERIOD, ("group",)),
            unallocated(conn, month),
            projected,
        )


def _org_model(conn: Connection) -> Counter[str]:
    """Add the demo's divisions, teams, providers and projects that do not exist yet (by
    name); returns how many of each kind were added."""
    present = {
        kind: {e.name for e in org.list_entries(conn, kind, archived=True)}
        for kind in ("divisions", "teams", "providers", "projects")
    }
    added: Counter[str] = Counter()

    def ensure(kind: str, name: str, /, **values: object) -> None:
        if name not in present[kind]:
            org.add(conn, kind, name, **values)
            added[kind] += 1

    for division, teams in DIVISIONS.items():
        ensure("divisions", division)
        for team in teams:
            ensure("teams", team, division=division)
    for provider, description in PROVIDERS.items():
        rate = TAX_RATE if provider == TAX_PROVIDER else None
        ensure("providers", provider, kind="cloud", currency="USD", tax_rate=rate,
               description=description)  # fmt: skip
    in_turn = [team for teams in DIVISIONS.values() for team in teams]
    for index, (name, account) in enumerate(_claimed_accounts()):
        ensure("projects", name, external_id=account.id, provider=account.provider,
               team=in_turn[index % len(in_turn)],
               description=f"{account.provider} sub-account {account.name!r}")  # fmt: skip
    return added


def _claimed_accounts() -> list[tuple[str, billing_sample.Account]]:
    """The sub-accounts of the billing files that have a project, with the project's name
    (the sub-account's name in lower case, numbered when taken)."""
    seen: Counter[str] = Counter()
    claimed = []
    per_provider: Counter[str] = Counter()
    for account in billing_sample.sub_accounts():
        index = per_provider[account.provider]
        per_provider[account.provider] += 1
        if index % UNCLAIMED_EVERY == UNCLAIMED_AT:
            continue
        base = re.sub(r"[^a-z0-9]+", "-", account.name.lower()).strip("-")
        seen[base] += 1
        claimed.append((base if seen[base] == 1 else f"{base}-{seen[base]}", account))
    return claimed


def _billing_line(result: BillingResult) -> str:
    line = (f"imported billing files: {len(result.files)} read, {result.summary()} "
            f"({result.seconds:.1f} s)")  # fmt: skip
    if result.unallocated:
        line += (f"\n  {result.unallocated:,} new lines of sub-accounts that no project claims "
                 "(Unallocated)")  # fmt: skip
    return line


@dataclass
class _MonthCells:
    """A month's spend with one provider: billed by the files' lines and by the lines Meterbook
    derived (tax), and the effective cost of both."""

    files: Decimal = Decimal(0)
    derived: Decimal = Decimal(0)
    effective: Decimal = Decimal(0)

    def add(self, rule: str, row: SpendRow) -> None:
        if rule == NO_RULE:
            self.files += row.billed_cost
        else:
            self.derived += row.billed_cost
        self.effective += row.effective_cost

    def merge(self, other: _MonthCells) -> None:
        self.files += other.files
        self.derived += other.derived
        self.effective += other.effective


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _share(value: Decimal, total: Decimal) -> str:
    return f"{100 * value / total:.1f}" if total else ""


def _spend_tables(spend: _Spend) -> None:
    # By month and provider: the files' own lines, and what Meterbook derived (the tax).
    cells: dict[tuple[str, str], _MonthCells] = {}
    for r in spend.by_month.rows:
        month, provider, rule = r.group
        cells.setdefault((month, provider), _MonthCells()).add(rule, r)
    totals = _MonthCells()
    for row in cells.values():
        totals.merge(row)

    def values(row: _MonthCells) -> tuple[object, ...]:
        return (_money(row.files), _money(row.derived), _money(row.files + row.derived),
                _money(row.effective))  # fmt: skip

    currency = ", ".join(spend.by_month.currencies) or "-"
    print_table(
        ("month", "provider", "billed (files)", "tax added", "total billed", "effective"),
        [(month, provider, *values(row)) for (month, provider), row in sorted(cells.items())],
        title=f"Spend by month and provider, Aug-Oct 2026 ({currency})", numeric_from=2,
        footer=("total", "", *values(totals)),
    )  # fmt: skip
    click.echo(f"tax added: {TAX_PROVIDER}'s tax rate ({TAX_RATE} %) on its charges, derived "
               "by Meterbook;\n"
               "  the tax lines of the files themselves are in billed (files)")  # fmt: skip
    team = spend.by_team
    print_table(
        ("division", "team", "lines", "total billed", "effective", "share %"),
        [(*r.group, r.lines, _money(r.billed_cost), _money(r.effective_cost),
          _share(r.billed_cost, team.total.billed_cost)) for r in team.rows],
        title=f"Spend by division and team, {SPEND_MONTH}", numeric_from=2,
        footer=("total", "", team.total.lines, _money(team.total.billed_cost),
                _money(team.total.effective_cost), ""),
    )  # fmt: skip
    click.echo(f"{UNALLOCATED}: costs of sub-accounts that no project claims")
    groups = spend.groups
    print_table(
        ("workload group", "lines", "total billed", "effective", "share %"),
        [(r.group[0], r.lines, _money(r.billed_cost), _money(r.effective_cost),
          _share(r.billed_cost, groups.total.billed_cost)) for r in groups.rows[:TOP_GROUPS]],
        title="Top workload groups (match rules), Aug-Oct 2026", numeric_from=1,
        footer=("all groups", groups.total.lines, _money(groups.total.billed_cost),
                _money(groups.total.effective_cost), ""),
    )  # fmt: skip
    print_table(
        ("provider", "sub-account", "name", "lines", "billed"),
        [(r.provider, r.project_ext, r.sub_account_name, r.lines, _money(r.billed_cost))
         for r in spend.unclaimed],
        title=f"Unallocated sub-accounts, {SPEND_MONTH}", numeric_from=3,
    )  # fmt: skip
    click.echo("claim one: meterbook org projects add NAME --external-id ID --provider P --team T")
    print_forecast_table("cost", spend.forecast, by="provider", title="Spend forecast by provider")
    click.echo("method: per provider, the one with the lowest error on a backtest of its days")


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
