"""`meterbook alerts` as a user meets it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)
from tests.test_allocations import JOBS, write_slurm

RULES = """
[alerts.gpu]
type = "usage"
threshold = 4

[alerts.astro]
type = "allocation"
within_days = 10
"""


@pytest.fixture
def ledger(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    run(capsys, "init")
    with (workdir / "meterbook.toml").open("a") as handle:
        handle.write(RULES)
    code, out, _ = run(capsys, "import", "slurm", str(write_slurm(workdir / "jobs.log", JOBS)))
    assert code == 0, out
    code, out, _ = run(capsys, "allocations", "add", "astro-march", "500", "--account", "astro",
                       "--quantity", "cpu_hours", "--period", "2024-03")  # fmt: skip
    assert code == 0, out
    return workdir


def test_evaluate_list_and_acknowledge(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "alerts", "evaluate", "--as-of", "2024-03-05", "--dry-run")
    assert code == 0
    assert "Would raise, as of 2024-03-05 (dry run)" in out
    code, out, _ = run(capsys, "alerts")
    assert "no alerts" in out
    code, out, _ = run(capsys, "alerts", "evaluate", "--as-of", "2024-03-05")
    assert code == 0
    assert out.strip().splitlines()[-1] == (
        "alerts as of 2024-03-05: 4 found, 4 new, 0 already raised"
    )
    code, out, _ = run(capsys, "alerts", "evaluate", "--as-of", "2024-03-05")
    assert out.strip() == "alerts as of 2024-03-05: 4 found, 0 new, 4 already raised"
    code, out, _ = run(capsys, "alerts", "--format", "json")
    listed = json.loads(out)
    assert {a["rule"] for a in listed} == {"gpu", "astro"}
    allocation = next(a for a in listed if a["rule"] == "astro")
    assert "projected to run out on 2024-03-07" in allocation["message"]
    code, out, _ = run(capsys, "alerts", "ack", str(allocation["id"]), "--by", "alice")
    assert (code, out.strip()) == (0, f"alert {allocation['id']} acknowledged by alice")
    code, out, _ = run(capsys, "alerts", "--open", "--format", "csv")
    assert len(out.strip().splitlines()) == 1 + 3  # header and the three GPU alerts
    code, out, err = run(capsys, "alerts", "ack", "999")
    assert code != 0 and "no alert 999" in err


def test_rules_and_unknown_rule(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "alerts", "rules", "--format", "csv")
    assert code == 0
    assert out.splitlines()[1:] == [
        'gpu,usage,yes,"gpu_hours of one user in one day above 4, last 7 days",log',
        "astro,allocation,yes,allocation projected to run out within 10 days,log",
    ]
    code, _, err = run(capsys, "alerts", "evaluate", "--rule", "nope")
    assert code != 0 and "--rule: no rule nope" in err


def test_a_bad_rule_is_one_line_naming_it(
    workdir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "init")
    with (workdir / "meterbook.toml").open("a") as handle:
        handle.write('[alerts.b]\ntype = "budget"\nthresholds = [0]\n')
    code, _, err = run(capsys, "alerts", "rules")
    assert code != 0
    assert "[alerts.b] thresholds: " in err and len(err.strip().splitlines()) == 1
