"""Rating on every database: matching by specificity, versions by effective date, charges at
import and their day rollup, re-rating a period, records with a provider cost, unrated records,
exchange rates. Expected figures are computed here from the jobs the tests write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from meterbook.cli.rating import FOREVER
from meterbook.errors import ConfigError, ConflictError, InputError
from meterbook.fx import FxRate
from meterbook.periods import Period
from meterbook.store.charging import rerate
from meterbook.store.core import Store
from meterbook.store.queries import charges as q
from meterbook.store.queries import fx as fx_store
from meterbook.store.queries import rates as rate_store
from meterbook.store.schema import usage_records
from meterbook.store.schema_rating import charge_daily, charges
from tests.store.helpers import import_slurm

Q6 = Decimal("0.000001")
MARCH = Period(date(2024, 3, 1), date(2024, 4, 1), "2024-03")


@dataclass(frozen=True)
class Job:
    number: int
    start: str
    hours: float
    cpus: int
    partition: str = "cpu"
    qos: str = "normal"
    gpus: int = 0
    gpu_type: str = ""
    account: str = "astro"

    @property
    def begin(self) -> datetime:
        return datetime.fromisoformat(self.start).replace(tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.begin + timedelta(hours=self.hours)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def write_jobs(path: Path, jobs: list[Job]) -> Path:
    """The jobs in the Open XDMoD 26-field sacct layout, on cluster ``lab``."""
    lines = []
    for job in jobs:
        seconds = round(job.hours * 3600)
        elapsed = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        tres = f"billing={job.cpus},cpu={job.cpus},mem=1000M,node=1"
        if job.gpus:
            kind = f":{job.gpu_type}" if job.gpu_type else ""
            tres += f",gres/gpu{kind}={job.gpus}"
        fields = [
            str(job.number), str(job.number), "lab", job.partition, job.qos, job.account,
            job.account, "5000", "alice", "2001", _stamp(job.begin), _stamp(job.begin),
            _stamp(job.begin), _stamp(job.end), elapsed, "0:0", "COMPLETED", "1",
            str(job.cpus), str(job.cpus), "1000Mn", f"cpu={job.cpus},node=1", tres,
            "1-00:00:00", "n01", "work",
        ]  # fmt: skip
        lines.append("|".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


def rate(store: Store, quantity: str, price: str, since: str = "2024-01-01", **scope: str) -> int:
    spec = rate_store.make_spec(quantity, price, "EUR", since, dict(scope))
    with store.engine.begin() as conn:
        card, _, _ = rate_store.add_rate(conn, spec)
    return card.id


def stored(store: Store) -> dict[tuple[str, str], tuple[Decimal, Decimal, int, int]]:
    """Charges by (job number, quantity): units, amount, rate id, version."""
    c = charges.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(c.record_key, c.quantity, c.units, c.amount, c.rate_id,
                                   c.version)).all()  # fmt: skip
    return {
        (r[0].rsplit("/", 1)[1], r[1]): (
            Decimal(str(r[2])).quantize(Q6), Decimal(str(r[3])).quantize(Q6), r[4], r[5],
        )
        for r in rows
    }  # fmt: skip


def daily(store: Store) -> dict[date, Decimal]:
    d = charge_daily.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(d.day, func.sum(d.amount)).group_by(d.day)).all()
    out = {}
    for day, amount in rows:
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        out[day] = Decimal(str(amount)).quantize(Q6)
    return {k: v for k, v in out.items() if v}


def q6(value: Decimal) -> Decimal:
    return value.quantize(Q6, rounding=ROUND_HALF_EVEN)


def test_most_specific_rate_wins_and_gpu_models(store: Store, tmp_path: Path) -> None:
    any_cpu = rate(store, "cpu_hours", "0.01")
    gpu_partition = rate(store, "cpu_hours", "0.03", partition="gpu")
    narrow = rate(store, "cpu_hours", "0.05", cluster="lab", partition="gpu", qos="high")
    any_gpu = rate(store, "gpu_hours", "1")
    a100 = rate(store, "gpu_hours", "2", gpu_model="a100")
    jobs = [
        Job(1, "2024-03-01T10:00:00", 2, 8, "gpu", "high", gpus=4, gpu_type="a100"),
        Job(2, "2024-03-01T10:00:00", 3, 4),
        Job(3, "2024-03-01T10:00:00", 1, 2, "gpu", "normal", gpus=2),
    ]
    import_slurm(store, write_jobs(tmp_path / "j.log", jobs))
    found = stored(store)
    assert found == {
        ("1", "cpu_hours"): (Decimal(16), Decimal("0.8"), narrow, 1),
        ("1", "gpu_hours"): (Decimal(8), Decimal(16), a100, 1),
        ("2", "cpu_hours"): (Decimal(12), Decimal("0.12"), any_cpu, 1),
        ("3", "cpu_hours"): (Decimal(2), Decimal("0.06"), gpu_partition, 1),
        ("3", "gpu_hours"): (Decimal(2), Decimal(2), any_gpu, 1),
    }
    with store.engine.connect() as conn:
        e = q.explain(conn, "2024-03-01T10:00:00/1")
        assert e.status == "charged"
        cpu = next(c for c in e.charges if c.quantity == "cpu_hours")
        assert (cpu.units * cpu.price, cpu.amount) == (Decimal("0.8"), Decimal("0.8"))
        assert cpu.rate == "cpu_hours[cluster=lab,partition=gpu,qos=high]"
        assert cpu.effective_from == date(2024, 1, 1)
        by_id = q.explain(conn, str(e.record_id))
        assert by_id.record_key == e.record_key
        with pytest.raises(ConfigError, match="no usage record"):
            q.explain(conn, "nothing-like-this")
        report = q.charges_summary(conn, MARCH, ["quantity"])
    totals = {r.group[0]: (r.units, r.amount) for r in report.rows}
    assert totals == {
        "cpu_hours": (Decimal(30), Decimal("0.98")),
        "gpu_hours": (Decimal(10), Decimal(18)),
    }
    assert report.totals == {"EUR": Decimal("18.98")}


def test_ties_are_refused_when_added(store: Store) -> None:
    rate(store, "cpu_hours", "0.03", partition="gpu")
    with pytest.raises(ConflictError, match="would tie with rate 1 cpu_hours\\[partition=gpu\\]"):
        rate(store, "cpu_hours", "0.04", qos="high")
    rate(store, "cpu_hours", "0.04", partition="cpu")  # disjoint: never the same record
    rate(store, "gpu_hours", "0.04", qos="high")  # another quantity
    rate(store, "cpu_hours", "0.04", partition="gpu", qos="high")  # more specific
    with pytest.raises(ConflictError, match="is in EUR, not USD"), store.engine.begin() as conn:
        rate_store.add_rate(
            conn,
            rate_store.make_spec("cpu_hours", "1", "USD", "2025-01-01", {"partition": "gpu"}),
        )
    with pytest.raises(ConfigError, match="a GPU model can only narrow a gpu_hours rate"):
        rate(store, "cpu_hours", "1", gpu_model="a100")
    with pytest.raises(ConfigError, match="unknown quantity 'cpu'"):
        rate(store, "cpu", "1")
    with pytest.raises(ConflictError, match=r"already has version 1 from 2024-01-01 at 0\.03"):
        rate(store, "cpu_hours", "0.05", partition="gpu")
    with store.engine.connect() as conn:
        assert len(rate_store.list_rates(conn)) == 4


def test_versions_by_effective_date_and_unrated(store: Store, tmp_path: Path) -> None:
    card = rate(store, "cpu_hours", "0.01", since="2024-01-01")
    rate(store, "cpu_hours", "0.02", since="2024-03-02")
    jobs = [
        Job(1, "2024-03-01T23:00:00", 2, 10),  # starts the day before the new price
        Job(2, "2024-03-02T00:00:00", 1, 10),
        Job(3, "2023-12-31T12:00:00", 1, 10),  # before any version: unrated
    ]
    import_slurm(store, write_jobs(tmp_path / "j.log", jobs))
    assert stored(store) == {
        ("1", "cpu_hours"): (Decimal(20), Decimal("0.2"), card, 1),
        ("2", "cpu_hours"): (Decimal(10), Decimal("0.2"), card, 2),
    }
    with store.engine.connect() as conn:
        lines = rate_store.list_rates(conn)
        assert [(x.version, x.effective_from, x.effective_to) for x in lines] == [
            (1, date(2024, 1, 1), date(2024, 3, 2)), (2, date(2024, 3, 2), None),
        ]  # fmt: skip
        on = rate_store.list_rates(conn, on=date(2024, 3, 1))
        assert [x.version for x in on] == [1]
        found, total = q.unrated(conn, Period(date(2023, 12, 1), date(2024, 4, 1), "x"), UTC)
        assert total == 1 and found[0].record_key.endswith("/3") and found[0].wall_hours == 1
        found, total = q.unrated(conn, MARCH, UTC)
        assert total == 0
        assert (
            q.explain(conn, found[0].record_key if found else "2023-12-31T12:00:00/3").status
            == "unrated"
        )


def test_a_multi_day_charge_splits_over_days_exactly(store: Store, tmp_path: Path) -> None:
    rate(store, "cpu_hours", "0.333333")
    # 2024-03-01T20:00 to 2024-03-03T02:00: 4, 24 and 2 hours of 30, 3 CPUs.
    import_slurm(store, write_jobs(tmp_path / "j.log", [Job(1, "2024-03-01T20:00:00", 30, 3)]))
    amount = Decimal(90) * Decimal("0.333333")  # 29.99997
    first = q6(amount * 4 / 30)
    second = q6(amount * 24 / 30)
    assert daily(store) == {
        date(2024, 3, 1): first,
        date(2024, 3, 2): second,
        date(2024, 3, 3): amount - first - second,
    }
    assert sum(daily(store).values()) == amount == Decimal("29.99997")
    with store.engine.connect() as conn:
        report = q.charges_summary(conn, MARCH, ["day"])
    assert [r.amount for r in report.rows] == [v for _, v in sorted(daily(store).items())]
    # Rebuilding the rollups recomputes the same days; in UTC-5 (Bogota, no daylight saving)
    # the job runs from 15:00 on the 1st to 21:00 on the 2nd: 9 hours, then 21.
    from zoneinfo import ZoneInfo

    from meterbook.store import rollups

    before = daily(store)
    with store.engine.begin() as conn:
        rollups.rebuild(conn, UTC)
    assert daily(store) == before
    with store.engine.begin() as conn:
        rollups.rebuild(conn, ZoneInfo("America/Bogota"))
    first = q6(amount * 9 / 30)
    assert daily(store) == {date(2024, 3, 1): first, date(2024, 3, 2): amount - first}


def test_rate_change_in_the_past_then_apply(store: Store, tmp_path: Path) -> None:
    card = rate(store, "cpu_hours", "0.01")
    jobs = [
        Job(1, "2024-03-01T20:00:00", 10, 2),  # across midnight, starts before the change
        Job(2, "2024-03-02T06:00:00", 30, 4),  # starts after the change, ends on the 3rd
        Job(3, "2024-03-05T00:00:00", 1, 8, account="bio"),
    ]
    path = write_jobs(tmp_path / "j.log", jobs)
    import_slurm(store, path)
    before = daily(store)
    rate(store, "cpu_hours", "0.02", since="2024-03-02")  # a past day: nothing re-rated yet
    assert daily(store) == before
    assert {v[3] for v in stored(store).values()} == {1}
    with store.engine.begin() as conn:
        counts = rerate(conn, UTC, datetime(2024, 3, 1, tzinfo=UTC).timestamp(),
                        datetime(2024, 4, 1, tzinfo=UTC).timestamp())  # fmt: skip
    assert (counts.records, counts.changed) == (3, 2)
    # Independently: job 1 at 0.01 (20 units: 8 on the 1st, 12 on the 2nd), job 2 at 0.02
    # (120 units: 72 on the 2nd, 48 on the 3rd), job 3 at 0.02 (8 units on the 5th).
    want = {
        date(2024, 3, 1): Decimal("0.08"),
        date(2024, 3, 2): Decimal("0.12") + Decimal("1.44"),
        date(2024, 3, 3): Decimal("0.96"),
        date(2024, 3, 5): Decimal("0.16"),
    }
    assert daily(store) == want
    assert stored(store)[("2", "cpu_hours")] == (Decimal(120), Decimal("2.4"), card, 2)
    rows_before = _rollup_rows(store)
    with store.engine.begin() as conn:
        again = rerate(conn, UTC, datetime(2024, 3, 1, tzinfo=UTC).timestamp(),
                       datetime(2024, 4, 1, tzinfo=UTC).timestamp())  # fmt: skip
    assert (again.records, again.changed) == (3, 0)
    assert _rollup_rows(store) == rows_before
    # Importing the same file again changes nothing either.
    import_slurm(store, path)
    assert _rollup_rows(store) == rows_before
    # A changed record (longer) is charged again at import, its old charge taken out.
    jobs[2] = Job(3, "2024-03-05T00:00:00", 2, 8, account="bio")
    result = import_slurm(store, write_jobs(tmp_path / "j2.log", jobs))
    assert result.updated == 1
    assert daily(store) == {**want, date(2024, 3, 5): Decimal("0.32")}
    with store.engine.connect() as conn:
        report = q.charges_summary(conn, MARCH, ["account"])
    assert {r.group[0]: r.amount for r in report.rows} == {
        "astro": Decimal("0.2") + Decimal("2.4"),
        "bio": Decimal("0.32"),
    }


def _rollup_rows(store: Store) -> list[tuple[object, ...]]:
    d = charge_daily.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(charge_daily).order_by(d.day, d.project_id)).all()
    return [tuple(str(v) for v in r) for r in rows]


def test_records_with_a_provider_cost_are_not_charged(store: Store, tmp_path: Path) -> None:
    rate(store, "cpu_hours", "0.5")
    jobs = [Job(1, "2024-03-01T00:00:00", 2, 1), Job(2, "2024-03-01T00:00:00", 2, 2)]
    import_slurm(store, write_jobs(tmp_path / "j.log", jobs))
    assert sum(daily(store).values()) == Decimal(3)
    with store.engine.begin() as conn:
        conn.execute(
            update(usage_records)
            .where(usage_records.c.record_key.like("%/2"))
            .values(cost=Decimal("7.25"), currency="USD")
        )
        counts = rerate(conn, UTC, 0, FOREVER)  # as `rates add --apply` does
    assert counts.changed == 1
    assert sum(daily(store).values()) == Decimal(1)
    assert list(stored(store)) == [("1", "cpu_hours")]
    with store.engine.connect() as conn:
        e = q.explain(conn, "2024-03-01T00:00:00/2")
        assert (e.status, e.cost, e.charges) == ("provider cost (not charged)", Decimal("7.25"), [])
        assert q.unrated(conn, MARCH, UTC)[1] == 0


def test_conversion_at_each_days_rate(store: Store, tmp_path: Path) -> None:
    rate(store, "cpu_hours", "1")
    jobs = [Job(1, "2024-03-01T12:00:00", 24, 1)]  # 12 hours on the 1st, 12 on the 2nd
    import_slurm(store, write_jobs(tmp_path / "j.log", jobs))
    with store.engine.begin() as conn:
        fx_store.store_rates(conn, [
            FxRate(date(2024, 2, 28), "EUR", "USD", Decimal("1.1")),
            FxRate(date(2024, 3, 2), "EUR", "USD", Decimal("1.2")),
            FxRate(date(2024, 3, 1), "GBP", "EUR", Decimal("1.25")),
        ])  # fmt: skip
    with store.engine.connect() as conn:
        usd = q.charges_summary(conn, MARCH, [], currency="USD")
        assert [(r.currency, r.amount) for r in usd.rows] == [
            ("USD", Decimal(12) * Decimal("1.1") + Decimal(12) * Decimal("1.2"))
        ]
        gbp = q.charges_summary(conn, MARCH, ["day"], currency="GBP")  # the inverse rate
        assert [r.amount for r in gbp.rows] == [Decimal(12) / Decimal("1.25")] * 2
        with pytest.raises(
            ConfigError, match="no exchange rate from EUR to CHF on or before 2024-03-01"
        ):
            q.charges_summary(conn, MARCH, [], currency="CHF")
    with store.engine.begin() as conn:
        assert fx_store.store_rates(
            conn, [FxRate(date(2024, 3, 2), "EUR", "USD", Decimal("1.3"))]
        ) == (0, 1)
    with store.engine.connect() as conn:
        assert q.charges_summary(conn, MARCH, [], currency="USD").rows[0].amount == Decimal("28.8")


def test_rate_csv_errors_name_their_line(store: Store) -> None:
    header = "quantity,partition,currency,effective_from,price\n"
    good = "cpu_hours,,EUR,2024-01-01,0.01\n"
    cases = {
        header
        + good
        + "cpu_hours,gpu,EUR,2024-01-01,abc\n": "line 3: price: 'abc' is not a number",
        header + good + "cpu_hours,gpu,EUR,2024-13-01,1\n": "line 3: effective_from: '2024-13-01'",
        header + good + "\n" + "gpu,gpu,EUR,2024-01-01,1\n": "line 4: unknown quantity 'gpu'",
        header + "cpu_hours,,EURO,2024-01-01,1\n": "line 2: currency: 'EURO' is not an ISO 4217",
        header + "cpu_hours,EUR,2024-01-01,1\n": "line 2: 4 fields but the header has 5",
        "quantity,zone,currency,effective_from,price\n": "line 1: unknown column 'zone'",
        "quantity,currency,price\n": "line 1: no effective_from column",
    }
    for text, message in cases.items():
        with pytest.raises(InputError, match=message.replace("(", "\\(")):
            rate_store.read_csv(text.splitlines(), "r.csv")
    tie = header + good + "cpu_hours,gpu,EUR,2024-01-01,0.02\n" + "cpu_hours,,EUR,2024-01-01,0.5\n"
    with (
        pytest.raises(ConflictError, match=r"r\.csv: line 4: .*already has version 1"),
        store.engine.begin() as conn,
    ):
        rate_store.import_csv(conn, tie.splitlines(), "r.csv")
    with store.engine.connect() as conn:
        assert rate_store.list_rates(conn) == []  # all or nothing


def _cost(day: date, provider: int, project: int, currency: str, billed: str) -> dict[str, object]:
    return {
        "day": day, "provider_id": provider, "project_id": project, "sub_account": "",
        "service": "", "group_name": "", "charge_category": "Usage", "currency": currency,
        "rule": "", "billed_cost": Decimal(billed), "effective_cost": Decimal(billed),
        "list_cost": Decimal(billed), "quantity": 0.0, "lines": 1,
    }  # fmt: skip


def test_spend_budgets_and_allocations_convert_at_day_rates(store: Store) -> None:
    from meterbook import allocations, budgets, org
    from meterbook.store.queries.spend import spend_summary
    from meterbook.store.schema import projects, providers
    from meterbook.store.schema_billing import cost_daily

    with store.engine.begin() as conn:
        org.add(conn, "divisions", "research")
        org.add(conn, "teams", "ml", division="research")
        org.add(conn, "providers", "Acme", currency="USD")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-1")
        acme = conn.execute(select(providers.c.id)).scalar_one()
        atlas = conn.execute(select(projects.c.id)).scalar_one()
        conn.execute(cost_daily.insert(), [
            _cost(date(2024, 3, 1), acme, atlas, "USD", "100"),
            _cost(date(2024, 3, 2), acme, atlas, "USD", "50"),
            _cost(date(2024, 3, 2), acme, atlas, "EUR", "10"),
        ])  # fmt: skip
        fx_store.store_rates(conn, [
            FxRate(date(2024, 3, 1), "EUR", "USD", Decimal("1.25")),
            FxRate(date(2024, 3, 2), "EUR", "USD", Decimal("1.0")),
        ])  # fmt: skip
        budgets.set_budget(conn, "2024-03", "Acme", "ml", "200", currency="EUR")
        allocations.add_allocation(
            conn, "atlas-money", scope_kind="project", scope="atlas", quantity="money",
            amount="400", start="2024-03-01", end="2024-03-31", currency="EUR",
        )  # fmt: skip
    with store.engine.connect() as conn:
        # Into EUR: 100 / 1.25 on the 1st; 50 / 1.0 + 10 on the 2nd.
        report = spend_summary(conn, MARCH, ("day",), currency="EUR")
        assert [(r.group[0], r.billed_cost) for r in report.rows] == [
            ("2024-03-01", Decimal(80)), ("2024-03-02", Decimal(60)),
        ]  # fmt: skip
        assert report.currencies == ["EUR"]
        usd = spend_summary(conn, MARCH, (), currency="USD")
        assert usd.total.billed_cost == Decimal(160)
        over = budgets.over_under(conn, MARCH, currency="USD")
        (row,) = over.rows
        # Actual 100 + 50 + 10 x 1.0; budget 200 EUR at the 1st's rate, 1.25.
        assert (row.actual, row.budget, row.currency) == (Decimal(160), Decimal(250), "USD")
        b = allocations.burn_down(conn, "atlas-money", date(2024, 3, 31), currency="USD")
        assert (b.allocation.amount, b.allocation.currency) == (Decimal(500), "USD")
        assert (b.used, b.remaining) == (Decimal(160), Decimal(340))
        native = allocations.burn_down(conn, "atlas-money", date(2024, 3, 31))
        assert native.used == Decimal(10)  # only spend billed in the allocation's currency
        with pytest.raises(ConfigError, match="no exchange rate from USD to GBP on or before"):
            spend_summary(conn, MARCH, (), currency="GBP")
