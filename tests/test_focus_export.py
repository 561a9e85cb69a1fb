"""FOCUS 1.2 export on every database: the rows and their values, period semantics, derived
charges, totals against ``meterbook spend``, Parquet, metadata, the command, and (with
../shared) the public sample files through the FinOps Foundation's validator.

The checks here cover what focus-validator 2.2.1 skips or cannot see (it runs only the rules
without applicability criteria): ISO 8601 UTC date-times, the charge period bounds, allowed
values, tags as JSON objects, totals, the x_ columns.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import update

from meterbook import __version__, org
from meterbook.cli import main
from meterbook.connectors.billing.connector import BillingReader
from meterbook.errors import ConfigError
from meterbook.focus_export import (
    ARROW_SCHEMA,
    CHARGE_CATEGORIES,
    CHARGE_FREQUENCIES,
    COLUMN_NAMES,
    FOCUS_VERSION,
    SERVICE_CATEGORIES,
    ExportResult,
    charge_frequency,
    export_focus,
    focus_unit,
    metadata_path,
    number_text,
    service_category,
    tags_text,
    unit_conforms,
)
from meterbook.periods import Period
from meterbook.settings import Settings
from meterbook.spend import add_charge_rule, import_billing
from meterbook.store.core import Store, open_store, upgrade_store
from meterbook.store.cost_ingest import rebuild_spend
from meterbook.store.queries.spend import spend_summary
from meterbook.store.schema import providers
from tests.conftest import ROOT, shared

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATETIMES = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd")
X_COLUMNS = (
    "x_ProjectName", "x_ProjectExternalId", "x_TeamName", "x_DivisionName", "x_WorkloadGroup",
    "x_DerivedBy", "x_ProviderUnit",
)  # fmt: skip
VALIDATOR = ROOT.parent / "shared" / "tools" / "focus-validate"
#: The one failure focus-validator 2.2.1 reports on every dataset with InvoiceId: its FOCUS 1.2
#: rules want InvoiceId null (C-004) and not null (C-005) on all rows, both unconditionally.
#: Meterbook knows no invoices and leaves it null, as the specification says.
VALIDATOR_DEFECTS = {"InvoiceId-C-005-C"}
SAMPLES = [
    ("focus", "focus-1.0-sample.csv"),
    ("aws-cur", "aws-cur-v1-sample.csv"),
    ("azure", "azure-ea-sample.csv"),
    ("oci", "oci-cost-sample.csv"),
]
MARCH = (date(2024, 3, 1), date(2024, 4, 1))


# ---------------------------------------------------------------------------------------------
# Values, without a database


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("Hours", "Hours"),
        ("GB-Months", "GB-Months"),
        ("GB/Month", "GB/Month"),
        ("1 GB", "1 GB"),
        ("Requests", "Requests"),
        ("GB-Mo", "GB-Months"),
        ("Obj-Month", "Obj-Months"),
        ("Lambda-GB-Seconds", "Lambda GB-Seconds"),
        ("GiB/Second-Months", "GiB per Second-Months"),
        ("GB/Mo", "GB/Month"),
        ("10K", "10000 Units"),
        ("1K", "1000 Units"),
        ("1M Requests", "1000000 Requests"),
        ("1 GB/Month", "1 GB per Month"),
        ("%", "Units"),
        ("", None),
        (None, None),
    ],
)
def test_units_are_written_in_the_focus_unit_format(unit: str | None, expected: str | None) -> None:
    assert focus_unit(unit) == expected
    if expected is not None:
        assert unit_conforms(expected)


def test_numbers_are_plain_decimals_with_a_decimal_point() -> None:
    assert number_text(Decimal("0.000001760000000000")) == "0.00000176"
    assert number_text(Decimal("4")) == "4.0"
    assert number_text(Decimal("-12.50")) == "-12.5"
    assert number_text(Decimal("0E-18")) == "0.0"
    assert number_text(Decimal("1E+3")) == "1000.0"
    assert number_text(4.4e-07) == "0.00000044"
    assert number_text(24.0) == "24.0"


def test_tags_become_flat_json_objects() -> None:
    assert tags_text(None) is None
    assert tags_text("{}") is None
    assert json.loads(tags_text('{"env": "prod", "n": 3, "deep": {"a": [1]}}') or "") == {
        "env": "prod", "n": 3, "deep": '{"a": [1]}',
    }  # fmt: skip
    assert json.loads(tags_text("[1, 2]") or "") == {"x_Tags": "[1, 2]"}


def test_allowed_values() -> None:
    assert charge_frequency(None, "Usage") == "Usage-Based"
    assert charge_frequency("Usage-based", "Usage") == "Usage-Based"
    assert charge_frequency("one-time", "Credit") == "One-Time"
    assert charge_frequency(None, "Purchase") == "One-Time"  # never Usage-Based
    assert charge_frequency("Recurring", "Purchase") == "Recurring"
    assert service_category("compute") == "Compute"
    assert service_category("Database") == "Databases"
    assert service_category("Quantum Widgets") is None
    assert service_category(None) is None


# ---------------------------------------------------------------------------------------------
# A small ledger of our own, on every database


def _focus_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = [
        "ProviderName", "BillingAccountId", "SubAccountId", "SubAccountName", "ServiceName",
        "ServiceCategory", "SkuId", "SkuMeter", "ChargeCategory", "ChargeFrequency",
        "ChargeDescription", "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency",
        "ChargePeriodStart", "ChargePeriodEnd", "ConsumedQuantity", "ConsumedUnit", "Tags",
        "RegionId", "ResourceId",
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
        "SkuId": "vm-small", "SkuMeter": "VM hours", "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based", "ChargeDescription": "small VM hours",
        "BilledCost": "10", "EffectiveCost": "9", "ListCost": "12", "BillingCurrency": "EUR",
        "ChargePeriodStart": "2024-03-01T00:00:00Z", "ChargePeriodEnd": "2024-03-02T00:00:00Z",
        "ConsumedQuantity": "24", "ConsumedUnit": "Hours", "Tags": '{"env": "prod"}',
        "RegionId": "eu-west", "ResourceId": "vm-1",
    }  # fmt: skip
    base.update(values)
    return base


LINES = [
    # ends exactly at midnight: all of it in 2024-03-01
    _line(),
    _line(BilledCost="2.5", EffectiveCost="2.5", ListCost="2.5", SubAccountId="p-2",
          SubAccountName="NULL", ChargePeriodStart="2024-03-01T23:00:00Z",
          ChargePeriodEnd="2024-03-02T00:00:00Z", ServiceName="Object Store",
          ServiceCategory="NULL", SkuId="NULL", SkuMeter="NULL", ConsumedUnit="GB-Mo",
          ConsumedQuantity="5", Tags="NULL", ResourceId="NULL"),
    # the same service named with another category: the export keeps one per service
    _line(BilledCost="0", EffectiveCost="0", ListCost="0", ServiceCategory="compute",
          ChargePeriodStart="2024-03-03T10:00:00Z", ChargePeriodEnd="2024-03-03T11:00:00Z",
          ConsumedQuantity="0"),
    _line(BilledCost="-1", EffectiveCost="-1", ListCost="-1", ChargeCategory="Credit",
          ChargeFrequency="One-Time", ChargeDescription="goodwill credit",
          ChargePeriodStart="2024-03-05T00:00:00Z", ChargePeriodEnd="2024-03-06T00:00:00Z",
          ConsumedQuantity="NULL", ConsumedUnit="NULL", SkuId="NULL", SkuMeter="NULL"),
    _line(BilledCost="100", EffectiveCost="0", ListCost="100", ChargeCategory="Purchase",
          ChargeFrequency="NULL", ChargeDescription="reserved capacity",
          ChargePeriodStart="2024-03-07T00:00:00Z", ChargePeriodEnd="2024-03-08T00:00:00Z",
          ConsumedQuantity="1", ConsumedUnit="Units"),
    _line(BilledCost="1.3", EffectiveCost="1.3", ListCost="1.3", ChargeCategory="Tax",
          ChargeDescription="VAT", ChargePeriodStart="2024-03-10T00:00:00Z",
          ChargePeriodEnd="2024-03-11T00:00:00Z", ConsumedQuantity="NULL",
          ConsumedUnit="NULL", SkuId="NULL", SkuMeter="NULL"),
    # starts in February, ends in March: exported with February, whole
    _line(BilledCost="4", EffectiveCost="4", ListCost="4",
          ChargePeriodStart="2024-02-29T12:00:00Z", ChargePeriodEnd="2024-03-01T12:00:00Z"),
    # a monthly line of April: not in March
    _line(BilledCost="30", EffectiveCost="30", ListCost="30", ChargeFrequency="Recurring",
          ChargePeriodStart="2024-04-01T00:00:00Z", ChargePeriodEnd="2024-05-01T00:00:00Z"),
]  # fmt: skip


def _ledger(store: Store, tmp_path: Path, *, tax: str | None = "10") -> None:
    """The lines above; p-1 claimed by project atlas (team ml, division Research)."""
    path = _focus_csv(tmp_path / "acme.csv", LINES)
    result = import_billing(store, BillingReader("focus"), [str(path)])
    assert (result.inserted, result.rejected) == (len(LINES), 0)
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "Research")
        org.add(conn, "teams", "ml", division="Research")
        org.add(conn, "projects", "atlas", external_id="p-1", provider="Acme", team="ml")
        if tax is not None:
            conn.execute(
                update(providers).where(providers.c.name == "Acme").values(tax_rate=Decimal(tax))
            )
        rebuild_spend(conn)


def _export(
    store: Store, path: Path, start: date, end: date, fmt: str = "csv", **options: Any
) -> ExportResult:
    with store.engine.connect() as conn:
        return export_focus(conn, start, end, path, fmt, **options)  # type: ignore[arg-type]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMN_NAMES
        return list(reader)


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


def _spend_total(store: Store, start: date, end: date) -> Decimal:
    with store.engine.connect() as conn:
        return spend_summary(conn, Period(start, end, "test")).total.billed_cost


def _same_money(store: Store, a: Decimal, b: Decimal) -> None:
    """Exact on the server databases; SQLite keeps doubles (spend cuts them to 12 places)."""
    if store.backend == "sqlite":
        assert abs(a - b) < Decimal("1e-9"), (a, b)
    else:
        assert a == b


def test_rows_follow_focus_1_2(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path)
    out = tmp_path / "march.csv"
    result = _export(store, out, *MARCH)
    rows = _rows(out)
    lines = [r for r in rows if not r["x_DerivedBy"]]
    derived = [r for r in rows if r["x_DerivedBy"]]
    assert (result.rows, result.line_rows, result.derived_rows) == (len(rows), 6, len(derived))
    assert result.currencies == ["EUR"]
    for row in rows:
        for name in DATETIMES:
            assert ISO_UTC.match(row[name]), (name, row[name])
        assert row["ChargePeriodStart"] < row["ChargePeriodEnd"]
        assert row["BillingPeriodStart"] == "2024-03-01T00:00:00Z"
        assert row["BillingPeriodEnd"] == "2024-04-01T00:00:00Z"
        assert row["ChargeCategory"] in CHARGE_CATEGORIES
        assert row["ChargeFrequency"] in CHARGE_FREQUENCIES
        assert row["ServiceCategory"] in SERVICE_CATEGORIES
        assert row["ServiceSubcategory"] == f"Other ({row['ServiceCategory']})"
        assert row["ChargeClass"] == "" and row["InvoiceId"] == ""
        assert row["ProviderName"] == row["PublisherName"] == row["InvoiceIssuerName"] == "Acme"
        assert row["BillingAccountId"] and row["BillingCurrency"] == "EUR"
        contracted = "EffectiveCost" if row["ChargeCategory"] == "Usage" else "BilledCost"
        if row["x_DerivedBy"]:
            contracted = "EffectiveCost"
        assert row["ContractedCost"] == row[contracted]
        for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            assert re.fullmatch(r"-?\d+\.\d+", row[name]), (name, row[name])
        if row["Tags"]:
            tags = json.loads(row["Tags"])
            assert isinstance(tags, dict)
            assert all(not isinstance(v, dict | list) for v in tags.values())
        if row["ChargeCategory"] == "Usage":
            assert row["ConsumedQuantity"] and unit_conforms(row["ConsumedUnit"])
        else:
            assert row["ConsumedQuantity"] == row["ConsumedUnit"] == ""
        if row["ChargeCategory"] in ("Usage", "Purchase"):
            assert row["SkuId"] and row["SkuPriceId"] == row["SkuId"] and row["SkuMeter"]
            assert row["PricingCategory"] == "Standard"
            assert row["PricingQuantity"] and unit_conforms(row["PricingUnit"])
            price = Decimal(row["ListUnitPrice"])
            assert price >= 0
            assert abs(price * Decimal(row["PricingQuantity"]) - Decimal(row["ListCost"])) < 1e-9
        if row["ChargeCategory"] == "Tax":
            assert row["SkuId"] == row["PricingQuantity"] == row["ListUnitPrice"] == ""
    # one service category per service name
    categories: dict[str, set[str]] = {}
    for row in rows:
        categories.setdefault(row["ServiceName"], set()).add(row["ServiceCategory"])
    assert categories == {"Compute": {"Compute"}, "Object Store": {"Other"}}
    # the x_ columns: the org model, workload group, the provider's unit
    atlas = [r for r in lines if r["SubAccountId"] == "p-1"]
    assert {(r["x_ProjectName"], r["x_TeamName"], r["x_DivisionName"]) for r in atlas} == {
        ("atlas", "ml", "Research")
    }
    assert {r["x_ProjectExternalId"] for r in atlas} == {"p-1"}
    other = next(r for r in lines if r["SubAccountId"] == "p-2")
    assert (other["x_ProjectName"], other["x_TeamName"]) == ("Unallocated", "Unallocated")
    assert other["SubAccountName"] == "p-2"  # no name: the id (FOCUS wants one)
    assert (other["PricingUnit"], other["x_ProviderUnit"]) == ("GB-Months", "GB-Mo")
    assert other["SkuId"] == "small VM hours"  # no SKU: the meter (FOCUS wants one)
    assert other["Tags"] == "" and other["ResourceId"] == ""
    purchase = next(r for r in lines if r["ChargeCategory"] == "Purchase")
    assert purchase["ChargeFrequency"] == "One-Time"
    assert (purchase["EffectiveCost"], purchase["ContractedCost"]) == ("0.0", "100.0")
    assert purchase["ContractedUnitPrice"] == "100.0"
    zero = next(r for r in lines if r["ChargePeriodStart"] == "2024-03-03T10:00:00Z")
    assert (zero["PricingQuantity"], zero["ListUnitPrice"]) == ("0.0", "0.0")
    # derived tax rows: one per day and key, named by their rule
    assert derived and {r["x_DerivedBy"] for r in derived} == {"tax"}
    for row in derived:
        assert row["ChargeCategory"] == "Tax" and row["SkuId"] == ""
        day = datetime.strptime(row["ChargePeriodStart"], "%Y-%m-%dT%H:%M:%SZ")
        assert (day.hour, day.minute) == (0, 0)
        assert (datetime.strptime(row["ChargePeriodEnd"], "%Y-%m-%dT%H:%M:%SZ") - day).days == 1
        assert row["ChargeDescription"].startswith("Tax 10% on ")
    with store.engine.connect() as conn:
        by_rule = spend_summary(conn, Period(*MARCH, "march"), ("rule",))
    tax = next(r.billed_cost for r in by_rule.rows if r.group == ("tax",))
    _same_money(store, sum((_dec(r["BilledCost"]) for r in derived), Decimal(0)), tax)
    total = sum((_dec(r["BilledCost"]) for r in rows), Decimal(0))
    assert total == result.billed_cost


def test_period_bounds_are_start_inclusive_end_exclusive(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path, tax=None)
    day_one = _rows_of(store, tmp_path / "1.csv", date(2024, 3, 1), date(2024, 3, 2))
    assert [(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in day_one] == [
        ("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"),
        ("2024-03-01T23:00:00Z", "2024-03-02T00:00:00Z"),
    ]
    # lines ending at midnight are not in the next day, in the export and in spend
    assert _rows_of(store, tmp_path / "2.csv", date(2024, 3, 2), date(2024, 3, 3)) == []
    assert _spend_total(store, date(2024, 3, 2), date(2024, 3, 3)) == 0
    # a line belongs to the period of its start, whole
    february = _rows_of(store, tmp_path / "feb.csv", date(2024, 2, 1), date(2024, 3, 1))
    assert [(r["ChargePeriodEnd"], r["BilledCost"]) for r in february] == [
        ("2024-03-01T12:00:00Z", "4.0")
    ]
    assert february[0]["BillingPeriodStart"] == "2024-02-01T00:00:00Z"
    march = _rows_of(store, tmp_path / "mar.csv", *MARCH)
    assert "2024-02-29T12:00:00Z" not in {r["ChargePeriodStart"] for r in march}
    assert "2024-04-01T00:00:00Z" not in {r["ChargePeriodStart"] for r in march}


def _rows_of(store: Store, path: Path, start: date, end: date) -> list[dict[str, str]]:
    _export(store, path, start, end)
    return _rows(path)


def test_billed_cost_total_equals_the_ledger(store: Store, tmp_path: Path) -> None:
    """Over a period no line straddles, the file's BilledCost is what `meterbook spend` says
    (derived charges included); a straddling line goes whole with the period of its start."""
    _ledger(store, tmp_path)
    with store.engine.begin() as conn:
        add_charge_rule(conn, "platform", "overhead", "5")
    start, end = date(2024, 2, 1), date(2024, 4, 1)
    result = _export(store, tmp_path / "q.csv", start, end)
    rows = _rows(tmp_path / "q.csv")
    assert {r["x_DerivedBy"] for r in rows} == {"", "tax", "platform"}
    file_total = sum((_dec(r["BilledCost"]) for r in rows), Decimal(0))
    assert file_total == result.billed_cost == result.billed_by_currency["EUR"]
    _same_money(store, result.billed_cost, _spend_total(store, start, end))
    april = _export(store, tmp_path / "april.csv", date(2024, 4, 1), date(2024, 5, 1))
    _same_money(store, april.billed_cost, _spend_total(store, date(2024, 4, 1), date(2024, 5, 1)))
    assert april.line_rows == 1
    whole = _export(store, tmp_path / "all.csv", date(2024, 1, 1), date(2025, 1, 1))
    _same_money(store, whole.billed_cost, _spend_total(store, date(2024, 1, 1), date(2025, 1, 1)))


def test_parquet_round_trip_and_pages(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path)
    csv_result = _export(store, tmp_path / "m.csv", *MARCH)
    paged = _export(store, tmp_path / "paged.csv", *MARCH, page=2)  # several pages of each kind
    assert (tmp_path / "paged.csv").read_bytes() == (tmp_path / "m.csv").read_bytes()
    assert paged.billed_cost == csv_result.billed_cost
    result = _export(store, tmp_path / "m.parquet", *MARCH, "parquet", page=3)
    table = pq.read_table(tmp_path / "m.parquet")
    assert table.schema.equals(ARROW_SCHEMA)
    assert table.num_rows == result.rows == csv_result.rows
    assert sum(table.column("BilledCost").to_pylist(), Decimal(0)) == result.billed_cost
    for parquet_row, csv_row in zip(table.to_pylist(), _rows(tmp_path / "m.csv"), strict=True):
        for name, value in parquet_row.items():
            text = csv_row[name]
            if value is None:
                assert text == "", name
            elif isinstance(value, datetime):
                assert value.tzinfo is not None
                assert value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") == text, name
            elif isinstance(value, Decimal | float):
                assert Decimal(repr(value) if isinstance(value, float) else value) == Decimal(text)
            else:
                assert value == text, name


def test_metadata_describes_the_file(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path)
    out = tmp_path / "march.parquet"
    now = datetime(2024, 4, 2, 8, 30, tzinfo=UTC)
    with store.engine.connect() as conn:
        result = export_focus(conn, *MARCH, out, "parquet", now=now)
    assert result.metadata_path == metadata_path(out) == tmp_path / "march.parquet.metadata.json"
    meta = json.loads(result.metadata_path.read_text())
    assert meta["FocusVersion"] == meta["Schema"]["FocusVersion"] == FOCUS_VERSION == "1.2"
    assert meta["DataGenerator"] == f"Meterbook {__version__}"
    assert meta["CreationDate"] == "2024-04-02T08:30:00Z"
    assert meta["FocusDatasetId"] == "CostAndUsage"
    assert meta["DatasetInstanceId"] and "2024-03-01..2024-03-31" in meta["DatasetInstanceName"]
    columns = meta["Schema"]["ColumnDefinition"]
    assert tuple(c["ColumnName"] for c in columns) == COLUMN_NAMES
    types = {c["ColumnName"]: c["DataType"] for c in columns}
    assert types["BilledCost"] == "DECIMAL" and types["ChargePeriodStart"] == "DATETIME"
    assert types["Tags"] == "JSON" and types["ServiceName"] == "STRING"
    export = meta["x_Export"]
    assert export["File"] == "march.parquet" and export["Format"] == "parquet"
    assert (export["PeriodStart"], export["PeriodEnd"]) == (
        "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z",
    )  # fmt: skip
    assert export["RowCount"] == result.rows == export["LineRows"] + export["DerivedRows"]
    assert Decimal(export["BilledCostTotal"]) == result.billed_cost
    assert export["BilledCostByCurrency"] == {"EUR": export["BilledCostTotal"]}
    # the same columns the next time: the same schema id
    with store.engine.connect() as conn:
        again = export_focus(conn, *MARCH, tmp_path / "again.csv")
    assert (
        json.loads(again.metadata_path.read_text())["Schema"]["SchemaId"]
        == (meta["Schema"]["SchemaId"])
    )


def test_empty_period_and_errors(store: Store, tmp_path: Path) -> None:
    result = _export(store, tmp_path / "none.csv", date(2030, 1, 1), date(2030, 2, 1))
    assert (result.rows, result.billed_cost, result.currencies) == (0, Decimal(0), [])
    assert _rows(tmp_path / "none.csv") == []
    assert json.loads(result.metadata_path.read_text())["x_Export"]["RowCount"] == 0
    with pytest.raises(ConfigError, match="empty period"):
        _export(store, tmp_path / "x.csv", date(2030, 1, 2), date(2030, 1, 1))
    with pytest.raises(ConfigError, match="format"):
        _export(store, tmp_path / "x.csv", date(2030, 1, 1), date(2030, 1, 2), "xlsx")
    assert not (tmp_path / "x.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_command(
    store: Store, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ledger(store, tmp_path, tax=None)
    out = tmp_path / "march.pq"
    url = settings.database_url or ""
    assert _main(["--db", url, "export", "focus", "--period", "2024-03", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == (
        f"wrote 6 rows, BilledCost total 112.8 (EUR) to {out} (+ march.pq.metadata.json)"
    )
    assert pq.read_table(out).num_rows == 6  # parquet from the name
    csv_out = tmp_path / "range.csv"
    args = ["--from", "2024-03-01", "--to", "2024-03-01", "--format", "csv", str(csv_out)]
    assert _main(["--db", url, "export", "focus", *args]) == 0
    assert "wrote 2 rows, BilledCost total 12.5 (EUR)" in capsys.readouterr().out
    assert _main(["--db", url, "export", "focus", str(csv_out)]) == 2
    assert "give the period" in capsys.readouterr().err


def _main(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# ---------------------------------------------------------------------------------------------
# The public sample files (../shared)


def _import_samples(store: Store) -> None:
    for fmt, name in SAMPLES:
        result = import_billing(store, BillingReader(fmt), [str(shared("billing", name))])
        assert result.rejected == 0


@pytest.mark.shared
def test_samples_export_every_line_and_the_ledger_total(store: Store, tmp_path: Path) -> None:
    _import_samples(store)
    start, end = date(2023, 1, 1), date(2025, 1, 1)
    result = _export(store, tmp_path / "samples.csv", start, end)
    rows = _rows(tmp_path / "samples.csv")
    assert result.rows == result.line_rows == len(rows) == 2814
    assert result.currencies == ["CAD", "USD"]
    _same_money(store, result.billed_cost, _spend_total(store, start, end))
    assert result.billed_cost.quantize(Decimal("0.000001")) == Decimal("25.987494")
    for row in rows:
        assert all(ISO_UTC.match(row[n]) for n in DATETIMES)
        assert row["ServiceCategory"] in SERVICE_CATEGORIES
        assert row["ChargeCategory"] in CHARGE_CATEGORIES
        assert not row["PricingUnit"] or unit_conforms(row["PricingUnit"])
    for month in (date(2023, 11, 1), date(2024, 9, 1)):  # no sample line straddles a month
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        part = _export(store, tmp_path / f"{month}.csv", month, following)
        _same_money(store, part.billed_cost, _spend_total(store, month, following))


def _validator_home() -> Path:
    default = Path(os.environ.get("TMPDIR", "/tmp")) / "focus-validator-2.2.1"
    return Path(os.environ.get("FOCUS_VALIDATOR_HOME", default))


@pytest.mark.shared
@pytest.mark.skipif(not VALIDATOR.exists(), reason="../shared/tools/focus-validate is absent")
def test_sample_export_passes_the_focus_validator(tmp_path: Path) -> None:
    """The samples, with tax and charge rules, exported and checked by focus-validator 2.2.1
    (FOCUS 1.2 rules); on SQLite only, once, as Parquet (typed, and the quicker to check;
    .ci/run checks CSV too). The first run installs the validator (about a minute)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'samples.db'}")
    upgrade_store(settings)[0].engine.dispose()
    store = open_store(settings)
    try:
        _import_samples(store)
        with store.engine.begin() as conn:
            conn.execute(
                update(providers).where(providers.c.name == "AWS").values(tax_rate=Decimal(8))
            )
            add_charge_rule(conn, "platform", "overhead", "10", provider="Microsoft")
            add_charge_rule(conn, "edp", "discount", "3", provider="Oracle")
        out = tmp_path / "samples.parquet"
        result = _export(store, out, date(2023, 1, 1), date(2025, 1, 1), "parquet")
        assert result.derived_rows > 0
    finally:
        store.engine.dispose()
    done = subprocess.run(
        [str(VALIDATOR), str(out)], capture_output=True, text=True, timeout=900, check=False
    )
    output = done.stdout + done.stderr
    total = re.search(r"^Total: \d+ \| Pass: \d+ \| Fail: (\d+) \| Skipped: \d+", output, re.M)
    if total is None and not (_validator_home() / "bin" / "focus-validator").exists():
        pytest.skip(f"focus-validator could not be installed: {output[-300:]}")
    assert total is not None, output
    failed = set(re.findall(r"^\S+ ([A-Za-z]+-[A-Z]-\d+-[A-Z]): FAIL", output, re.M))
    assert failed <= VALIDATOR_DEFECTS, output
    assert int(total.group(1)) == len(failed), output
