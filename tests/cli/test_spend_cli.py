"""`meterbook import billing`, `spend` and `rules` as a user meets them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)
from tests.conftest import shared

FOCUS = """ProviderName,SubAccountId,SubAccountName,ServiceName,ChargeCategory,BilledCost,\
BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeDescription
Acme,p-1,One,Compute,Usage,10.5,EUR,2024-09-01 00:00:00,2024-09-01 01:00:00,vm hours
Acme,p-2,Two,Storage,Usage,4,EUR,2024-09-02 00:00:00,2024-09-02 01:00:00,disk GB
Acme,p-2,Two,Storage,Usage,oops,EUR,2024-09-02 00:00:00,2024-09-02 01:00:00,disk GB
"""


@pytest.fixture
def imported(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    run(capsys, "init")
    path = workdir / "acme-2024-09-02.csv"
    path.write_text(FOCUS)
    code, out, _ = run(capsys, "import", "billing", "--format", "focus", str(path))
    assert code == 0, out
    return path


def test_import_billing_reports_counts_rejects_and_unallocated(
    imported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "import", "billing", "--format", "focus", str(imported), "--json")
    assert code == 0
    result = json.loads(out)
    assert (result["inserted"], result["unchanged"], result["rejected"]) == (0, 2, 1)
    assert result["first_rejects"][0] == {
        "file": str(imported), "line": 4, "reason": "billed cost: not an amount: 'oops'",
    }  # fmt: skip
    code, out, _ = run(capsys, "imports", "rejects", str(result["run"]), "--format", "csv")
    assert "billed cost: not an amount" in out


def test_spend_by_provider_and_day(imported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spend", "--period", "2024-09", "--by", "day", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["day"], r["billed_cost"]) for r in rows] == [
        ("2024-09-01", "10.5"),
        ("2024-09-02", "4"),
    ]
    code, out, _ = run(capsys, "spend", "--period", "2024-09", "--by", "provider")
    assert code == 0
    assert "Spend 2024-09 (EUR) by provider" in out
    assert "14.500000" in out
    code, out, _ = run(capsys, "spend", "--period", "2024-09", "--by", "team", "--format", "json")
    data = json.loads(out)
    assert data["rows"] == [
        {"team": "Unallocated", "billed_cost": "14.5", "effective_cost": "14.5", "list_cost": "0",
         "lines": 2}
    ]  # fmt: skip
    code, out, _ = run(capsys, "spend", "unallocated", "--period", "2024-09", "--format", "csv")
    assert [r["project_ext"] for r in csv.DictReader(io.StringIO(out))] == ["p-1", "p-2"]


def test_rules_round_trip_and_charges(imported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = imported.parent / "rules.csv"
    rules.write_text(
        "ruleid,rank,groupname,textmatch,prvid,scalefactor,scaleunit\n"
        "1,1,VMs,^vm,,,\n2,9,Rest,.,,,\n"
    )
    code, out, _ = run(capsys, "rules", "match", "import", str(rules))
    assert (code, out.strip()) == (0, "2 match rules imported; 2 lines changed workload group")
    code, out, _ = run(capsys, "spend", "--period", "2024-09", "--by", "group", "--format", "csv")
    assert [(r["group"], r["billed_cost"]) for r in csv.DictReader(io.StringIO(out))] == [
        ("VMs", "10.5"), ("Rest", "4"),
    ]  # fmt: skip
    code, out, _ = run(capsys, "rules", "match", "export")
    assert out.splitlines()[1] == "1,1,VMs,^vm,,,,metric"
    code, out, _ = run(
        capsys, "rules", "charges", "add", "ovh", "--kind", "overhead", "--percent", "10"
    )
    assert code == 0
    code, out, _ = run(capsys, "spend", "--period", "2024-09", "--by", "rule", "--format", "csv")
    assert [(r["rule"], r["billed_cost"]) for r in csv.DictReader(io.StringIO(out))] == [
        ("-", "14.5"), ("ovh", "1.45"),
    ]  # fmt: skip
    code, out, err = run(
        capsys, "rules", "charges", "add", "ovh", "--kind", "overhead", "--percent", "10"
    )
    assert code == 2
    assert "already exists" in err
    bad = imported.parent / "bad.csv"
    bad.write_text("ruleid,rank,groupname,textmatch\n1,x,G,.\n")
    code, _, err = run(capsys, "rules", "match", "import", str(bad))
    assert code == 4
    assert err.strip().endswith("line 2: ruleid and rank must be whole numbers")


def test_bad_options_are_one_line_errors(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    run(capsys, "init")
    code, _, err = run(capsys, "import", "billing", "--format", "mapped", "x.csv")
    assert (code, err.strip()) == (2, "meterbook: error: --format mapped needs --mapping FILE")
    code, _, err = run(capsys, "import", "billing", "--format", "focus", "nothing.csv")
    assert code == 4
    assert "nothing.csv: no such file or directory" in err
    garbage = workdir / "garbage.csv"
    garbage.write_text("a,b\n1,2\n")
    code, _, err = run(capsys, "import", "billing", "--format", "focus", str(garbage))
    assert code == 4
    assert "every line was rejected (1)" in err


@pytest.mark.shared
def test_shared_samples_from_the_command_line(
    workdir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "init")
    samples = (
        ("focus", "focus-1.0-sample.csv"),
        ("aws-cur", "aws-cur-v1-sample.csv"),
        ("azure", "azure-ea-sample.csv"),
        ("oci", "oci-cost-sample.csv"),
    )
    for fmt, name in samples:
        code, out, _ = run(
            capsys, "import", "billing", "--format", fmt, str(shared("billing", name))
        )
        assert code == 0, out
    code, out, _ = run(capsys, "spend", "--from", "2023-01-01", "--to", "2024-12-31",
                       "--by", "currency", "--format", "json")  # fmt: skip
    totals = {r["currency"]: r["billed_cost"] for r in json.loads(out)["rows"]}
    assert round(float(totals["CAD"]), 6) == 1.261369
    assert round(float(totals["USD"]), 6) == round(20.520227 + 1.682309 + 2.523589, 6)
