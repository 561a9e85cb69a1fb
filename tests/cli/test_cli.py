"""The command line as a user meets it: outputs, formats, one-line errors, exit codes."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import click
import pytest

from meterbook import __version__, auth, org
from meterbook import alerts as alerts_lib
from meterbook.cli import cli, main
from meterbook.cli.lazy import LazyGroup
from meterbook.periods import parse_period
from meterbook.settings import load_settings
from meterbook.store.core import open_store
from meterbook.store.queries.spend import spend_summary
from meterbook.store.queries.usage import usage_summary
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
    """Every command path, found as the help finds them (lazy groups load their modules)."""
    found = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
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


def table(out: str, title: str) -> list[list[str]]:
    """The cells of the rows (and footer) of the table printed under ``title``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("└"):
            return rows
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    raise AssertionError(f"table {title!r} has no end")


def amount(cell: str) -> Decimal:
    return Decimal(cell.replace(",", ""))


def cents(printed: str, exact: Decimal) -> bool:
    """``printed`` is ``exact`` to the cent (a double's last digits aside)."""
    return abs(amount(printed) - exact) <= Decimal("0.0051")


def test_demo(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meterbook.cli import demo

    code, out, _ = run(capsys, "demo", "--jobs", "3000", "--dir", "demo", "--no-serve")
    assert code == 0
    assert "3,000 inserted" in out and "usage by month" in out and "2026-09" in out

    # The billing part: what the generated files hold, read back with exact decimals.
    files = sorted((workdir / "demo" / "data" / "billing").glob("*.csv.gz"))
    assert [f.name for f in files] == [f"focus-{m:%Y-%m-%d}.csv.gz" for m in demo.BILLING_MONTHS]
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    taxed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # charges the tax rate is on
    accounts: dict[str, Decimal] = defaultdict(Decimal)  # October, by sub-account
    accounts_taxed: dict[str, Decimal] = defaultdict(Decimal)
    lines = 0
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as read:
            for row in csv.DictReader(read):
                key = (row["BillingPeriodStart"][:7], row["ProviderName"])
                cost = Decimal(row["BilledCost"])
                billed[key] += cost
                if row["ChargeCategory"] != "Tax":
                    taxed[key] += cost
                if key[0] == demo.SPEND_MONTH:
                    accounts[row["SubAccountId"]] += cost
                    if key[1] == demo.TAX_PROVIDER and row["ChargeCategory"] != "Tax":
                        accounts_taxed[row["SubAccountId"]] += cost
                lines += 1
    assert lines == len(files) * demo.BILLING_LINES
    assert f"imported billing files: 3 read, {lines:,} inserted, 0 updated, 0 unchanged" in out
    # By month and provider: the files' billed cost, the tax the provider's rate adds, totals.
    rate = Decimal(demo.TAX_RATE) / 100
    rows = table(out, "Spend by month and provider")
    *body, footer = rows
    assert [tuple(r[:2]) for r in body] == sorted(billed)
    for (_, provider, files_cost, added, total, _), key in zip(body, sorted(billed), strict=True):
        tax = taxed[key] * rate if provider == demo.TAX_PROVIDER else Decimal(0)
        assert cents(files_cost, billed[key]) and cents(added, tax)
        assert cents(total, billed[key] + tax)
    all_billed = sum(billed.values(), Decimal(0))
    all_tax = sum((v for (_, p), v in taxed.items() if p == demo.TAX_PROVIDER), Decimal(0)) * rate
    assert footer[0] == "total" and all_tax > 0 and cents(footer[3], all_tax)
    assert cents(footer[2], all_billed) and cents(footer[4], all_billed + all_tax)
    # Every cost of the period is in some workload group.
    assert cents(table(out, "Top workload groups")[-1][2], all_billed + all_tax)
    # The sub-accounts that no project claims are listed with their cost, and their October
    # costs are the Unallocated row (with the tax on the provider's part).
    store = open_store(load_settings(workdir / "demo" / "meterbook.toml", discover=False))
    try:
        with store.engine.connect() as conn:
            claimed = {e.values["external_id"] for e in org.list_entries(conn, "projects")}
    finally:
        store.engine.dispose()
    unclaimed = {a: cost for a, cost in accounts.items() if a not in claimed}
    assert 0 < len(unclaimed) < len(accounts) // 4
    listed = table(out, "Unallocated sub-accounts")
    assert {r[1] for r in listed} == set(unclaimed)
    for _, account, _, _, cost in listed:
        assert cents(cost, unclaimed[account])
    teams = {tuple(r[:2]): r for r in table(out, f"Spend by division and team, {demo.SPEND_MONTH}")}
    tax = sum((accounts_taxed[a] for a in unclaimed), Decimal(0)) * rate
    assert cents(teams[("Unallocated", "Unallocated")][3], sum(unclaimed.values()) + tax)
    assert "meterbook spend unallocated --period" in out
    # The forecast: October (the files' last month) is all actuals, the billed cost of each
    # provider with its tax; November is forecast, inside its intervals.
    forecasts = table(out, "Spend forecast by provider")
    assert sorted({r[0] for r in forecasts}) == sorted({p for _, p in billed})
    for provider, method, month, actual, point, lo80, hi80, lo95, hi95 in forecasts:
        assert method in ("dubweb", "ets", "naive")
        key = (month, provider)
        if month == demo.SPEND_MONTH:
            tax = taxed[key] * rate if provider == demo.TAX_PROVIDER else Decimal(0)
            assert cents(actual, billed[key] + tax) and actual == point == lo95 == hi95
        else:
            assert month == "2026-11" and amount(actual) == 0
            assert amount(lo95) <= amount(lo80) <= amount(hi80) <= amount(hi95)
            assert amount(lo95) <= amount(point) <= amount(hi95)

    # The monthly reports of October 2026, where the demo says, with the ledger's totals.
    reports = workdir / "demo" / "reports"
    for kind in ("usage", "io", "spend", "utilisation", "trends"):
        folder = reports / kind / "2026-10"
        assert f"{Path('demo') / 'reports' / kind / '2026-10'}/" in out
        for ext in ("html", "pdf", "xlsx", "json"):
            assert (folder / f"{kind}-2026-10.{ext}").stat().st_size > 0
    store = open_store(load_settings(workdir / "demo" / "meterbook.toml", discover=False))
    try:
        with store.engine.connect() as conn:
            october = usage_summary(conn, parse_period("2026-10")).total
            # As `meterbook spend --period 2026-10 --by team` totals it.
            billed = spend_summary(conn, parse_period("2026-10"), ("team",)).total.billed_cost
    finally:
        store.engine.dispose()
    with (reports / "usage" / "2026-10" / "usage-2026-10-by_user.csv").open() as read:
        total = list(csv.DictReader(read))[-1]
    assert total["user"] == "total" and int(total["jobs_started"]) == october.jobs_started
    assert float(total["cpu_hours"]) == pytest.approx(october.cpu_hours, rel=1e-9)
    spend_doc = json.loads((reports / "spend" / "2026-10" / "spend-2026-10.json").read_text())
    by_team = next(t for s in spend_doc["sections"] for t in s["tables"] if t["name"] == "by_team")
    assert Decimal(by_team["total"]["billed_cost"]) == billed

    # Again: nothing is added, every line is unchanged, the same tables.
    code, again, _ = run(capsys, "demo", "--jobs", "3000", "--dir", "demo", "--no-serve")
    assert code == 0 and "0 inserted, 0 updated, 3,000 unchanged" in again
    assert "org model and match rules: already there, kept" in again
    assert f"3 read, 0 inserted, 0 updated, {lines:,} unchanged, 0 rejected" in again

    def spend_part(text: str) -> str:
        return text[text.index("Spend by month and provider") : text.index("Alerts as of")]

    assert spend_part(again) == spend_part(out)
    # Budgets, the allocation and the alerts: set once, raised once.
    assert "finance: " in out and "budgets, allocation climate-cpu-2026" in out
    assert "finance: account teams, budgets and the allocation already there, kept" in again
    assert "Alerts as of 2026-10-31" in out and " 0 already raised" in out
    assert re.search(r"\n0 new, [1-9][0-9,]* already raised", again)
    store = open_store(load_settings(workdir / "demo" / "meterbook.toml", discover=False))
    try:
        with store.engine.connect() as conn:
            raised = alerts_lib.list_alerts(conn)
            admin = auth.find_account(conn, "admin")
    finally:
        store.engine.dispose()
    assert {a.rule for a in raised} >= {"budget", "allocation", "gpu-per-user"}
    # The dashboard's sign-in: a new password at each run, printed.
    first = re.search(r"sign in as admin / (\S+)", out)
    second = re.search(r"sign in as admin / (\S+)", again)
    assert first and second and first.group(1) != second.group(1)
    assert admin is not None and admin.role == "admin"


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


def test_the_lazy_command_table_names_every_command_of_every_module() -> None:
    import importlib
    import pkgutil

    import meterbook.cli as package
    from meterbook.cli import COMMAND_MODULES

    defined: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"meterbook.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            defined[command.name] = info.name
    assert defined == COMMAND_MODULES
    assert cli.list_commands(click.Context(cli)) == sorted(defined)
    assert all(cli.get_command(click.Context(cli), name) is not None for name in defined)
    group = cli.get_command(click.Context(cli), "import")
    assert isinstance(group, LazyGroup)
    assert set(group.lazy) <= set(group.commands)  # each module registered what it promised
    assert group.list_commands(click.Context(group)) == sorted(group.commands)


def test_a_command_runs_without_loading_the_others() -> None:
    code = ("import sys; from meterbook.cli import main\n"
            "try:\n    main(['io', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('meterbook.cli.')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1]
    assert "meterbook.cli.iolog" in loaded
    assert "meterbook.cli.serve" not in loaded and "meterbook.cli.demo" not in loaded
