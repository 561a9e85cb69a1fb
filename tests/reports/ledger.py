"""A small ledger with every kind of data the reports read: Slurm jobs, NFS IO logs, FOCUS
billing with the demo's org model and a budget, a CML workbench and CloudMonitor metrics
collected from the local sample servers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select, update

from meterbook.budgets import set_budget
from meterbook.cli import demo
from meterbook.collecting import collect
from meterbook.connectors.iolog import IoLogConnector
from meterbook.connectors.slurm import SlurmConnector
from meterbook.importing import run_import
from meterbook.periods import Period, day_start, zone_for
from meterbook.samples import billing as billing_sample
from meterbook.samples import cml_server as cml_sample
from meterbook.samples import cms_server as cms_sample
from meterbook.samples import direct_to_loopback
from meterbook.samples import iolog as iolog_sample
from meterbook.samples import slurm as slurm_sample
from meterbook.settings import Settings
from meterbook.sources import AlibabaSource, CmlSource, Instance
from meterbook.store.core import Store
from meterbook.store.queries import io as io_queries
from meterbook.store.schema import projects, teams

MONTH = Period(date(2026, 10, 1), date(2026, 11, 1), "2026-10")
#: Metrics are collected for these two days only (the tests stay quick).
METRIC_DAYS = Period(date(2026, 10, 8), date(2026, 10, 10), "2026-10-08..2026-10-09")
BUDGET_TEAM = "genomics"
TEAM_ACCOUNTS = ("astro-10", "bio-19")


def build(store: Store, settings: Settings, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sacct = folder / "sacct.log"
    with sacct.open("w", encoding="utf-8") as out:
        slurm_sample.write(out, 400)
    run_import(store, SlurmConnector([str(sacct)], zone=zone_for("UTC")), batch_size=1000)
    logs = folder / "nfs"
    iolog_sample.write_files(logs, 48, start=datetime(2026, 10, 1, tzinfo=UTC), users=8,
                             machines=3)  # fmt: skip
    with store.engine.connect() as conn:
        known = io_queries.file_states(conn)
    run_import(store, IoLogConnector([str(logs)], known=known, settle=0))
    bills = folder / "billing"
    billing_sample.write_files(bills, [date(2026, 10, 1)], 300)
    demo._spend(store, bills)
    with store.engine.begin() as conn:
        set_budget(conn, "2026-10", "AWS", BUDGET_TEAM, "0.01", currency="USD",
                   response="reviewing the cluster sizes")  # fmt: skip
    with store.engine.begin() as conn:
        # Two cluster accounts belong to the team too: its usage report has data.
        team_id = conn.execute(select(teams.c.id).where(teams.c.name == BUDGET_TEAM)).scalar_one()
        conn.execute(
            update(projects).where(projects.c.name.in_(TEAM_ACCOUNTS)).values(team_id=team_id)
        )
    _collect(store, settings)


def _collect(store: Store, settings: Settings) -> None:
    start, end = (day_start(d, UTC) for d in (MONTH.start, MONTH.end))
    inventory = cms_sample.sample_inventory()
    records = cml_sample.sample_workloads(60, start, end, seed=7)
    series = cml_sample.sample_series(
        day_start(METRIC_DAYS.start, UTC), day_start(METRIC_DAYS.end, UTC), step_s=900, seed=7
    )
    with direct_to_loopback(), \
            cml_sample.CmlServer(records, api_key="k", series=series) as workbench, \
            cms_sample.CmsServer(cms_sample.instance_kinds(inventory),
                                 access_keys={"i": "s"}) as cms:  # fmt: skip
        sources = {
            "ml": CmlSource(name="ml", type="cml", url=workbench.url, api_key_env="MB_T_KEY"),
            "ali": AlibabaSource(
                name="ali", type="alibaba-cms", region="cn-hongkong", endpoint=cms.endpoint,
                protocol="http", period=300,
                inventory={env: {group: [Instance(id=i, name=n) for i, n in members.items()]
                                 for group, members in groups.items()}
                           for env, groups in inventory.items()},
            ),
        }  # fmt: skip
        with_sources = settings.model_copy(update={"sources": sources})
        env = {"MB_T_KEY": "k", "ALIBABA_CLOUD_ACCESS_KEY_ID": "i",
               "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}  # fmt: skip
        collect(store, with_sources, "ml", period=METRIC_DAYS, env=env)
        collect(store, with_sources, "ali", period=METRIC_DAYS, env=env)
