"""`meterbook import iolog` and `meterbook io ...` as a user meets them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)
from tests.conftest import DATA

SMALL = DATA / "nfsdiostats-small.log"


@pytest.fixture
def ledger(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    run(capsys, "init")
    logs = workdir / "logs"
    logs.mkdir()
    (logs / "nfsdiostats.log").write_bytes(SMALL.read_bytes())
    code, out, _ = run(capsys, "import", "iolog", str(logs), "--settle", "0")
    assert code == 0 and "blocks: 3 inserted" in out and "2 lines rejected" in out
    return logs


def test_import_again_and_archive(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "import", "iolog", str(ledger), "--settle", "0", "--json")
    assert code == 0 and json.loads(out)["inserted"] == 0
    archive = ledger.parent / "archive"
    code, out, _ = run(
        capsys, "import", "iolog", str(ledger), "--settle", "0", "--archive", str(archive)
    )
    assert code == 0 and "archived" in out
    assert [p.name for p in archive.iterdir()] == ["nfsdiostats-2025-03-07.log"]
    assert not (ledger / "nfsdiostats.log").exists()
    # The archived file is known under its new name: nothing is read again.
    code, out, _ = run(capsys, "import", "iolog", str(archive), "--settle", "0", "--json")
    assert json.loads(out)["unchanged"] == 0
    code, _, err = run(capsys, "import", "iolog", str(archive), "--follow", "--archive", "x")
    assert code == 2 and "do not go together" in err


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("stats",), ["blocks", "300,021"]),
        (("users",), ["dave", "300,000", "ueb"]),
        (("machines",), ["gpu03", "login-a11", "itet"]),
        (("user", "alice", "--grain", "hour"), ["gpu03", "[8T, 16T)", "2025-03-07 02:01"]),
        (("machine", "gpu03"), ["dave", "2025-03-07"]),
        (("timeseries", "--grain", "month"), ["2025-03", "300,021", "129,650"]),
        (("patterns",), ["Fri", "01:00"]),
        (("sizes", "--by", "role"), ["guest", "[16K, 32K)"]),
        (("top", "--blocks", "2"), ["last 2 blocks", "dave"]),
        (("history", "--top", "1"), ["carol", "dave", "bob"]),
        (("heavy",), ["dave", "300,000"]),
    ],
)
def test_dashboard_tables(
    ledger: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expect: list[str]
) -> None:
    code, out, _ = run(capsys, "io", *args, "--period", "2025-03")
    assert code == 0
    for text in expect:
        assert text in out, f"{text!r} not in `meterbook io {' '.join(args)}`"


def test_csv_and_json(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "io", "users", "--period", "2025-03", "--format", "csv")
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["dave"]["read ops"] == "300000" and rows["carol"]["write bytes"] == str(
        2 + 38 + 129624 * 2**20
    )
    _, out, _ = run(capsys, "io", "stats", "--period", "2025-03", "--format", "json")
    assert json.loads(out)["sessions"] == 6
    _, out, _ = run(
        capsys, "io", "user", "bob", "--period", "2025-03", "--format", "csv", "--part", "peers"
    )
    assert [r["machine"] for r in csv.DictReader(io.StringIO(out))] == ["gpu10", "login-a11"]
    _, out, _ = run(capsys, "io", "machine", "gpu03", "--period", "2025-03", "--format", "json")
    assert {u["user"] for u in json.loads(out)["users"]} == {"alice", "dave"}


def test_errors(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "io", "user", "nobody", "--period", "2025-03")
    assert code == 2 and "no user 'nobody'" in err
    code, _, err = run(capsys, "import", "iolog", "missing-dir")
    assert code == 4 and "no such file or directory" in err
    code, out, _ = run(capsys, "io", "stats", "--period", "2024-01")
    assert code == 0 and "│ blocks" in out


def test_follow_as_a_service(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """`--follow` imports as the file grows and stops cleanly on SIGTERM (exit code 0)."""
    import signal
    import subprocess
    import sys
    import time

    run(capsys, "init")
    log = workdir / "nfsdiostats.log"
    text = SMALL.read_bytes()
    log.write_bytes(text[: text.index(b"Log: 2025-03-07 03")])
    env = {**__import__("os").environ, "MB_IOLOG_POLL": "0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "meterbook", "import", "iolog", str(log),
                             "--follow", "--settle", "0", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip

    def blocks() -> int:
        _, out, _ = run(capsys, "io", "stats", "--period", "2025-03", "--format", "json")
        return int(json.loads(out)["blocks"])

    deadline = time.monotonic() + 30
    while blocks() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    log.write_bytes(text)
    while blocks() < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out)["inserted"] == 3 and blocks() == 3
