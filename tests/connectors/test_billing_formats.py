"""Billing formats read into canonical lines (no database): every format, compression and
container, time parsing, keys, and the mapping files."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from meterbook.connectors.billing.connector import BillingReader
from meterbook.connectors.billing.mapped import load_mapping, parse_mapping
from meterbook.connectors.billing.table import KeyMaker, read_csv, record_chunks, times
from meterbook.connectors.columns import Problems
from meterbook.errors import ConfigError, InputError


def _lines(reader: BillingReader, path: Path) -> tuple[list[dict[str, object]], list[str]]:
    rows: list[dict[str, object]] = []
    rejects: list[str] = []
    for batch in reader.batches(path):
        rows.extend(batch.table.to_pylist())
        rejects.extend(f"{r.line}: {r.reason}" for r in batch.rejects)
    return rows, rejects


def test_times_accept_the_formats_providers_write() -> None:
    problems = Problems()
    values = pa.array([
        "2024-09-18 22:00:00", "2024-09-18T22:00:00Z", "2023-11-01 00:00:00.000000000Z",
        "2023-11-13T10:00Z", "2024-05-01 00:00:00 UTC", "2014-01-01T00:00:00-08:00",
        "9/2/2023", "2024-09-18", "12/31/2023 5:30", "2024-13-01", None,
    ])  # fmt: skip
    out = times(values, "start", problems, required=False).to_pylist()
    assert out[:10] == [
        1726696800.0, 1726696800.0, 1698796800.0, 1699869600.0, 1714521600.0,
        1388563200.0, 1693612800.0, 1726617600.0, 1704000600.0, None,
    ]  # fmt: skip
    assert out[10] is None
    assert problems.reasons == {9: "start: not a date-time: '2024-13-01'"}


FOCUS_HEADER = (
    "ProviderName,SubAccountId,ServiceName,ChargeCategory,BilledCost,BillingCurrency,"
    "ChargePeriodStart,ChargePeriodEnd,Tags\n"
)


def test_focus_csv_gz_and_parquet_give_the_same_lines(tmp_path: Path) -> None:
    body = (
        FOCUS_HEADER
        + "Acme,p1,VM,Usage,0.00000080000,USD,2024-09-01 00:00:00,2024-09-01 01:00:00,"
        + '"{""team"": ""ml""}"\n'
        + "Acme,p1,VM,Usage,1.5,usd,2024-09-01 01:00:00,2024-09-01 02:00:00,NULL\n"
    )
    plain = tmp_path / "f.csv"
    plain.write_text(body)
    packed = tmp_path / "f.csv.gz"
    packed.write_bytes(gzip.compress(body.encode()))
    table = pa_csv.read_csv(plain)
    parquet = tmp_path / "f.parquet"
    pq.write_table(table, parquet)
    reader = BillingReader("focus")
    csv_rows, _ = _lines(reader, plain)
    gz_rows, _ = _lines(reader, packed)
    pq_rows, rejects = _lines(reader, parquet)
    assert rejects == []
    assert csv_rows == gz_rows
    assert [r["billed_cost"] for r in csv_rows] == [Decimal("8E-7"), Decimal("1.5")]
    assert [r["currency"] for r in csv_rows] == ["USD", "USD"]
    assert csv_rows[0]["tags"] == '{"team": "ml"}'
    assert [r["start_ts"] for r in pq_rows] == [r["start_ts"] for r in csv_rows]
    assert sum(Decimal(str(r["billed_cost"])) for r in pq_rows) == Decimal("1.5000008")


def test_identical_rows_keep_distinct_stable_keys(tmp_path: Path) -> None:
    line = "Acme,p1,VM,Usage,1,USD,2024-09-01 00:00:00,2024-09-01 01:00:00,NULL\n"
    path = tmp_path / "f.csv"
    path.write_text(FOCUS_HEADER + line + line)
    keys = [r["line_key"] for r in _lines(BillingReader("focus"), path)[0]]
    again = [r["line_key"] for r in _lines(BillingReader("focus"), path)[0]]
    assert keys == again
    assert keys[1] == f"{keys[0]}#2"


def test_key_numbering_spans_batches() -> None:
    """A digest seen in an earlier batch (or twice in one) is numbered on: #2, #3..."""
    a, b, c = (bytes([n]) * 16 for n in (1, 2, 3))
    maker = KeyMaker()
    assert maker.keys([a, b]) == [a.hex(), b.hex()]
    assert maker.keys([c, a, a]) == [c.hex(), f"{a.hex()}#2", f"{a.hex()}#3"]
    for _ in range(20):  # merged runs still remember
        maker.keys([bytes(16)])
    assert maker.keys([b, c, a]) == [f"{b.hex()}#2", f"{c.hex()}#2", f"{a.hex()}#4"]
    # Two different digests sharing their first half: distinct keys all the same.
    d, e = b"\x09" * 8 + b"\x01" * 8, b"\x09" * 8 + b"\x02" * 8
    assert KeyMaker().keys([d, e]) == [d.hex(), f"{e.hex()}#2"]
    assert len(set(maker.keys([d, e]))) == 2


