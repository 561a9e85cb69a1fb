"""Billing imports into the ledger on every database: the sample files' totals, idempotence,
incremental directory loads, attribution, match rules and derived charges."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from meterbook import org
from meterbook.connectors.billing.connector import BillingReader
from meterbook.errors import ConfigError, InputError
from meterbook.periods import Period
from meterbook.spend import (
    add_charge_rule,
    file_date,
    import_billing,
    read_match_rules,
    reattribute,
    remove_charge_rule,
    replace_match_rules,
    write_match_rules,
)
from meterbook.store.core import Store
from meterbook.store.cost_ingest import rebuild_spend
from meterbook.store.queries.spend import SpendFilters, spend_summary, unallocated
from meterbook.store.schema import divisions, projects, providers, teams
from meterbook.store.schema_billing import cost_daily, cost_lines
from tests.conftest import shared

#: (format, file, rows, total of the cost column) from formats/billing.md
SAMPLES = [
    ("focus", "focus-1.0-sample.csv", 1000, "20.520227"),
    ("aws-cur", "aws-cur-v1-sample.csv", 1281, "1.682309"),
    ("azure", "azure-ea-sample.csv", 27, "1.261369"),
    ("oci", "oci-cost-sample.csv", 506, "2.523589"),
]
Q6 = Decimal("0.000001")
EVERYTHING = Period(date(2000, 1, 1), date(2100, 1, 1), "all")


def _dec(value: object) -> Decimal:
    return Decimal(str(value or 0))


def _file_totals(path: Path, fmt: str) -> dict[str, Decimal]:
    """Per provider, the file's own sum of its cost column, computed here with Decimal."""
    column, provider = {
        "focus": ("BilledCost", None),
        "aws-cur": ("lineItem/UnblendedCost", "AWS"),
        "azure": ("CostInBillingCurrency", "Microsoft"),
        "oci": ("cost/myCost", "Oracle"),
    }[fmt]
    totals: dict[str, Decimal] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            name = provider or row["ProviderName"]
            totals[name] = totals.get(name, Decimal(0)) + Decimal(row[column])
    return totals


def _stored_totals(store: Store, run_id: int) -> dict[str, Decimal]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(providers.c.name, func.sum(cost_lines.c.billed_cost), func.count())
            .join(providers, providers.c.id == cost_lines.c.provider_id)
            .where(cost_lines.c.run_id == run_id)
            .group_by(providers.c.name)
        ).all()
    return {name: _dec(total) for name, total, _n in rows}


@pytest.mark.shared
@pytest.mark.parametrize(("fmt", "name", "rows", "total"), SAMPLES)
def test_samples_reproduce_the_reference_totals(
    store: Store, fmt: str, name: str, rows: int, total: str
) -> None:
    path = shared("billing", name)
    result = import_billing(store, BillingReader(fmt), [str(path)])
    assert (result.inserted, result.rejected) == (rows, 0)
    stored = _stored_totals(store, result.run_id)
    expected = _file_totals(path, fmt)
    assert sum(expected.values()).quantize(Q6) == Decimal(total)
    assert stored.keys() == expected.keys()
    for provider, amount in expected.items():  # per provider, to the last digit of the table
        assert stored[provider].quantize(Q6) == amount.quantize(Q6)
        if store.backend != "sqlite":  # exact decimals on the server databases
            assert stored[provider] == amount
    with store.engine.connect() as conn:
        report = spend_summary(conn, EVERYTHING, ("provider",))
    assert report.total.billed_cost.quantize(Q6) == Decimal(total)
    assert report.total.lines == rows
    again = import_billing(store, BillingReader(fmt), [str(path)])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, rows)
    with store.engine.connect() as conn:
        assert spend_summary(conn, EVERYTHING).total.billed_cost.quantize(Q6) == Decimal(total)
        assert conn.execute(select(func.count()).select_from(cost_lines)).scalar_one() == rows


