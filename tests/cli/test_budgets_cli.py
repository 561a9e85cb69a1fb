"""`meterbook budgets` as a user meets it."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)
from tests.conftest import shared

FOCUS = """ProviderName,SubAccountId,SubAccountName,ServiceName,ChargeCategory,BilledCost,\
BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeDescription
Acme,p-1,One,Compute,Usage,10.5,EUR,2024-09-01 00:00:00,2024-09-01 01:00:00,vm hours
Acme,p-2,Two,Storage,Usage,4.25,EUR,2024-09-02 00:00:00,2024-09-02 01:00:00,disk GB
Acme,p-1,One,Compute,Usage,3,EUR,2024-10-02 00:00:00,2024-10-02 01:00:00,vm hours
"""


@pytest.fixture
def ledger(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    run(capsys, "init")
    path = workdir / "acme-2024-09-02.csv"
    path.write_text(FOCUS)
    code, out, _ = run(capsys, "import", "billing", "--format", "focus", str(path))
    assert code == 0, out
    for args in (
        ("providers", "edit", "Acme", "--currency", "EUR"),  # the budgets' default currency
        ("divisions", "add", "research"),
        ("teams", "add", "ml", "--division", "research"),
        ("teams", "add", "web", "--division", "research"),
        ("projects", "add", "atlas", "--provider", "Acme", "--team", "ml", "--external-id", "p-1"),
    ):
        code, out, err = run(capsys, "org", *args)
        assert code == 0, err
    return path


def _file_costs(path: Path) -> dict[tuple[str, str], Decimal]:
    """(month, team) -> billed cost, from the file: p-1 is atlas (ml), the rest unallocated."""
    out: dict[tuple[str, str], Decimal] = {}
    for row in csv.DictReader(io.StringIO(path.read_text())):
        key = (
            row["ChargePeriodStart"][:7],
            "ml" if row["SubAccountId"] == "p-1" else "Unallocated",
        )
        out[key] = out.get(key, Decimal(0)) + Decimal(row["BilledCost"])
    return out


def test_set_list_clone_and_over_under(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "budgets", "set", "2024-09", "--provider", "Acme", "--team", "ml",
                       "12.000001", "--comment", "plan")  # fmt: skip
    assert (code, out.strip()) == (0, "budget 2024-09 Acme/ml added: 12.000001 EUR")
    code, out, _ = run(capsys, "budgets", "set", "2024-09", "--provider", "Acme", "--team", "web",
                       "1", "--response", "no spend expected")  # fmt: skip
    assert code == 0
    code, out, _ = run(capsys, "budgets", "set", "2024-10", "--provider", "Acme", "--team", "web",
                       "2")  # fmt: skip
    assert code == 0
    code, out, _ = run(capsys, "budgets", "clone", "2024-09", "2024-10")
    assert (code, out.strip()) == (
        0, "1 budget(s) cloned from 2024-09 into 2024-10; 1 skipped (2024-10 had them already)",
    )  # fmt: skip
    code, out, _ = run(capsys, "budgets", "list", "--month", "2024-10", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["team"], r["amount"], r["comment"]) for r in rows] == [
        ("ml", "12.000001", "Cloned from 2024-09"),
        ("web", "2", ""),
    ]
    code, out, _ = run(capsys, "budgets", "list")
    assert code == 0 and "Budgets" in out and "12.000001" in out

    code, out, _ = run(capsys, "budgets", "overunder", "--period", "2024-09", "--format", "csv")
    assert code == 0
    table = {(r["month"], r["team"]): r for r in csv.DictReader(io.StringIO(out))}
    costs = _file_costs(ledger)
    september = {k: v for k, v in costs.items() if k[0] == "2024-09"}
    assert set(table) == set(september) | {("2024-09", "web")}
    ml = table[("2024-09", "ml")]
    assert Decimal(ml["actual"]) == september[("2024-09", "ml")]
    assert Decimal(ml["difference"]) == september[("2024-09", "ml")] - Decimal("12.000001")
    assert ml["status"] == "under"
    web = table[("2024-09", "web")]
    assert (web["actual"], web["status"], web["response"]) == ("0", "under", "no spend expected")
    assert table[("2024-09", "Unallocated")]["status"] == "no budget"

    code, out, _ = run(capsys, "budgets", "overunder", "--from", "2024-09-20", "--to",
                       "2024-10-01", "--by", "provider", "--format", "json")  # fmt: skip
    data = json.loads(out)
    assert (data["from"], data["to_exclusive"]) == ("2024-09-01", "2024-11-01")
    got = {(r["month"], r["provider"], r["team"]): Decimal(r["actual"]) for r in data["rows"]}
    for (month, team), cost in costs.items():
        assert got[(month, "Acme", team)] == cost
    code, out, _ = run(capsys, "budgets", "overunder", "--period", "2024-09")
    assert code == 0 and "Over/under 2024-09" in out and "no budget" in out

    code, out, _ = run(capsys, "budgets", "remove", "2024-10", "--provider", "Acme",
                       "--team", "web")  # fmt: skip
    assert (code, out.strip()) == (0, "budget 2024-10 Acme/web removed")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("set", "2024-9", "--provider", "Acme", "--team", "ml", "5"), 2,
         "meterbook: error: month: '2024-9' is not a month (YYYY-MM, e.g. 2026-10)"),
        (("set", "2024-09", "--provider", "Acme", "--team", "ops", "5"), 2,
         "meterbook: error: team: team 'ops' does not exist (see `meterbook org teams list`)"),
        (("set", "2024-09", "--provider", "Acme", "--team", "ml", "--", "-5"), 2,
         "meterbook: error: amount: must not be negative (-5)"),
        (("remove", "2024-09", "--provider", "Acme", "--team", "ml"), 2,
         "meterbook: error: no budget for team 'ml' at provider 'Acme' in 2024-09"),
        (("clone", "2024-09", "Oct"), 2,
         "meterbook: error: to month: 'Oct' is not a month (YYYY-MM, e.g. 2026-10)"),
    ],
)  # fmt: skip
def test_errors_are_one_line(
    ledger: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int, message: str
) -> None:
    got, out, err = run(capsys, "budgets", *args)
    assert (got, err.strip()) == (code, message)
    assert out == ""


def test_org_removal_refused_while_a_budget_refers(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "budgets", "set", "2024-09", "--provider", "Acme", "--team", "web", "5")
    code, _, err = run(capsys, "org", "teams", "remove", "web")
    assert code == 7
    assert err.strip() == (
        "meterbook: error: cannot remove team 'web': 1 budget refers to it; archive it instead "
        "(meterbook org teams archive web)"
    )


@pytest.mark.shared
def test_over_under_on_shared_samples(
    workdir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "init")
    for fmt, name in (("focus", "focus-1.0-sample.csv"), ("aws-cur", "aws-cur-v1-sample.csv")):
        code, out, _ = run(
            capsys, "import", "billing", "--format", fmt, str(shared("billing", name))
        )
        assert code == 0, out
    run(capsys, "org", "teams", "add", "ml")
    run(capsys, "org", "projects", "add", "atlas", "--provider", "AWS", "--team", "ml",
        "--external-id", "11353890204")  # fmt: skip
    code, _, _ = run(capsys, "budgets", "set", "2024-09", "--provider", "AWS", "--team", "ml", "5")
    assert code == 0
    code, out, _ = run(capsys, "spend", "--from", "2023-11-01", "--to", "2024-09-30",
                       "--by", "month", "--by", "team", "--format", "json")  # fmt: skip
    spent = {(r["month"], r["team"]): r["billed_cost"] for r in json.loads(out)["rows"]}
    code, out, _ = run(capsys, "budgets", "overunder", "--from", "2023-11-01", "--to",
                       "2024-09-30", "--format", "json")  # fmt: skip
    assert code == 0
    rows = json.loads(out)["rows"]
    assert {(r["month"], r["team"]): r["actual"] for r in rows} == spent
    ml = next(r for r in rows if r["team"] == "ml")
    assert Decimal(ml["difference"]) == Decimal(spent[("2024-09", "ml")]) - 5