def test_a_header_alone_and_a_record_longer_than_arrows_block(tmp_path: Path) -> None:
    alone = tmp_path / "alone.csv"
    alone.write_text(FOCUS_HEADER.rstrip("\n"))  # no newline after it
    assert list(read_csv(alone)) == []
    tags = json.dumps({f"k{n}": "v" * 50 for n in range(40_000)})  # 2.6 MB in one field
    big = tmp_path / "big.csv"
    row = "Acme,p1,VM,Usage,{},USD,2024-09-01 00:00:00,2024-09-01 01:00:00,{}\n"
    quoted = '"' + tags.replace('"', '""') + '"'
    big.write_text(FOCUS_HEADER + row.format(1, quoted) + row.format(2, "NULL"))
    lines, rejects = _lines(BillingReader("focus"), big)
    assert rejects == [] and [r["billed_cost"] for r in lines] == [Decimal(1), Decimal(2)]
    assert json.loads(str(lines[0]["tags"])) == json.loads(tags)


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_csv_pieces_end_where_records_end(tmp_path: Path, size: int) -> None:
    """Quoted newlines and doubled quotes never split a record, whatever the piece size."""
    rows = [
        f'Acme,p{n},"VM\nline ""{n}""",Usage,{n},USD,2024-09-01 00:00:00,2024-09-01 01:00:00,'
        + ('"{""k"": ""a,b""}"' if n % 3 == 0 else "NULL")
        for n in range(1, 41)
    ]
    path = tmp_path / "f.csv"
    path.write_text(FOCUS_HEADER + "\n".join(rows))  # no newline after the last record
    with path.open("rb") as handle:
        pieces = list(record_chunks(handle, size))
    assert b"".join(pieces) == path.read_bytes()
    assert all(piece.count(b'"') % 2 == 0 for piece in pieces)
    blocks = list(read_csv(path, block_bytes=size))
    names = [v for b in blocks for v in b.table["ServiceName"].to_pylist()]
    assert names == [f'VM\nline "{n}"' for n in range(1, 41)]
    assert [b.first_line for b in blocks] == sorted({b.first_line for b in blocks})
    lines, rejects = _lines(BillingReader("focus"), path)
    assert rejects == [] and len(lines) == 40
    assert lines[2]["tags"] == '{"k": "a,b"}'


def test_cur_2_parquet_names_and_types(tmp_path: Path) -> None:
    """CUR 2.0 Parquet: snake_case names, typed columns, tags as a map."""
    table = pa.table({
        "identity_line_item_id": ["a1"], "identity_time_interval": ["2024-01-01/2024-01-02"],
        "line_item_usage_account_id": ["111"],
        "line_item_line_item_type": ["SavingsPlanCoveredUsage"],
        "line_item_usage_start_date": pa.array([1704067200_000], pa.timestamp("ms", tz="UTC")),
        "line_item_usage_end_date": pa.array([1704070800_000], pa.timestamp("ms", tz="UTC")),
        "line_item_product_code": ["AmazonEC2"], "line_item_unblended_cost": [0.25],
        "savings_plan_savings_plan_effective_cost": [0.125], "line_item_currency_code": ["USD"],
        "line_item_usage_type": ["BoxUsage:m5.large"], "line_item_usage_amount": [1.0],
        "resource_tags": pa.array([[("user:team", "ml")]], pa.map_(pa.string(), pa.string())),
    })  # fmt: skip
    path = tmp_path / "cur2.parquet"
    pq.write_table(table, path)
    rows, rejects = _lines(BillingReader("aws-cur"), path)
    assert rejects == []
    (row,) = rows
    assert row["line_key"] == "a1/2024-01-01/2024-01-02"
    assert (row["provider"], row["project_ext"], row["service"]) == ("AWS", "111", "AmazonEC2")
    assert (row["billed_cost"], row["effective_cost"]) == (Decimal("0.25"), Decimal("0.125"))
    assert (row["start_ts"], row["end_ts"]) == (1704067200.0, 1704070800.0)
    assert json.loads(str(row["tags"])) == {"user:team": "ml"}


