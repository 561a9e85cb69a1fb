"""Allocations on every database: burn-down against the usage and spend rollups (figures
computed here from the files the tests write), exhaustion projection, errors naming the field,
org removal refused while an allocation refers to a project."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from meterbook import allocations, org
from meterbook.connectors.billing.connector import BillingReader
from meterbook.errors import ConfigError, ConflictError
from meterbook.spend import import_billing
from meterbook.store import migrate
from meterbook.store.core import Store
from tests.store.helpers import import_slurm

Q6 = Decimal("0.000001")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Job:
    account: str
    start: datetime
    hours: float
    cpus: int
    gpus: int
    nodes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


JOBS = [
    Job("astro", _utc("2024-02-29T20:00:00"), 6.0, 8, 1, 1),  # starts before the period
    Job("astro", _utc("2024-03-01T10:00:00"), 2.5, 64, 4, 2),
    Job("astro", _utc("2024-03-02T18:00:00"), 12.0, 16, 2, 1),  # across midnight
    Job("astro", _utc("2024-03-04T00:00:00"), 1.0, 4, 0, 1),
    Job("astro", _utc("2024-03-09T08:00:00"), 3.0, 32, 1, 1),  # after the as-of day
    Job("bio", _utc("2024-03-01T09:00:00"), 5.0, 128, 8, 4),  # another account
]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def write_slurm(path: Path, jobs: list[Job]) -> Path:
    """The jobs in the Open XDMoD 26-field sacct layout."""
    lines = []
    for number, job in enumerate(jobs, start=7001):
        seconds = round(job.hours * 3600)
        elapsed = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        tres = f"billing={job.cpus},cpu={job.cpus},mem=1000M,node={job.nodes}"
        if job.gpus:
            tres += f",gres/gpu={job.gpus}"
        lines.append("|".join([
            str(number), str(number), "lab", "gpu", "normal", job.account, job.account, "5000",
            "alice", "2001", _stamp(job.start), _stamp(job.start), _stamp(job.start),
            _stamp(job.end), elapsed, "0:0", "COMPLETED", str(job.nodes), str(job.cpus),
            str(job.cpus), "1000Mn", f"cpu={job.cpus},node={job.nodes}", tres, "1-00:00:00",
            "gpu01", "work",
        ]))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def per_day(jobs: list[Job], account: str, quantity: str) -> dict[date, Decimal]:
    """Hours of ``quantity`` per UTC day, split at midnight, computed from the jobs."""
    rate = {"cpu_hours": "cpus", "gpu_hours": "gpus", "node_hours": "nodes"}[quantity]
    out: dict[date, float] = {}
    for job in jobs:
        if job.account != account:
            continue
        moment = job.start
        while moment < job.end:
            midnight = datetime.combine(moment.date() + DAY, datetime.min.time(), tzinfo=UTC)
            upto = min(midnight, job.end)
            hours = (upto - moment).total_seconds() / 3600 * getattr(job, rate)
            out[moment.date()] = out.get(moment.date(), 0.0) + hours
            moment = upto
    return {day: Decimal(repr(v)).quantize(Q6) for day, v in out.items()}


def expected(
    days: dict[date, Decimal], amount: Decimal, start: date, end: date, as_of: date
) -> dict[str, object]:
    """The burn-down figures, computed from the per-day use."""
    last = min(as_of, end)
    elapsed = max(0, (last - start).days + 1)
    used = sum((v for d, v in days.items() if start <= d <= last), Decimal(0))
    remaining = amount - used
    exhaustion = None
    if used > 0 and remaining <= 0:
        total = Decimal(0)
        for day in sorted(d for d in days if start <= d <= last):
            total += days[day]
            if total >= amount:
                exhaustion = day
                break
    elif used > 0:
        exhaustion = last + timedelta(days=math.ceil(remaining * elapsed / used))
    return {"elapsed": elapsed, "used": used, "remaining": remaining, "exhaustion": exhaustion}


def _ledger(store: Store, tmp_path: Path) -> None:
    import_slurm(store, write_slurm(tmp_path / "jobs.log", JOBS))


@pytest.mark.parametrize(
    ("quantity", "amount", "as_of"),
    [
        ("cpu_hours", "2000", date(2024, 3, 4)),  # lasts beyond the period
        ("cpu_hours", "500", date(2024, 3, 4)),  # projected to run out within it
        ("cpu_hours", "900", date(2024, 3, 8)),  # the day after it has use: not counted
        ("node_hours", "40", date(2024, 3, 2)),
        ("gpu_hours", "20", date(2024, 3, 5)),  # ran out already
        ("node_hours", "100.5", date(2024, 4, 20)),  # as of a day past the end
        ("cpu_hours", "10", date(2024, 2, 20)),  # as of a day before the start
    ],
)
def test_burn_down_against_the_usage_rollup(
    store: Store, tmp_path: Path, quantity: str, amount: str, as_of: date
) -> None:
    _ledger(store, tmp_path)
    start, end = date(2024, 3, 1), date(2024, 3, 31)
    with store.engine.begin() as conn:
        allocations.add_allocation(
            conn, "astro-march", scope_kind="account", scope="astro", quantity=quantity,
            amount=amount, start="2024-03-01", end=end,
        )  # fmt: skip
        report = allocations.burn_down(conn, "astro-march", as_of)
        weekly = allocations.burn_down(conn, "astro-march", as_of, series="week")
    days = per_day(JOBS, "astro", quantity)
    want = expected(days, Decimal(amount), start, end, as_of)
    assert report.elapsed_days == want["elapsed"]
    assert report.used.quantize(Q6) == want["used"]
    assert report.remaining.quantize(Q6) == want["remaining"]
    assert report.exhaustion == want["exhaustion"]
    assert report.exhausts_early == (report.exhaustion is not None and report.exhaustion <= end)
    if report.elapsed_days:
        assert report.daily_burn is not None
        assert abs(report.daily_burn - report.used / report.elapsed_days) <= Q6
    else:
        assert report.daily_burn is None and report.series == []
    assert report.percent_used is not None
    assert abs(report.percent_used - report.used * 100 / Decimal(amount)) <= Q6

    # The day series: every elapsed day, cumulative, ending at what is used.
    elapsed_days = [start + DAY * i for i in range(report.elapsed_days)]
    assert [p.day for p in report.series] == elapsed_days
    total = Decimal(0)
    for point in report.series:
        assert point.used.quantize(Q6) == days.get(point.day, Decimal(0))
        total += point.used
        assert point.cumulative == total
    if report.series:
        assert report.series[-1].cumulative == report.used
    # The week series: 7-day blocks from the start, the same total.
    assert [p.day for p in weekly.series] == elapsed_days[::7]
    if weekly.series:
        assert weekly.series[-1].cumulative == report.used
        assert weekly.series[0].used == sum((p.used for p in report.series[:7]), Decimal(0))


def test_the_projection_moves_with_the_as_of_day(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path)
    with store.engine.begin() as conn:
        allocations.add_allocation(
            conn, "a", scope_kind="account", scope="astro", quantity="cpu_hours",
            amount="1000", start="2024-03-01", end="2024-03-31",
        )  # fmt: skip
        early = allocations.burn_down(conn, "a", date(2024, 3, 2))
        later = allocations.burn_down(conn, "a", date(2024, 3, 20))
    # A slower average burn later on pushes the projected day out, past the period's end.
    assert early.exhaustion is not None and later.exhaustion is not None
    assert early.exhaustion < later.exhaustion
    assert early.exhausts_early and not later.exhausts_early
    with store.engine.begin() as conn:
        allocations.add_allocation(
            conn, "idle", scope_kind="account", scope="bio", quantity="cpu_hours",
            amount="5", start="2024-03-10", end="2024-03-31",
        )  # fmt: skip
        idle = allocations.burn_down(conn, "idle", date(2024, 3, 20))
    assert (idle.used, idle.exhaustion, idle.exhausts_early) == (0, None, False)
    assert idle.remaining == Decimal(5) and idle.elapsed_days == 11


FOCUS_COLUMNS = [
    "ProviderName", "SubAccountId", "SubAccountName", "ServiceName", "ChargeCategory",
    "BilledCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
    "ChargeDescription",
]  # fmt: skip
BILLING = [
    ("p-1", "100.125", "USD", "2024-09-01"),
    ("p-1", "20.000001", "USD", "2024-09-03"),
    ("p-1", "7.5", "EUR", "2024-09-03"),  # another currency
    ("p-2", "40", "USD", "2024-09-02"),  # another project
    ("p-1", "50", "USD", "2024-09-10"),  # after the as-of day
    ("p-1", "9", "USD", "2024-08-31"),  # before the start
]


def test_money_burn_down_against_the_spend_rollup(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "focus.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FOCUS_COLUMNS)
        for project, cost, currency, day in BILLING:
            writer.writerow(["Acme", project, project, "Compute", "Usage", cost, cost, currency,
                             f"{day} 00:00:00", f"{day} 01:00:00", "vm hours"])  # fmt: skip
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.begin() as conn:
        org.add(conn, "teams", "ml")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-1")
        made = allocations.add_allocation(
            conn, "atlas-cloud", scope_kind="project", scope="atlas", quantity="money",
            amount="300", start="2024-09-01", end="2024-09-30",
        )  # fmt: skip
        report = allocations.burn_down(conn, "atlas-cloud", date(2024, 9, 5))
    assert made.currency == "USD" and made.unit == "USD"
    days: dict[date, Decimal] = {}
    for project, cost, currency, day in BILLING:
        if project == "p-1" and currency == "USD":
            key = date.fromisoformat(day)
            days[key] = days.get(key, Decimal(0)) + Decimal(cost)
    want = expected(days, Decimal(300), date(2024, 9, 1), date(2024, 9, 30), date(2024, 9, 5))
    assert report.used == want["used"]
    assert report.remaining == want["remaining"]
    assert report.exhaustion == want["exhaustion"]
    assert report.exhausts_early
    assert [p.cumulative for p in report.series][-1] == report.used


def test_add_list_edit_remove(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path)
    with store.engine.begin() as conn:
        added = allocations.add_allocation(
            conn, " gpu-2024 ", scope_kind="account", scope="bio", quantity="gpu_hours",
            amount="123456.123456", start=date(2024, 1, 1), end="2024-12-31", comment="grant",
        )  # fmt: skip
        allocations.add_allocation(
            conn, "astro-q1", scope_kind="Account", scope="astro", quantity="cpu-hours",
            amount=10, start="2024-01-01", end="2024-03-31",
        )  # fmt: skip
    assert (added.name, added.amount, added.currency, added.comment) == (
        "gpu-2024", Decimal("123456.123456"), None, "grant",
    )  # fmt: skip
    with store.engine.begin() as conn:
        assert [a.name for a in allocations.list_allocations(conn)] == ["astro-q1", "gpu-2024"]
        changed, did = allocations.edit_allocation(
            conn, "gpu-2024", amount="99", end="2024-06-30", comment=""
        )
        assert did and (changed.amount, changed.end, changed.comment) == (
            Decimal(99), date(2024, 6, 30), None,
        )  # fmt: skip
        same, did = allocations.edit_allocation(conn, "gpu-2024", amount="99.000000")
        assert not did and same == changed
        with pytest.raises(ConfigError, match="end: 2023-01-01 is before the start"):
            allocations.edit_allocation(conn, "gpu-2024", end="2023-01-01")
        with pytest.raises(ConfigError, match="currency: only for money, not gpu_hours"):
            allocations.edit_allocation(conn, "gpu-2024", currency="EUR")
        allocations.remove_allocation(conn, "astro-q1")
        with pytest.raises(ConfigError, match="name: no allocation 'astro-q1'"):
            allocations.remove_allocation(conn, "astro-q1")
        with pytest.raises(ConflictError, match="name: allocation 'gpu-2024' exists already"):
            allocations.add_allocation(
                conn, "gpu-2024", scope_kind="account", scope="bio", quantity="gpu_hours",
                amount="1", start="2024-01-01", end="2024-01-02",
            )  # fmt: skip
    with store.engine.connect() as conn:
        assert [a.name for a in allocations.list_allocations(conn)] == ["gpu-2024"]


GOOD = {
    "scope_kind": "account", "scope": "astro", "quantity": "cpu_hours", "amount": "5",
    "start": "2024-01-01", "end": "2024-12-31",
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scope_kind": "team"}, "scope: 'team' is not one of account, project"),
        ({"scope": "nobody"}, "account: account 'nobody' does not exist"),
        ({"scope_kind": "project", "scope": "x"}, "project: project 'x' does not exist"),
        ({"quantity": "tb_hours"}, "quantity: 'tb_hours' is not one of cpu_hours"),
        ({"amount": "-1"}, r"amount: must not be negative \(-1\)"),
        ({"amount": "lots"}, "amount: 'lots' is not an amount"),
        ({"start": "2024-13-01"}, "start: '2024-13-01' is not a date"),
        ({"end": "2023-12-31"}, "end: 2023-12-31 is before the start"),
        ({"currency": "EUR"}, "currency: only for money, not cpu_hours"),
        ({"quantity": "money", "currency": "euro"}, "currency: 'euro' is not 3 letters"),
        ({"name": "  "}, "name: must not be empty"),
    ],
)  # fmt: skip
def test_errors_name_the_field(
    store: Store, tmp_path: Path, change: dict[str, str], message: str
) -> None:
    _ledger(store, tmp_path)
    values = {"name": "a", **GOOD, **change}
    name = values.pop("name")
    with pytest.raises(ConfigError, match=message) as raised, store.engine.begin() as conn:
        allocations.add_allocation(conn, name, **values)
    assert "\n" not in str(raised.value)
    with store.engine.connect() as conn:
        assert allocations.list_allocations(conn) == []
        with pytest.raises(ConfigError, match="series: 'month' is not one of day, week"):
            allocations.add_allocation(conn, "b", **GOOD)
            allocations.burn_down(conn, "b", series="month")


def test_org_removal_refused_while_an_allocation_refers(store: Store) -> None:
    with store.engine.begin() as conn:
        org.add(conn, "teams", "ml")
        org.add(conn, "providers", "Acme")
        org.add(conn, "projects", "orion", provider="Acme", team="ml")
        allocations.add_allocation(
            conn, "orion-2026", scope_kind="project", scope="orion", quantity="money",
            amount="1000", currency="eur", start="2026-01-01", end="2026-12-31",
        )  # fmt: skip
    with pytest.raises(ConflictError) as raised, store.engine.begin() as conn:
        org.remove(conn, "projects", "orion")
    assert "1 allocation refers to it" in str(raised.value)
    with store.engine.begin() as conn:
        allocations.remove_allocation(conn, "orion-2026")
        org.remove(conn, "projects", "orion")


def test_migration_0006_downgrades_and_upgrades(store: Store) -> None:
    config = migrate._config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    assert "allocations" not in inspect(store.engine).get_table_names()
    migrate.upgrade(store.engine)
    assert "allocations" in inspect(store.engine).get_table_names()