def _focus_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = [
        "ProviderName", "BillingAccountId", "SubAccountId", "SubAccountName", "ServiceName",
        "ServiceCategory", "SkuId", "ChargeCategory", "ChargeFrequency", "ChargeDescription",
        "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "ChargePeriodStart",
        "ChargePeriodEnd", "ConsumedQuantity", "ConsumedUnit", "Tags", "RegionId", "ResourceId",
    ]  # fmt: skip
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, restval="NULL")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _line(**values: str) -> dict[str, str]:
    base = {
        "ProviderName": "Acme", "BillingAccountId": "ba-1", "SubAccountId": "p-1",
        "SubAccountName": "Project one", "ServiceName": "Compute", "ServiceCategory": "Compute",
        "SkuId": "vm-small", "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based",
        "ChargeDescription": "small VM hours", "BilledCost": "10", "EffectiveCost": "9",
        "ListCost": "12", "BillingCurrency": "EUR", "ChargePeriodStart": "2024-09-01 00:00:00",
        "ChargePeriodEnd": "2024-09-02 00:00:00", "ConsumedQuantity": "24",
        "ConsumedUnit": "Hours", "Tags": '{"env": "prod"}',
    }  # fmt: skip
    base.update(values)
    return base


def _spend(
    store: Store, by: tuple[str, ...], **filters: tuple[str, ...]
) -> dict[tuple[str, ...], Decimal]:
    with store.engine.connect() as conn:
        report = spend_summary(conn, EVERYTHING, by, SpendFilters(**filters))  # type: ignore[arg-type]
    return {r.group: r.billed_cost.quantize(Q6) for r in report.rows}


def test_monthly_lines_spread_evenly_and_hourly_lines_roll_into_days(
    store: Store, tmp_path: Path
) -> None:
    path = _focus_csv(tmp_path / "f.csv", [
        _line(BilledCost="30", ChargePeriodStart="2024-09-01T00:00:00Z",
              ChargePeriodEnd="2024-10-01T00:00:00Z", ChargeFrequency="Recurring"),
        _line(BilledCost="1.5", ChargePeriodStart="2024-09-02 10:00:00",
              ChargePeriodEnd="2024-09-02 11:00:00"),
        _line(BilledCost="2.5", ChargePeriodStart="2024-09-02 23:00:00",
              ChargePeriodEnd="2024-09-03 00:00:00"),
    ])  # fmt: skip
    import_billing(store, BillingReader("focus"), [str(path)])
    days = _spend(store, ("day",))
    assert len(days) == 30
    assert days[("2024-09-01",)] == Decimal(1)
    assert days[("2024-09-02",)] == Decimal(5)  # 1 of the month + 1.5 + 2.5 (ends at midnight)
    assert days[("2024-09-03",)] == Decimal(1)
    assert sum(days.values()) == Decimal(34)
    with store.engine.connect() as conn:  # the raw lines stay as they were
        assert conn.execute(select(func.count()).select_from(cost_lines)).scalar_one() == 3


def test_uneven_split_keeps_the_exact_total(store: Store, tmp_path: Path) -> None:
    path = _focus_csv(tmp_path / "f.csv", [
        _line(BilledCost="10", ChargePeriodStart="2024-09-01T05:00:00Z",
              ChargePeriodEnd="2024-09-04T00:00:00Z"),
    ])  # fmt: skip
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.connect() as conn:
        parts = [_dec(v) for v in conn.execute(select(cost_daily.c.billed_cost)).scalars()]
    assert len(parts) == 3
    assert sum(parts).quantize(Q6) == Decimal(10)


def test_changed_line_replaces_its_old_version(store: Store, tmp_path: Path) -> None:
    """A line with an id (AWS CUR) whose values change is updated, and the rollup follows."""
    header = ("identity/LineItemId,identity/TimeInterval,lineItem/UsageAccountId,"
              "lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,"
              "lineItem/ProductCode,lineItem/UnblendedCost,lineItem/CurrencyCode\n")  # fmt: skip
    first = tmp_path / "cur.csv"
    first.write_text(header + "id-1,x,111,Usage,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,"
                     "AmazonEC2,4.25,USD\n")  # fmt: skip
    import_billing(store, BillingReader("aws-cur"), [str(first)])
    first.write_text(header + "id-1,x,111,Usage,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,"
                     "AmazonEC2,5.75,USD\n")  # fmt: skip
    again = import_billing(store, BillingReader("aws-cur"), [str(first)])
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 0)
    assert _spend(store, ("day",)) == {("2024-01-05",): Decimal("5.75")}