GCP_ROW = {
    "billing_account_id": "01A-BC",
    "service": {"id": "6F81", "description": "Compute Engine"},
    "sku": {"id": "D2C2", "description": "N1 Predefined Instance Core"},
    "usage_start_time": "2024-05-01 00:00:00 UTC",
    "usage_end_time": "2024-05-01 01:00:00 UTC",
    "project": {"id": "atlas-prod", "number": "123", "name": "Atlas"},
    "labels": [{"key": "team", "value": "ml"}],
    "location": {"region": "europe-west1"},
    "cost": 1.25,
    "currency": "EUR",
    "usage": {"amount": 3600, "unit": "seconds"},
    "credits": [{"name": "Sustained use", "amount": -0.25}],
    "invoice": {"month": "202405"},
    "cost_type": "regular",
}


def test_gcp_bigquery_export_ndjson_and_json(tmp_path: Path) -> None:
    ndjson = tmp_path / "gcp-2024-05-01.ndjson"
    ndjson.write_text(json.dumps(GCP_ROW) + "\n" + "{not json\n")
    rows, rejects = _lines(BillingReader("gcp"), ndjson)
    assert rejects == ["2: not a JSON object"]
    charge, credit = rows
    assert (charge["provider"], charge["project_ext"], charge["service"]) == (
        "Google Cloud", "atlas-prod", "Compute Engine",
    )  # fmt: skip
    assert (charge["billed_cost"], charge["quantity"], charge["unit"]) == (
        Decimal("1.25"),
        3600.0,
        "seconds",
    )
    assert charge["tags"] == '{"team": "ml"}'
    assert (credit["charge_category"], credit["billed_cost"]) == ("Credit", Decimal("-0.25"))
    assert credit["line_key"] != charge["line_key"]
    document = tmp_path / "gcp.json"
    document.write_text(json.dumps([GCP_ROW]))
    same, _ = _lines(BillingReader("gcp"), document)
    assert [r["billed_cost"] for r in same] == [Decimal("1.25"), Decimal("-0.25")]


def test_gcp_legacy_json_file_export(tmp_path: Path) -> None:
    item = {
        "accountId": "01A-BC", "lineItemId": "com.google.cloud/services/compute-engine/Core",
        "startTime": "2014-01-01T00:00:00-08:00", "endTime": "2014-01-02T00:00:00-08:00",
        "projectNumber": "123", "projectId": "atlas",
        "measurements": [{"measurementId": "com.google.cloud/services/compute-engine/Core",
                          "sum": "7200", "unit": "seconds"}],
        "cost": {"amount": "0.56", "currency": "USD"},
        "credits": [{"amount": "-0.1", "currency": "USD"}],
    }  # fmt: skip
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps([item]))
    rows, rejects = _lines(BillingReader("gcp-legacy"), path)
    assert rejects == []
    assert [(r["charge_category"], r["billed_cost"]) for r in rows] == [
        ("Usage", Decimal("0.56")), ("Credit", Decimal("-0.1")),
    ]  # fmt: skip
    assert rows[0]["service"] == "compute-engine"
    assert rows[0]["start_ts"] == 1388563200.0  # midnight at -08:00 is 08:00 UTC


COLO = """
provider = "colo-east"
time_unit = "month"

[fields]
start = { column = "Month", format = "%m/%Y" }
project = "upper(Customer)"
metric = "Item & ' (' & Site & ')'"
quantity = { column = "Power kWh", convert = ["kWh", "kWh"] }
unit = { const = "kWh" }
cost = "number(Amount) * (1 + number(`VAT %`) / 100)"
currency = { const = "EUR" }
"""


