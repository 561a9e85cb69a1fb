"""The command line as a user meets it: outputs, formats, one-line errors, exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from meterbook import __version__
from meterbook.cli import cli, main
from tests.conftest import DATA, shared


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("MB_CONFIG", "MB_DATABASE_URL", "MB_TIMEZONE", "MB_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", commands(cli), ids=lambda p: " ".join(p) or "meterbook")
def test_every_command_has_help_with_examples(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0 and "Usage: meterbook" in out
    assert "Example" in out, f"{' '.join(path)} --help shows no example"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"meterbook, version {__version__}")


def test_python_dash_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "meterbook", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in done.stdout


def test_init_import_usage(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init")
    assert code == 0 and "meterbook.toml: written" in out and "created (schema" in out
    assert (workdir / "meterbook.db").exists()
    code, out, _ = run(capsys, "init")
    assert "exists, kept" in out and "up to date" in out
    code, out, _ = run(capsys, "import", "slurm", str(DATA / "xdmod-quirks.log"))
    assert code == 0
    assert "5 inserted, 0 updated, 0 unchanged, 3 rejected" in out
    assert "line 7: Start: invalid time 'soon'" in out
    code, out, _ = run(capsys, "usage", "--period", "2024-03", "--by", "user")
    assert code == 0 and "alice" in out and "224.00" in out and "total" in out
    code, out, _ = run(capsys, "usage", "--period", "2024-03", "--by", "account", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [(r["account"], r["cpu_hours"]) for r in table] == [("astro", "224.0"), ("bio", "4.0")]
    code, out, _ = run(capsys, "usage", "--period", "2024-03", "--format", "json")
    data = json.loads(out)
    assert data["total"]["gpu_hours"] == 25.0 and data["period"]["label"] == "2024-03"


def test_imports_and_rejects(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "init")
    run(capsys, "import", "slurm", str(DATA / "xdmod-quirks.log"))
    code, out, _ = run(capsys, "imports", "--format", "json")
    assert code == 0
    runs = json.loads(out)
    assert runs[0]["status"] == "ok" and runs[0]["rejected"] == 3
    _, out, _ = run(capsys, "imports", "rejects", str(runs[0]["id"]), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["line"] for r in rows] == ["6", "7", "8"] and rows[0]["raw"].startswith("9006|")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("usage",), 3, "no database here: run `meterbook init`"),
        (("import", "slurm", "missing.log"), 4, "missing.log: cannot open"),
        (("usage", "--period", "2024-13"), 2, "--period: '2024-13' is not a month"),
        (("imports", "rejects", "42"), 2, "no import run 42"),
        (("--db", "postgresql+psycopg://nobody@127.0.0.1:1/x", "usage"), 3, "cannot connect"),
    ],
)
def test_errors_are_one_line(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    if args[0] != "usage" or "--period" in args:
        run(capsys, "init")
    got, _, err = run(capsys, *args)
    assert got == code
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_strict_and_all_rejected(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "init")
    code, _, err = run(capsys, "import", "slurm", str(DATA / "xdmod-quirks.log"), "--strict")
    assert code == 6 and "line 6" in err and "nothing was imported" in err
    junk = workdir / "junk.log"
    junk.write_text("not sacct\n")
    code, _, err = run(capsys, "import", "slurm", str(junk))
    assert code == 4 and "every line was rejected" in err


def test_stdin_and_json(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "init")
    monkeypatch.setattr(sys, "stdin", io.StringIO((DATA / "sacct-parsable2-local.txt").read_text()))
    code, out, _ = run(
        capsys, "import", "slurm", "-", "--cluster", "lab", "--timezone", "Europe/Berlin", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["inserted"] == 3
    assert result["skipped"] == {"job steps (folded into their job)": 3, "repeated header lines": 1}
    code, _, err = run(capsys, "import", "slurm", "-", "--timezone", "Mars/Base")
    assert code == 2 and "unknown time zone" in err


def test_configuration_and_environment(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = workdir / "elsewhere"
    other.mkdir()
    run(capsys, "--config", str(other / "meterbook.toml"), "init")
    assert (other / "meterbook.db").exists()
    monkeypatch.setenv("MB_CONFIG", str(other / "meterbook.toml"))
    code, out, _ = run(capsys, "db", "status")
    assert code == 0 and str(other / "meterbook.db") in out
    monkeypatch.setenv("MB_DATABASE_URL", f"sqlite:///{workdir / 'env.db'}")
    code, _, err = run(capsys, "usage")
    assert code == 3 and "env.db: no database here" in err


def test_swf_and_rebuild(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "init")
    code, out, _ = run(capsys, "import", "swf", str(shared("swf", "NASA-iPSC-1993-3.1-cln.swf.gz")))
    assert code == 0 and "18,239 inserted" in out
    code, out, _ = run(capsys, "usage", "--period", "1993", "--format", "json")
    cpu = json.loads(out)["total"]["cpu_hours"]
    code, out, _ = run(capsys, "db", "rebuild-rollups")
    assert code == 0 and "18,239 records" in out
    code, out, _ = run(capsys, "usage", "--period", "1993", "--format", "json")
    assert json.loads(out)["total"]["cpu_hours"] == cpu


def test_reference_figures_through_the_cli(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "init")
    run(capsys, "import", "slurm", str(shared("slurm", "xdmod-phillips.log")))
    code, out, _ = run(
        capsys, "usage", "--from", "2016-12-22", "--to", "2017-01-01", "--format", "json"
    )
    assert code == 0
    total = json.loads(out)["total"]
    assert (total["cpu_hours"], total["gpu_hours"], total["node_hours"], total["wall_hours"]) == (
        11767.9883,
        506.9128,
        1344.8686,
        438.8203,
    )


def test_demo(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--jobs", "3000", "--dir", "demo")
    assert code == 0
    assert "3,000 inserted" in out and "usage by month" in out and "2026-09" in out
    code, out, _ = run(capsys, "demo", "--jobs", "3000", "--dir", "demo")
    assert "0 inserted, 0 updated, 3,000 unchanged" in out


def test_a_real_pipe(workdir: Path) -> None:
    """stdin is read by the importing process itself (a reader process would get /dev/null)."""
    meterbook = [sys.executable, "-m", "meterbook"]
    subprocess.run([*meterbook, "init"], check=True, capture_output=True)
    done = subprocess.run(
        [*meterbook, "import", "slurm", "-", "--json"],
        input=(DATA / "xdmod-quirks.log").read_text(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["inserted"] == 5


def test_init_never_writes_a_password(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{workdir / 'x.db'}"
    secret_url = "postgresql://bob:s3cret@127.0.0.1:1/x"
    # The configuration is written before the database is reached (which fails here).
    code, out, err = run(capsys, "--db", secret_url, "init")
    assert "the password is not written" in out and code == 3
    text = (workdir / "meterbook.toml").read_text()
    assert "s3cret" not in text and "postgresql://bob@127.0.0.1:1/x" in text
    assert "s3cret" not in err
    (workdir / "meterbook.toml").unlink()
    assert run(capsys, "--db", url, "init")[0] == 0


def test_json_with_groups_and_top_with_time(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "init")
    run(capsys, "import", "slurm", str(DATA / "xdmod-quirks.log"))
    code, out, _ = run(
        capsys,
        "usage",
        "--period",
        "2024-03",
        "--by",
        "user",
        "--by",
        "day",
        "--top",
        "1",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert code == 0 and data["total"]["cpu_hours"] == 228.0 and "user" not in data["total"]
    # The largest user, with each of its days.
    assert {(r["user"], r["day"]) for r in data["rows"]} == {
        ("alice", "2024-03-01"),
        ("alice", "2024-03-02"),
    }


def test_bad_bytes_on_stdin(workdir: Path) -> None:
    meterbook = [sys.executable, "-m", "meterbook"]
    subprocess.run([*meterbook, "init"], check=True, capture_output=True)
    line = (DATA / "xdmod-quirks.log").read_text().splitlines()[0].replace("|sim", "|s\xe9m")
    done = subprocess.run(
        [*meterbook, "import", "slurm", "-", "--json"],
        input=line.encode("latin-1") + b"\n",
        capture_output=True,
        check=True,
    )
    assert json.loads(done.stdout)["inserted"] == 1