def test_overlapping_files_in_one_run_count_each_line_once(store: Store, tmp_path: Path) -> None:
    """Lines without ids: the second file's copy of a line the first stored is unchanged."""
    one, two, three = (_line(BilledCost=v, SkuId=f"sku-{v}") for v in ("1", "2", "4"))
    first = _focus_csv(tmp_path / "a.csv", [one, two])
    second = _focus_csv(tmp_path / "b.csv", [two, three, three])
    result = import_billing(store, BillingReader("focus"), [str(first), str(second)])
    assert (result.inserted, result.unchanged) == (4, 1)
    assert _spend(store, ("provider",)) == {("Acme",): Decimal(11)}
    again = import_billing(store, BillingReader("focus"), [str(second)])
    assert (again.inserted, again.unchanged) == (0, 3)


def test_a_line_id_repeated_in_one_file_keeps_its_last_version(
    store: Store, tmp_path: Path
) -> None:
    header = ("identity/LineItemId,identity/TimeInterval,lineItem/UsageAccountId,"
              "lineItem/LineItemType,lineItem/UsageStartDate,lineItem/UsageEndDate,"
              "lineItem/ProductCode,lineItem/UnblendedCost,lineItem/CurrencyCode\n")  # fmt: skip
    row = "id-1,x,111,Usage,2024-01-05T00:00:00Z,2024-01-05T01:00:00Z,AmazonEC2,{},USD\n"
    path = tmp_path / "cur.csv"
    path.write_text(header + row.format("4.25") + row.format("5.75"))
    result = import_billing(store, BillingReader("aws-cur"), [str(path)])
    assert (result.inserted, result.updated, result.rejected) == (1, 1, 0)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cost_lines)).scalar_one() == 1
    assert _spend(store, ("day",)) == {("2024-01-05",): Decimal("5.75")}


def test_bad_rows_are_rejected_with_line_and_field(store: Store, tmp_path: Path) -> None:
    path = _focus_csv(tmp_path / "f.csv", [
        _line(),
        _line(BilledCost="ten"),
        _line(ChargePeriodStart="yesterday"),
        _line(ChargeCategory="Refund"),
        _line(BillingCurrency="NULL"),
        _line(Tags="[1, 2]"),
    ])  # fmt: skip
    result = import_billing(store, BillingReader("focus"), [str(path)])
    assert (result.inserted, result.rejected) == (1, 5)
    reasons = {r.line: r.reason for r in result.first_rejects}
    assert reasons[3] == "billed cost: not an amount: 'ten'"
    assert reasons[4] == "charge period start: not a date-time: 'yesterday'"
    assert reasons[5].startswith("charge category: not one of Usage, Purchase, Tax")
    assert reasons[6] == "currency: missing"


def test_unallocated_until_a_project_claims_the_id(store: Store, tmp_path: Path) -> None:
    path = _focus_csv(tmp_path / "f.csv", [_line(), _line(SubAccountId="p-2", BilledCost="4")])
    result = import_billing(store, BillingReader("focus"), [str(path)])
    assert result.unallocated == 2
    assert _spend(store, ("team",)) == {("Unallocated",): Decimal(14)}
    with store.engine.begin() as conn:
        assert [r.project_ext for r in unallocated(conn, EVERYTHING)] == ["p-1", "p-2"]
        provider = conn.execute(
            select(providers.c.id).where(providers.c.name == "Acme")
        ).scalar_one()
        conn.execute(insert(divisions).values(name="Research", archived=False, created_at=_now()))
        division = conn.execute(select(divisions.c.id)).scalar_one()
        conn.execute(insert(teams).values(name="ml", division_id=division, archived=False,
                                          created_at=_now()))  # fmt: skip
        team = conn.execute(select(teams.c.id)).scalar_one()
        atlas = {"name": "atlas", "external_id": "p-1", "provider_id": provider, "team_id": team}
        conn.execute(insert(projects).values(**atlas, archived=False, created_at=_now()))
        assert reattribute(conn, {provider}) == 1
    assert _spend(store, ("division", "team", "project")) == {
        ("Research", "ml", "atlas"): Decimal(10),
        ("Unallocated", "Unallocated", "Unallocated"): Decimal(4),
    }
    assert _spend(store, ("project",), projects=("Unallocated",)) == {("Unallocated",): Decimal(4)}
    with store.engine.connect() as conn:
        assert [r.project_ext for r in unallocated(conn, EVERYTHING)] == ["p-2"]


