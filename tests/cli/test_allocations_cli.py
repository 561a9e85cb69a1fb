"""`meterbook allocations` as a user meets it."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)
from tests.test_allocations import JOBS, expected, per_day, write_slurm


@pytest.fixture
def ledger(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    run(capsys, "init")
    path = write_slurm(workdir / "jobs.log", JOBS)
    code, out, _ = run(capsys, "import", "slurm", str(path))
    assert code == 0, out
    return path


def test_add_list_show_edit_remove(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "allocations", "add", "astro-march", "600", "--account", "astro",
                       "--quantity", "cpu_hours", "--period", "2024-03",
                       "--comment", "grant")  # fmt: skip
    assert (code, out.strip()) == (
        0, "allocation 'astro-march' added: 600 cpu_hours for account 'astro' from 2024-03-01 "
        "to 2024-03-31",
    )  # fmt: skip
    code, out, _ = run(capsys, "allocations", "add", "bio-gpu", "50", "--account", "bio",
                       "--quantity", "gpu_hours", "--from", "2024-03-01",
                       "--to", "2024-12-31")  # fmt: skip
    assert code == 0

    days = per_day(JOBS, "astro", "cpu_hours")
    want = expected(days, Decimal(600), date(2024, 3, 1), date(2024, 3, 31), date(2024, 3, 4))
    code, out, _ = run(capsys, "allocations", "list", "--as-of", "2024-03-04", "--format", "csv")
    assert code == 0
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(out))}
    assert list(rows) == ["astro-march", "bio-gpu"]
    astro = rows["astro-march"]
    assert Decimal(astro["used"]) == want["used"]
    assert Decimal(astro["remaining"]) == want["remaining"]
    assert Decimal(astro["percent_used"]) == (Decimal(astro["used"]) / 6).quantize(Decimal("0.01"))
    assert astro["exhaustion"] == str(want["exhaustion"])
    assert astro["exhausts_early"] == "true"
    code, out, _ = run(capsys, "allocations", "list", "--as-of", "2024-03-04")
    assert code == 0 and "Allocations as of 2024-03-04" in out and "astro-march" in out

    code, out, _ = run(capsys, "allocations", "show", "astro-march", "--as-of", "2024-03-04",
                       "--format", "json")  # fmt: skip
    data = json.loads(out)
    assert (data["elapsed_days"], data["exhaustion"]) == (4, str(want["exhaustion"]))
    assert [Decimal(p["cumulative"]) for p in data["series"]][-1] == want["used"]
    assert [p["day"] for p in data["series"]] == [f"2024-03-0{i}" for i in range(1, 5)]
    code, out, _ = run(capsys, "allocations", "show", "astro-march", "--as-of", "2024-03-20",
                       "--series", "week", "--format", "csv")  # fmt: skip
    weeks = list(csv.DictReader(io.StringIO(out)))
    assert [w["week"] for w in weeks] == ["2024-03-01", "2024-03-08", "2024-03-15"]
    assert Decimal(weeks[-1]["cumulative"]) == sum(days.values()) - days[date(2024, 2, 29)]
    code, out, _ = run(capsys, "allocations", "show", "astro-march", "--as-of", "2024-03-04")
    assert code == 0 and "(before the period ends)" in out and "Cumulative use" in out

    code, out, _ = run(capsys, "allocations", "edit", "astro-march", "--amount", "5000",
                       "--comment", "")  # fmt: skip
    assert (code, out.strip()) == (
        0, "allocation 'astro-march' changed: 5000 cpu_hours from 2024-03-01 to 2024-03-31",
    )  # fmt: skip
    code, out, _ = run(capsys, "allocations", "show", "astro-march", "--as-of", "2024-03-04")
    assert "(before the period ends)" not in out
    code, out, _ = run(capsys, "allocations", "remove", "bio-gpu")
    assert (code, out.strip()) == (0, "allocation 'bio-gpu' removed")
    code, out, _ = run(capsys, "allocations", "list", "--format", "json")
    listed = json.loads(out)
    assert [r["name"] for r in listed] == ["astro-march"]
    assert listed[0]["exhausts_early"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "a", "5", "--quantity", "cpu_hours", "--period", "2024"),
         "scope: give either --account or --project"),
        (("add", "a", "5", "--account", "astro", "--quantity", "cpu_hours"),
         "period: give --period or --from/--to"),
        (("add", "a", "5", "--account", "nobody", "--quantity", "cpu_hours", "--period", "2024"),
         "account: account 'nobody' does not exist (accounts appear once their usage is "
         "imported; see `meterbook usage --by account`)"),
        (("add", "--account", "astro", "--quantity", "cpu_hours", "--period", "2024", "--",
          "a", "-5"),
         "amount: must not be negative (-5)"),
        (("show", "missing"), "name: no allocation 'missing' (see `meterbook allocations list`)"),
        (("list", "--as-of", "yesterday"), "--as-of: 'yesterday' is not a date (YYYY-MM-DD)"),
    ],
)  # fmt: skip
def test_errors_are_one_line(
    ledger: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(capsys, "allocations", *args)
    assert (code, err.strip()) == (2, f"meterbook: error: {message}")
    assert out == ""


def test_org_removal_refused_while_an_allocation_refers(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (("teams", "add", "ml"), ("providers", "add", "Acme"),
                 ("projects", "add", "orion", "--provider", "Acme", "--team", "ml")):  # fmt: skip
        assert run(capsys, "org", *args)[0] == 0
    code, _, _ = run(capsys, "allocations", "add", "orion-cloud", "900", "--project", "orion",
                     "--quantity", "money", "--currency", "eur", "--period", "2026")  # fmt: skip
    assert code == 0
    code, _, err = run(capsys, "org", "projects", "remove", "orion")
    assert code == 7
    assert err.strip() == (
        "meterbook: error: cannot remove project 'orion': 1 allocation refers to it; archive it "
        "instead (meterbook org projects archive orion)"
    )
