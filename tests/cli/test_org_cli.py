"""`meterbook org` as a user meets it, on each database (through --db)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from meterbook.settings import Settings
from meterbook.store.core import open_store
from meterbook.store.schema import (
    divisions,
    environments,
    projects,
    providers,
    teams,
    usage_records,
)
from meterbook.store.schema_billing import cost_lines
from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)

#: Runs meterbook on the test ledger: (exit code, stdout, stderr).
Mb = Callable[..., tuple[int, str, str]]

KINDS = ("divisions", "teams", "providers", "environments", "projects")


@pytest.fixture
def mb(
    db_url: str,
    workdir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> Mb:
    """``mb("org", ...)``: run meterbook on the test ledger; (exit code, stdout, stderr)."""

    def call(*args: str) -> tuple[int, str, str]:
        return run(capsys, "--db", db_url, *args)

    return call


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = open_store(Settings(database_url=db_url))
    yield store.engine
    store.engine.dispose()


def ok(mb: Mb, *args: str) -> str:
    code, out, err = mb(*args)
    assert (code, err) == (0, ""), f"{args}: {err}"
    return out


def sample(mb: Mb) -> None:
    ok(mb, "org", "divisions", "add", "research", "--description", "R&D")
    ok(mb, "org", "divisions", "add", "platform")
    ok(mb, "org", "teams", "add", "ml", "--division", "research")
    ok(mb, "org", "teams", "add", "vision", "--division", "research")
    ok(mb, "org", "providers", "add", "aws", "--tax-rate", "13", "--currency", "usd")
    ok(mb, "org", "providers", "add", "gcp", "--kind", "cloud", "--tax-rate", "7.25")
    ok(mb, "org", "environments", "add", "PROD", "--description", "Production")
    ok(mb, "org", "projects", "add", "atlas", "--provider", "aws", "--team", "ml",
       "--external-id", "1234-5678")  # fmt: skip


def test_add_edit_archive_remove_each_kind(mb: Mb) -> None:
    out = ok(mb, "org", "divisions", "add", "research", "--description", "R&D")
    assert out == "added division 'research'\n"
    out = ok(mb, "org", "teams", "add", "ml", "--division", "research")
    assert out == "added team 'ml' (division 'research')\n"
    out = ok(mb, "org", "providers", "add", "aws", "--tax-rate", "13", "--currency", "usd")
    assert out == "added provider 'aws' (kind cloud, tax rate 13 %, currency USD)\n"
    out = ok(mb, "org", "projects", "add", "atlas", "--provider", "aws", "--team", "ml")
    assert out == "added project 'atlas' (external id 'atlas', provider 'aws', team 'ml')\n"
    out = ok(mb, "org", "environments", "add", "PROD")
    assert out == "added environment 'PROD'\n"

    out = ok(mb, "org", "divisions", "edit", "research", "--name", "rnd")
    assert out == "edited division 'rnd', renamed from 'research'\n"
    out = ok(mb, "org", "teams", "edit", "ml", "--description", "Machine learning")
    assert out == "edited team 'ml' (division 'rnd')\n"
    out = ok(mb, "org", "teams", "edit", "ml", "--division", "")
    assert out == "edited team 'ml'\n"
    out = ok(mb, "org", "teams", "edit", "ml", "--division", "")
    assert out == "team 'ml' unchanged\n"
    out = ok(mb, "org", "providers", "edit", "aws", "--tax-rate", "7.5", "--kind", "hpc",
             "--last-load", "2025-02-13 10:00")  # fmt: skip
    assert out == "edited provider 'aws' (kind hpc, tax rate 7.5 %, currency USD)\n"
    out = ok(mb, "org", "projects", "edit", "atlas", "--external-id", "42")
    assert out == "edited project 'atlas' (external id '42', provider 'aws', team 'ml')\n"
    out = ok(mb, "org", "environments", "edit", "PROD", "--name", "prod", "--description", "P")
    assert out == "edited environment 'prod', renamed from 'PROD'\n"

    out = ok(mb, "org", "teams", "archive", "ml")
    assert out == "archived team 'ml'\n"
    assert ok(mb, "org", "teams", "archive", "ml") == "team 'ml' was archived\n"
    assert ok(mb, "org", "teams", "list") == "no teams (archived ones: --all)\n"
    assert "ml" in ok(mb, "org", "teams", "list", "--all")
    assert ok(mb, "org", "teams", "unarchive", "ml") == "unarchived team 'ml'\n"
    assert ok(mb, "org", "teams", "unarchive", "ml") == "team 'ml' was not archived\n"

    assert ok(mb, "org", "projects", "remove", "atlas") == "removed project 'atlas'\n"
    assert ok(mb, "org", "teams", "remove", "ml") == "removed team 'ml'\n"
    assert ok(mb, "org", "divisions", "remove", "rnd") == "removed division 'rnd'\n"
    assert ok(mb, "org", "providers", "remove", "aws") == "removed provider 'aws'\n"
    assert ok(mb, "org", "environments", "remove", "prod") == "removed environment 'prod'\n"
    for kind in KINDS:
        assert ok(mb, "org", kind, "list", "--format", "json") == "[]\n"


def test_list_formats(mb: Mb) -> None:
    sample(mb)
    ok(mb, "org", "divisions", "archive", "platform")
    out = ok(mb, "org", "projects", "list")
    assert "Projects" in out and "1234-5678" in out and "archived" not in out
    out = ok(mb, "org", "divisions", "list", "--all")
    assert "platform" in out and "true" in out and "archived" in out
    assert "platform" not in ok(mb, "org", "divisions", "list")
    rows = list(csv.DictReader(io.StringIO(ok(mb, "org", "providers", "list", "--format", "csv"))))
    assert rows == [
        {"name": "aws", "kind": "cloud", "tax_rate": "13", "currency": "USD", "last_load": "",
         "description": "", "archived": "false"},
        {"name": "gcp", "kind": "cloud", "tax_rate": "7.25", "currency": "", "last_load": "",
         "description": "", "archived": "false"},
    ]  # fmt: skip
    data = json.loads(ok(mb, "org", "teams", "list", "--format", "json"))
    assert [(t["name"], t["division"], t["archived"]) for t in data] == [
        ("ml", "research", False),
        ("vision", "research", False),
    ]
    data = json.loads(ok(mb, "org", "providers", "list", "--format", "json"))
    assert data[0]["tax_rate"] == 13 and data[1]["tax_rate"] == 7.25
    assert datetime.fromisoformat(data[0]["created_at"]).year >= 2025
    data = json.loads(ok(mb, "org", "divisions", "list", "--all", "--format", "json"))
    assert [(d["name"], d["archived"]) for d in data] == [("platform", True), ("research", False)]


ERRORS = [
    (("teams", "add", "nlp", "--division", "nope"), 2, "division 'nope' does not exist"),
    (("teams", "add", "ml"), 7, "team 'ml' already exists"),
    (("teams", "add", ""), 2, "name: must not be empty"),
    (("teams", "edit", "nlp", "--description", "x"), 2, "team 'nlp' does not exist"),
    (("teams", "edit", "ml", "--name", "vision"), 7, "team 'vision' already exists"),
    (("teams", "remove", "nlp"), 2, "team 'nlp' does not exist"),
    (("teams", "archive", "nlp"), 2, "team 'nlp' does not exist"),
    (("providers", "add", "x", "--tax-rate", "100"), 2,
     "tax_rate: must be a number between 0 and 100"),
    (("providers", "add", "x", "--tax-rate", "-0.5"), 2,
     "tax_rate: must be a number between 0 and 100"),
    (("providers", "add", "x", "--tax-rate", "thirteen"), 2,
     "tax_rate: must be a number between 0 and 100"),
    (("providers", "add", "x", "--tax-rate", "0.0000001"), 2, "tax_rate: at most 6 decimals"),
    (("providers", "add", "x", "--currency", "dollars"), 2,
     "currency: must be 3 letters (an ISO 4217 code such as USD)"),
    (("providers", "edit", "aws", "--kind", ""), 2, "kind: required"),
    (("providers", "edit", "aws", "--last-load", "soon"), 2,
     "last_load: must be a date and time such as 2025-02-13T10:00:00 (UTC, or with an offset)"),
    (("projects", "add", "p", "--team", "ml"), 2, "provider: required"),
    (("projects", "add", "p", "--provider", "aws"), 2, "team: required"),
    (("projects", "add", "p", "--provider", "aws", "--team", "ml2"), 2,
     "team 'ml2' does not exist"),
    (("projects", "add", "p", "--provider", "azure", "--team", "ml"), 2,
     "provider 'azure' does not exist"),
    (("projects", "add", "p", "--provider", "aws", "--team", "ml", "--external-id",
      "1234-5678"), 7,
     "external_id: project 'atlas' already has external id '1234-5678' at provider 'aws'"),
    (("projects", "edit", "atlas", "--team", ""), 2, "team: required"),
    (("environments", "add", "PROD"), 7, "environment 'PROD' already exists"),
    (("divisions", "remove", "research"), 7,
     "cannot remove division 'research': 2 teams refer to it; archive it instead "
     "(meterbook org divisions archive research)"),
    (("teams", "remove", "ml"), 7,
     "cannot remove team 'ml': 1 project refers to it; archive it instead "
     "(meterbook org teams archive ml)"),
    (("providers", "remove", "aws"), 7,
     "cannot remove provider 'aws': 1 project refers to it; archive it instead "
     "(meterbook org providers archive aws)"),
    (("teams", "import", "missing.csv"), 4, "missing.csv: cannot open"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "code", "message"), ERRORS, ids=[e[2][:50] for e in ERRORS])
def test_errors_are_one_line(mb: Mb, args: tuple[str, ...], code: int, message: str) -> None:
    sample(mb)
    got, out, err = mb("org", *args)
    assert got == code and out == ""
    assert err.startswith(f"meterbook: error: {message}") and err.count("\n") == 1, err


def test_edit_needs_something_to_change(mb: Mb) -> None:
    sample(mb)
    code, _, err = mb("org", "teams", "edit", "ml")
    assert code == 2 and "nothing to change: give --name or a field option" in err


def test_remove_refused_while_data_refers(mb: Mb, engine: Engine) -> None:
    sample(mb)
    ok(mb, "org", "projects", "add", "orion", "--provider", "gcp", "--team", "vision")
    with engine.begin() as conn:
        atlas = conn.execute(projects.select().where(projects.c.name == "atlas")).one()
        conn.execute(
            usage_records.insert(),
            [
                {"source_id": 1, "record_key": f"job-{i}", "row_hash": i, "project_id": atlas.id,
                 "workload_type": "batch", "state": "COMPLETED"}
                for i in range(3)
            ],
        )  # fmt: skip
        conn.execute(
            cost_lines.insert(),
            [
                {"provider_id": atlas.provider_id, "line_key": f"line-{i}", "row_hash": i,
                 "project_id": atlas.id, "project_ext": "1234-5678", "charge_category": "usage",
                 "billed_cost": Decimal("1.5"), "currency": "USD", "start_ts": 1.7e9,
                 "end_ts": 1.7e9 + 3600}
                for i in range(1204)
            ],
        )  # fmt: skip
    code, out, err = mb("org", "projects", "remove", "atlas")
    assert (code, out) == (7, "")
    assert err == (
        "meterbook: error: cannot remove project 'atlas': 1,204 cost lines and 3 usage records "
        "refer to it; archive it instead (meterbook org projects archive atlas)\n"
    )
    code, _, err = mb("org", "providers", "remove", "aws")
    assert code == 7 and "1 project and 1,204 cost lines refer to it" in err
    assert "atlas" in ok(mb, "org", "projects", "list")
    assert ok(mb, "org", "projects", "archive", "atlas") == "archived project 'atlas'\n"
    assert "atlas" not in ok(mb, "org", "projects", "list")
    # Nothing refers to orion.
    assert ok(mb, "org", "projects", "remove", "orion") == "removed project 'orion'\n"


def _wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (projects, teams, divisions, providers, environments):
            conn.execute(table.delete())


def test_csv_round_trip(mb: Mb, engine: Engine, workdir: Path) -> None:  # noqa: F811
    sample(mb)
    ok(mb, "org", "teams", "add", "solo", "--description", 'with "quotes", commas\nand lines')
    ok(mb, "org", "divisions", "archive", "platform")
    ok(mb, "org", "providers", "edit", "gcp", "--last-load", "2025-02-13T10:00:00+01:00")
    exported = {}
    for kind in KINDS:
        out = ok(mb, "org", kind, "export", f"{kind}.csv")
        assert out.startswith("exported ") and out.endswith(f" to {kind}.csv\n")
        exported[kind] = (workdir / f"{kind}.csv").read_text(encoding="utf-8")
        assert ok(mb, "org", kind, "export") == exported[kind]
        assert ok(mb, "org", kind, "export", "-") == exported[kind]
    assert exported["providers"].splitlines()[2] == "gcp,cloud,7.25,,2025-02-13 09:00:00,,false"
    assert ok(mb, "org", "teams", "export", "teams.csv") == "exported 3 teams to teams.csv\n"
    _wipe(engine)
    for kind in KINDS:
        assert ok(mb, "org", kind, "list", "--all", "--format", "json") == "[]\n"
    for kind in KINDS:
        out = ok(mb, "org", kind, "import", f"{kind}.csv")
        assert out.startswith(f"imported {kind} from {kind}.csv: ")
        assert out.endswith(" added, 0 updated, 0 unchanged\n")
    for kind in KINDS:
        assert ok(mb, "org", kind, "export") == exported[kind]
    out = ok(mb, "org", "teams", "import", "teams.csv")
    assert out == "imported teams from teams.csv: 0 added, 0 updated, 3 unchanged\n"


def test_import_from_standard_input(mb: Mb, monkeypatch: pytest.MonkeyPatch) -> None:
    sample(mb)
    monkeypatch.setattr("sys.stdin", io.StringIO("name,division\nml,platform\nnlp,research\n"))
    out = ok(mb, "org", "teams", "import", "-")
    assert out == "imported teams from <stdin>: 1 added, 1 updated, 0 unchanged\n"
    data = json.loads(ok(mb, "org", "teams", "list", "--format", "json"))
    assert [(t["name"], t["division"]) for t in data] == [
        ("ml", "platform"),
        ("nlp", "research"),
        ("vision", "research"),
    ]


def test_bad_csv_line_writes_nothing(mb: Mb, workdir: Path) -> None:  # noqa: F811
    sample(mb)
    before = {kind: ok(mb, "org", kind, "export") for kind in KINDS}
    (workdir / "providers.csv").write_text(
        "name,kind,tax_rate,currency\n"
        "aws,cloud,20,EUR\n"  # would update
        "azure,cloud,21,EUR\n"  # would add
        "ibm,cloud,120,USD\n",
        encoding="utf-8",
    )
    code, out, err = mb("org", "providers", "import", "providers.csv")
    assert (code, out) == (4, "")
    assert err == (
        "meterbook: error: providers.csv: line 4: tax_rate: must be a number between 0 and 100\n"
    )
    (workdir / "projects.csv").write_text(
        "name,provider,team,external_id\nnova,aws,ml,1\nvega,aws,ml,1\n", encoding="utf-8"
    )
    code, _, err = mb("org", "projects", "import", "projects.csv")
    assert code == 7
    assert err == (
        "meterbook: error: projects.csv: line 3: external_id: project 'nova' (line 2) already "
        "has external id '1' at provider 'aws'\n"
    )
    (workdir / "teams.csv").write_bytes(b"name,division\nml,research\n\xff\xfe,research\n")
    code, _, err = mb("org", "teams", "import", "teams.csv")
    assert (code, err) == (4, "meterbook: error: teams.csv: not UTF-8 text\n")
    (workdir / "teams.csv").write_text("\ufeffname,division\nnlp,nowhere\n", encoding="utf-8")
    code, _, err = mb("org", "teams", "import", "teams.csv")
    assert (code, err) == (
        4,
        "meterbook: error: teams.csv: line 2: division 'nowhere' does not exist\n",
    )
    assert {kind: ok(mb, "org", kind, "export") for kind in KINDS} == before