def test_org_changes_attribute_and_tax_again(store: Store, tmp_path: Path) -> None:
    """The org model's own functions rebuild the spend: a new project claims its lines, a
    provider's new tax rate adds (and a cleared one removes) the tax lines."""
    path = _focus_csv(tmp_path / "f.csv", [_line(), _line(SubAccountId="p-2", BilledCost="4")])
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "Research")
        org.add(conn, "teams", "ml", division="Research")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-2")
    assert _spend(store, ("project",)) == {
        ("Unallocated",): Decimal(10),
        ("atlas",): Decimal(4),
    }
    with store.engine.begin() as conn:
        org.edit(conn, "providers", "Acme", tax_rate="12.5")
    assert _spend(store, ("project", "rule")) == {
        ("Unallocated", "-"): Decimal(10),
        ("Unallocated", "tax"): Decimal("1.25"),
        ("atlas", "-"): Decimal(4),
        ("atlas", "tax"): Decimal("0.5"),
    }
    with store.engine.begin() as conn:
        org.edit(conn, "projects", "atlas", external_id="p-1")
        org.edit(conn, "providers", "Acme", tax_rate="")
    assert _spend(store, ("project", "rule")) == {
        ("Unallocated", "-"): Decimal(4),
        ("atlas", "-"): Decimal(10),
    }


def _now() -> object:
    from datetime import datetime

    return datetime(2026, 1, 1)


def test_tax_and_charge_rules_derive_lines_that_name_their_rule(
    store: Store, tmp_path: Path
) -> None:
    path = _focus_csv(tmp_path / "f.csv", [
        _line(BilledCost="100"),
        _line(BilledCost="50", ServiceName="Storage", SkuId="disk"),
        _line(BilledCost="7", ChargeCategory="Tax", ServiceName="Compute"),
    ])  # fmt: skip
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.begin() as conn:
        conn.execute(
            update(providers).where(providers.c.name == "Acme").values(tax_rate=Decimal("13"))
        )
        rebuild_spend(conn)
    assert _spend(store, ("rule",)) == {("-",): Decimal(157), ("tax",): Decimal("19.5")}
    with store.engine.begin() as conn:
        add_charge_rule(conn, "platform", "overhead", "10", service_match="^Comp")
        add_charge_rule(conn, "edp", "discount", "5", provider="Acme",
                        valid_from=date(2024, 9, 2))  # fmt: skip
    by_rule = _spend(store, ("rule", "category"))
    assert by_rule[("platform", "Adjustment")] == Decimal(10)  # 10 % of 100 (tax lines excluded)
    assert ("edp", "Credit") not in by_rule  # the line's day is before the rule
    with store.engine.begin() as conn:
        remove_charge_rule(conn, "platform")
        with pytest.raises(ConfigError, match="does not exist"):
            remove_charge_rule(conn, "platform")
        with pytest.raises(ConfigError, match="already exists"):
            add_charge_rule(conn, "edp", "discount", "5")
    assert _spend(store, ("rule",)) == {("-",): Decimal(157), ("tax",): Decimal("19.5")}


RULES = """ruleid,rank,groupname,textmatch,prvid,scalefactor,scaleunit
1,10,Storage,^disk,,/ 1024,TB
2,20,VMs,vm-,Acme,,
3,99,Everything else,.,,,
"""


