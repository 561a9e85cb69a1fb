"""``meterbook report``: files where it says, atomic replacement with an archive, named
reports, the list, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401
from tests.conftest import DATA


def _ledger(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "init")[0] == 0
    code, out, _ = run(capsys, "import", "slurm", str(DATA / "xdmod-quirks.log"))
    assert code == 0 and "5 inserted" in out


def test_report_files_archive_and_totals(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _ledger(capsys)
    code, out, err = run(capsys, "report", "usage", "--period", "2024-03",
                         "--format", "csv,json", "--out", "out")  # fmt: skip
    assert code == 0, err
    folder = workdir / "out" / "usage" / "2024-03"
    assert f"files in {Path('out') / 'usage' / '2024-03'}" in out
    assert str(folder.relative_to(workdir) / "usage-2024-03.json") in out
    doc = json.loads((folder / "usage-2024-03.json").read_text())
    assert doc["period"] == {"label": "2024-03", "from": "2024-03-01",
                             "to_exclusive": "2024-04-01", "timezone": "UTC"}  # fmt: skip
    assert sorted(doc["files"]) == sorted(p.name for p in folder.iterdir())
    # The same figures as `meterbook usage` (224 CPU hours of astro, 4 of bio).
    with (folder / "usage-2024-03-by_project.csv").open() as read:
        rows = list(csv.DictReader(read))
    assert [(r["account"], float(r["cpu_hours"])) for r in rows] == [
        ("astro", 224.0), ("bio", 4.0), ("total", 228.0)
    ]  # fmt: skip
    code, usage_out, _ = run(capsys, "usage", "--period", "2024-03", "--format", "json")
    assert json.loads(usage_out)["total"]["cpu_hours"] == 228.0
    sources = {s["name"]: s["complete_through"] for s in doc["sources"]}
    assert sources and all(v is not None and v.startswith("2024-03") for v in sources.values())
    # Again: the new report replaces the old one, which moves to the archive.
    code, _, _ = run(capsys, "report", "usage", "--period", "2024-03", "--format", "csv",
                     "--out", "out")  # fmt: skip
    assert code == 0
    assert not (folder / "usage-2024-03.json").exists()
    archived = list((workdir / "out" / "archive" / "usage" / "2024-03").iterdir())
    assert len(archived) == 1 and (archived[0] / "usage-2024-03.json").exists()
    assert not [p for p in (workdir / "out" / "usage").iterdir() if p.name.startswith(".")]


def test_a_failed_format_keeps_the_previous_report(
    workdir: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:  # fmt: skip
    _ledger(capsys)
    assert run(capsys, "report", "usage", "--period", "2024-03", "--format", "csv")[0] == 0
    before = sorted(p.name for p in (workdir / "reports" / "usage" / "2024-03").iterdir())
    config = workdir / "meterbook.toml"
    text = config.read_text()
    assert '# browser = "chromium"' in text  # meterbook init writes a [reports] section
    config.write_text(text.replace('# browser = "chromium"', 'browser = "no-such-browser"'))
    code, _, err = run(capsys, "report", "usage", "--period", "2024-03", "--format", "csv,pdf")
    assert code != 0 and "'no-such-browser' is not an executable" in err
    assert len(err.strip().splitlines()) == 1
    after = sorted(p.name for p in (workdir / "reports" / "usage" / "2024-03").iterdir())
    assert after == before and not (workdir / "reports" / "archive").exists()
    assert not [p for p in (workdir / "reports" / "usage").iterdir() if p.name != "2024-03"]


def test_named_reports_and_list(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _ledger(capsys)
    config = workdir / "meterbook.toml"
    text = config.read_text().replace('directory = "reports"', 'directory = "published"')
    config.write_text(
        text
        + """
[reports.march-usage]
type = "usage"
period = "2024-03"
days = 15
formats = "csv,json"
title = "First half of March"
"""
    )
    code, out, err = run(capsys, "report", "run", "march-usage")
    assert code == 0, err
    folder = workdir / "published" / "usage" / "2024-03-d15"
    doc = json.loads((folder / "usage-2024-03-d15.json").read_text())
    assert (doc["period"]["from"], doc["period"]["to_exclusive"]) == ("2024-03-01", "2024-03-16")
    code, out, _ = run(capsys, "report", "list", "--format", "json")
    listed = {r["name"]: r for r in json.loads(out)}
    assert {"usage", "spend", "io", "utilisation", "trends"} <= set(listed)
    assert listed["march-usage"]["kind"] == "named"
    assert listed["march-usage"]["period"] == "2024-03 --days 15"
    code, _, err = run(capsys, "report", "run", "nope")
    assert code != 0 and "unknown report 'nope' (march-usage)" in err


def test_errors_are_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    _ledger(capsys)
    for args, message in (
        (("--format", "csv,gif"), "unknown format 'gif'"),
        (("--period", "fortnight"), "is not a period"),
        (("--period", "2024-02", "--days", "30"), "only 29 days"),
    ):
        code, _, err = run(capsys, "report", "usage", *args)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1


def test_named_report_sent_to_its_recipients(
    workdir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.delivery.servers import hook_server

    _ledger(capsys)
    config = workdir / "meterbook.toml"
    config.write_text(
        config.read_text()
        + """
[delivery]
base_delay = 0.01

[recipients.ops]
kind = "webhook"
url_env = "MB_TEST_OPS_HOOK"

[reports.march]
type = "usage"
period = "2024-03"
formats = "json"
send_to = ["ops"]
"""
    )
    code, _, err = run(capsys, "report", "usage", "--period", "2024-03", "--send")
    assert code != 0 and "name the recipients with --recipient" in err
    code, _, err = run(capsys, "report", "usage", "--period", "2024-03", "--recipient", "nope")
    assert code != 0 and "no recipient 'nope'" in err
    with hook_server() as hook:
        monkeypatch.setenv("MB_TEST_OPS_HOOK", hook.url("/ops"))
        code, out, err = run(capsys, "report", "run", "march", "--send")
        assert code == 0, err
        assert "sent to ops by webhook (1 attempt)" in out
        assert len(hook.requests) == 1 and "2024-03" in hook.requests[0][1]["subject"]
        hook.statuses = [500] * 10
        code, out, err = run(capsys, "report", "run", "march", "--send")
    assert code == 8 and "not delivered to ops" in err
