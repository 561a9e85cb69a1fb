"""`meterbook rates`, `meterbook charges` and `meterbook fx` as a user meets them."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)
from tests.test_rating import Job, write_jobs

JOBS = [
    Job(1, "2024-03-01T20:00:00", 10, 2),  # 4 h on the 1st, 6 h on the 2nd
    Job(2, "2024-03-02T06:00:00", 2, 4, "gpu", gpus=2, gpu_type="a100", account="bio"),
    Job(3, "2023-06-01T00:00:00", 1, 1),  # before any rate
]


@pytest.fixture
def ledger(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    run(capsys, "init")
    return write_jobs(workdir / "jobs.log", JOBS)


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 0, (out, err)
    return out


def test_rates_charges_explain_unrated(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok(capsys, "rates", "add", "cpu_hours", "0.10", "--currency", "eur",
             "--from", "2024-01-01", "--description", "CPU")  # fmt: skip
    assert out.strip() == "rate 1 cpu_hours[*] version 1 added: 0.1 EUR from 2024-01-01"
    ok(capsys, "rates", "add", "gpu_hours", "2", "--currency", "EUR", "--from", "2024-01-01",
       "--gpu-model", "a100", "--partition", "gpu")  # fmt: skip
    ok(capsys, "import", "slurm", str(ledger))
    out = ok(capsys, "charges", "--period", "2024-03", "--by", "account,quantity", "--format",
             "csv")  # fmt: skip
    rows = {(r["account"], r["quantity"]): r for r in csv.DictReader(io.StringIO(out))}
    # astro: 20 CPU-hours x 0.10; bio: 8 CPU-hours x 0.10 and 4 GPU-hours x 2.
    assert {k: (Decimal(r["units"]), Decimal(r["amount"])) for k, r in rows.items()} == {
        ("astro", "cpu_hours"): (Decimal(20), Decimal(2)),
        ("bio", "cpu_hours"): (Decimal(8), Decimal("0.8")),
        ("bio", "gpu_hours"): (Decimal(4), Decimal(8)),
    }
    out = ok(capsys, "charges", "--period", "2024-03", "--by", "day", "--format", "json")
    assert [(r["day"], Decimal(r["amount"])) for r in json.loads(out)] == [
        ("2024-03-01", Decimal("0.8")), ("2024-03-02", Decimal("1.2") + Decimal("8.8")),
    ]  # fmt: skip
    out = ok(capsys, "charges", "--period", "2024-03")
    assert "total 10.80 EUR" in out
    out = ok(capsys, "charges", "explain", "2024-03-02T06:00:00/2")
    assert "charged" in out
    assert "cpu_hours: 8 x 0.1 = 0.8 EUR  (rate 1 cpu_hours[*], version 1 from 2024-01-01)" in out
    assert "gpu_hours: 4 x 2 = 8 EUR  (rate 2 gpu_hours[gpu_model=a100,partition=gpu]" in out
    out = ok(capsys, "charges", "explain", "2023-06-01T00:00:00/3", "--format", "json")
    data = json.loads(out)
    assert (data["status"], data["charges"], data["quantities"]["cpu_hours"]) == (
        "unrated", [], "1",
    )  # fmt: skip
    out = ok(capsys, "charges", "unrated", "--period", "2023", "--format", "csv")
    (row,) = csv.DictReader(io.StringIO(out))
    assert (row["record_key"], row["account"], row["wall_hours"]) == (
        "2023-06-01T00:00:00/3", "astro", "1.0",
    )  # fmt: skip
    code, _, err = run(capsys, "charges", "explain", "nope")
    assert code != 0 and "no usage record 'nope'" in err


def test_past_version_apply_and_idempotence(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, "rates", "add", "cpu_hours", "0.10", "--currency", "EUR", "--from", "2024-01-01")
    ok(capsys, "import", "slurm", str(ledger))
    out = ok(capsys, "rates", "add", "cpu_hours", "0.20", "--currency", "EUR",
             "--from", "2024-03-02", "--note", "new price")  # fmt: skip
    assert "version 2 added" in out
    out = ok(capsys, "charges", "--period", "2024-03", "--format", "json")
    assert Decimal(json.loads(out)[0]["amount"]) == Decimal("2.8")  # not re-rated yet
    out = ok(capsys, "rates", "apply", "--from", "2024-03-01", "--to", "2024-03-31")
    assert "re-rated 2 records; 1 changed" in out
    out = ok(capsys, "charges", "--period", "2024-03", "--format", "json")
    assert Decimal(json.loads(out)[0]["amount"]) == Decimal(2) + Decimal("1.6")
    out = ok(capsys, "rates", "apply", "--period", "2024-03")
    assert "re-rated 2 records; 0 changed" in out
    out = ok(capsys, "rates", "list", "--format", "json")
    assert [(r["version"], r["from"], r["to"], r["price"]) for r in json.loads(out)] == [
        (1, "2024-01-01", "2024-03-02", "0.1"), (2, "2024-03-02", "", "0.2"),
    ]  # fmt: skip
    # A version from a past day with --apply re-rates from that day on.
    out = ok(capsys, "rates", "add", "cpu_hours", "0.30", "--currency", "EUR", "--from",
             "2024-03-01", "--apply")  # fmt: skip
    assert "version 3 added" in out and "1 changed" in out


def test_rates_import_export_and_errors(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = ledger.parent / "rates.csv"
    good.write_text(
        "quantity,cluster,partition,currency,effective_from,price,note\n"
        "cpu_hours,,,EUR,2024-01-01,0.01,base\n"
        "cpu_hours,lab,gpu,EUR,2024-01-01,0.05,\n"
        "io_ops,,,EUR,2024-01-01,0.000001,\n"
    )
    out = ok(capsys, "rates", "import", str(good))
    assert out.strip() == f"{good}: 3 versions added, 0 unchanged"
    exported = ok(capsys, "rates", "export")
    again = ledger.parent / "again.csv"
    again.write_text(exported)
    assert (
        ok(capsys, "rates", "import", str(again)).strip().endswith("0 versions added, 3 unchanged")
    )
    bad = ledger.parent / "bad.csv"
    bad.write_text(
        "quantity,partition,currency,effective_from,price\n"
        "gpu_hours,,EUR,2024-01-01,1\n"
        "cpu_hours,gpu,EUR,2024-01-01,-3\n"
    )
    code, _, err = run(capsys, "rates", "import", str(bad))
    assert code != 0 and f"{bad}: line 3: price: '-3' must be a number, not negative" in err
    tie = ledger.parent / "tie.csv"
    tie.write_text(
        "quantity,partition,qos,currency,effective_from,price\n"
        "gpu_hours,,,EUR,2024-01-01,1\n"
        "cpu_hours,,high,EUR,2024-01-01,1\n"
        "cpu_hours,gpu,,EUR,2024-01-01,1\n"
    )
    code, _, err = run(capsys, "rates", "import", str(tie))
    assert code != 0 and f"{tie}: line 4: rate cpu_hours[partition=gpu] would tie with rate" in err
    out = ok(capsys, "rates", "list", "--format", "csv")
    assert len(list(csv.DictReader(io.StringIO(out)))) == 3  # nothing of bad.csv nor tie.csv


def test_fx_import_list_and_conversion(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok(capsys, "rates", "add", "cpu_hours", "1", "--currency", "EUR", "--from", "2024-01-01")
    ok(capsys, "import", "slurm", str(ledger))
    rates = ledger.parent / "fx.csv"
    rates.write_text("date,from,to,rate\n2024-03-01,EUR,USD,1.1\n2024-03-02,eur,usd,1.2\n")
    assert ok(capsys, "fx", "import", str(rates)).strip() == f"{rates}: 2 rates added, 0 replaced"
    out = ok(capsys, "fx", "list", "--currency", "usd", "--format", "csv")
    assert out.splitlines()[1:] == ["2024-03-01,EUR,USD,1.1", "2024-03-02,EUR,USD,1.2"]
    out = ok(capsys, "charges", "--period", "2024-03", "--by", "day", "--currency", "USD",
             "--format", "json")  # fmt: skip
    # 8 CPU-hours on the 1st at 1.1; 12 + 8 on the 2nd at 1.2.
    assert [(r["currency"], Decimal(r["amount"])) for r in json.loads(out)] == [
        ("USD", Decimal("8.8")), ("USD", Decimal(24)),
    ]  # fmt: skip
    code, _, err = run(capsys, "charges", "--period", "2024-03", "--currency", "CHF")
    assert code != 0 and "no exchange rate from EUR to CHF on or before 2024-03-01" in err
    broken = ledger.parent / "broken.csv"
    broken.write_text("date,from,to,rate\n2024-03-01,EUR,USD,1.1\n2024-03-05,EUR,USD,zero\n")
    code, _, err = run(capsys, "fx", "import", str(broken))
    assert code != 0 and f"{broken}: line 3: rate: 'zero' is not a number" in err