def test_mapped_csv_with_expressions(tmp_path: Path) -> None:
    rules = tmp_path / "colo.toml"
    rules.write_text(COLO.replace('convert = ["kWh", "kWh"]', 'default = "0"'))
    data = tmp_path / "colo-2024-09-30.csv"
    data.write_text(
        "Month,Customer,Item,Site,Power kWh,Amount,VAT %\n"
        "09/2024,atlas,Rack,FRA1,1200,1000.00,19\n"
        "09/2024,zeta,Cage,FRA1,,250,19\n"
        "13/2024,zeta,Cage,FRA1,,250,19\n"
        "09/2024,zeta,Cage,FRA1,,lots,19\n"
    )
    mapping = load_mapping(rules)
    rows, rejects = _lines(BillingReader("mapped", mapping=mapping), data)
    assert [(r["project_ext"], r["billed_cost"]) for r in rows] == [
        ("ATLAS", Decimal("1190.00")), ("ZETA", Decimal("297.50")),
    ]  # fmt: skip
    assert rows[0]["metric"] == "Rack (FRA1)"
    assert (rows[0]["provider"], rows[0]["charge_category"]) == ("colo-east", "Usage")
    assert rows[0]["start_ts"] == 1725148800.0  # 2024-09-01
    assert rows[0]["end_ts"] == 1727740800.0  # 2024-10-01: a month line
    assert rows[1]["quantity"] == 0.0
    assert rejects[0].startswith("4: start: '13/2024' does not match the date format")
    assert rejects[1].startswith("5: cost:")


def test_mapped_json_records_by_path(tmp_path: Path) -> None:
    mapping = parse_mapping(
        {
            "provider": "saas",
            "records": "data.items",
            "fields": {
                "start": "epoch(ts)",
                "project": {"path": "owner.project"},
                "cost": "sum(charges, 'amount')",
                "currency": "'usd'",
                "quantity": {"path": "usage.bytes", "convert": ["B", "GiB"]},
            },
        },
        "saas.toml",
    )
    path = tmp_path / "saas.json"
    path.write_text(json.dumps({"data": {"items": [
        {"ts": 1727740800, "owner": {"project": "p9"}, "charges": [{"amount": "1.10"},
         {"amount": "2.20"}], "usage": {"bytes": 2147483648}},
    ]}}))  # fmt: skip
    rows, rejects = _lines(BillingReader("mapped", mapping=mapping), path)
    assert rejects == []
    assert (rows[0]["project_ext"], rows[0]["billed_cost"], rows[0]["currency"]) == (
        "p9", Decimal("3.30"), "USD",
    )  # fmt: skip
    assert rows[0]["quantity"] == 2.0
    assert rows[0]["end_ts"] == 1727740800.0 + 86400


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"fields": {"cost": "a"}}, "fields.start is required"),
        ({"fields": {"start": "a", "cost": "b", "currency": "c", "colour": "d"}},
         "fields.colour: unknown field"),
        ({"fields": {"start": "a(", "cost": "b", "currency": "c"}}, "fields.start: "),
        ({"fields": {"start": "__import__('os')", "cost": "b", "currency": "c"}}, "fields.start: "),
        ({"time_unit": "week", "fields": {"start": "a", "cost": "b", "currency": "c"}},
         "time_unit"),
        ({"fields": {"start": {"column": "a", "const": 1}, "cost": "b", "currency": "c"}},
         "exactly one of"),
        ({"fields": {"start": "a", "cost": {"column": "b", "convert": ["GB", "hours"]},
                     "currency": "c"}}, "fields.cost"),
    ],
)  # fmt: skip
def test_mapping_errors_name_the_file_and_field(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as caught:
        parse_mapping(document, "m.toml")
    assert str(caught.value).startswith("m.toml: ")
    assert "\n" not in str(caught.value)


def test_mapping_column_missing_from_the_file(tmp_path: Path) -> None:
    mapping = parse_mapping(
        {"provider": "x", "fields": {"start": "Date", "cost": "Amount", "currency": "'EUR'"}},
        "m.toml",
    )
    path = tmp_path / "d.csv"
    path.write_text("Date,Total\n2024-01-01,5\n")
    with pytest.raises(
        InputError, match="field 'cost' uses column 'Amount', which the file does not have"
    ):
        _lines(BillingReader("mapped", mapping=mapping), path)


def test_unreadable_inputs_are_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: no header line"):
        _lines(BillingReader("focus"), empty)
    twice = tmp_path / "twice.csv"
    twice.write_text("BilledCost,BilledCost\n1,2\n")
    with pytest.raises(InputError, match="column 'BilledCost' appears twice"):
        _lines(BillingReader("focus"), twice)
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(InputError, match=r"broken\.json: not valid JSON"):
        _lines(BillingReader("gcp"), broken)
    with pytest.raises(ConfigError, match="needs --mapping"):
        BillingReader("mapped")