def test_match_rules_put_costs_into_workload_groups(store: Store, tmp_path: Path) -> None:
    path = _focus_csv(tmp_path / "f.csv", [
        _line(BilledCost="3", SkuId="vm-small", ChargeDescription="vm-small hours"),
        _line(BilledCost="2", SkuId="disk", ChargeDescription="disk GB",
              ConsumedQuantity="2048"),
        _line(BilledCost="1", SkuId="x", ChargeDescription="support"),
    ])  # fmt: skip
    import_billing(store, BillingReader("focus"), [str(path)])
    assert set(_spend(store, ("group",))) == {("Other",)}
    with store.engine.begin() as conn:
        parsed = read_match_rules(conn, RULES, "rules.csv")
        assert replace_match_rules(conn, parsed) == 3
        exported = write_match_rules(conn)
    assert _spend(store, ("group",)) == {
        ("VMs",): Decimal(3), ("Storage",): Decimal(2), ("Everything else",): Decimal(1),
    }  # fmt: skip
    with store.engine.connect() as conn:
        quantity = conn.execute(
            select(func.sum(cost_daily.c.quantity)).where(cost_daily.c.group_name == "Storage")
        ).scalar_one()
    assert quantity == pytest.approx(2.0)  # 2048 GB / 1024 = 2 TB
    assert (
        exported.splitlines()[0]
        == "ruleid,rank,groupname,textmatch,prvid,scalefactor,scaleunit,field"
    )
    with store.engine.begin() as conn:
        assert len(read_match_rules(conn, exported, "again.csv")) == 3
        with pytest.raises(InputError, match=r"bad.csv: line 2: .*textmatch"):
            read_match_rules(conn, "ruleid,rank,groupname,textmatch\n1,1,G,(\n", "bad.csv")
        with pytest.raises(InputError, match="line 2: prvid: provider 'Nope' does not exist"):
            read_match_rules(conn, "ruleid,rank,groupname,textmatch,prvid\n1,1,G,.,Nope\n", "r.csv")


def test_directory_loads_only_files_newer_than_the_last_load(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for day in (1, 2):
        _focus_csv(folder / f"acme-2024-09-0{day}.csv", [
            _line(BilledCost=str(day), ChargePeriodStart=f"2024-09-0{day} 00:00:00",
                  ChargePeriodEnd=f"2024-09-0{day} 01:00:00"),
        ])  # fmt: skip
    reader = BillingReader("focus", provider="Acme")
    first = import_billing(store, reader, [str(folder)])
    assert (len(first.files), first.inserted) == (2, 2)
    _focus_csv(folder / "acme-2024-09-03.csv", [
        _line(BilledCost="3", ChargePeriodStart="2024-09-03 00:00:00",
              ChargePeriodEnd="2024-09-03 01:00:00"),
    ])  # fmt: skip
    second = import_billing(store, reader, [str(folder)])
    assert [Path(f).name for f in second.files] == ["acme-2024-09-03.csv"]
    assert len(second.skipped_files) == 2
    forced = import_billing(store, reader, [str(folder)], since=date(2024, 9, 2))
    assert [Path(f).name for f in forced.files] == ["acme-2024-09-02.csv", "acme-2024-09-03.csv"]
    assert forced.unchanged == 2
    with store.engine.connect() as conn:
        last = conn.execute(select(providers.c.last_load_at)).scalar_one()
    assert last.date() == date(2024, 9, 3)
    assert file_date(Path("cur-2024-09-30T00.csv.gz")) == date(2024, 9, 30)
    assert file_date(Path("report.csv")) is None


def test_a_failing_file_leaves_nothing_of_itself(store: Store, tmp_path: Path) -> None:
    good = _focus_csv(tmp_path / "a.csv", [_line()])
    bad = tmp_path / "b.csv"
    shutil.copy(good, bad)
    with bad.open("a") as handle:
        handle.write('"unterminated\n')
    missing = tmp_path / "none.csv"
    with pytest.raises(InputError, match=r"none\.csv: no such file"):
        import_billing(store, BillingReader("focus"), [str(good), str(missing)])
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cost_lines)).scalar_one() == 0
