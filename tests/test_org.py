"""The org model library (meterbook.org) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Double,
    Integer,
    Numeric,
    Table,
    func,
    select,
)

from meterbook import org
from meterbook.errors import ConfigError, ConflictError, InputError, MeterbookError
from meterbook.store.core import Store
from meterbook.store.schema import (
    divisions,
    environments,
    projects,
    providers,
    teams,
    usage_records,
)
from meterbook.store.schema_billing import cost_lines

ORDER = ("divisions", "teams", "providers", "environments", "projects")


@pytest.fixture
def conn(store: Store) -> Iterator[Connection]:
    """A connection in a transaction, committed at the end of the test."""
    with store.engine.begin() as connection:
        yield connection


def _sample(conn: Connection) -> None:
    """research > ml, vision; aws (13 %), gcp; projects atlas (aws, ml) and orion (gcp)."""
    org.add(conn, "divisions", "research", description="R&D")
    org.add(conn, "divisions", "platform")
    org.add(conn, "teams", "ml", division="research")
    org.add(conn, "teams", "vision", division="research", description="Computer vision")
    org.add(conn, "providers", "aws", tax_rate="13", currency="usd")
    org.add(conn, "providers", "gcp", kind="cloud", tax_rate=Decimal("7.25"), currency="EUR")
    org.add(conn, "environments", "PROD", description="Production")
    org.add(conn, "projects", "atlas", provider="aws", team="ml", external_id="1234-5678")
    org.add(conn, "projects", "orion", provider="gcp", team="vision")


def _names(conn: Connection, kind: str, archived: bool = False) -> list[str]:
    return [e.name for e in org.list_entries(conn, kind, archived=archived)]


def _minimal_row(table: Table) -> dict[str, Any]:
    """Values for the required columns of ``table`` (no foreign keys among them)."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.nullable or (column.primary_key and column.autoincrement is not False):
            continue
        kind = column.type
        if isinstance(kind, Boolean):
            row[column.name] = False
        elif isinstance(kind, DateTime):
            row[column.name] = datetime(2025, 1, 1)
        elif isinstance(kind, Date):
            row[column.name] = date(2025, 1, 1)
        elif isinstance(kind, Double):
            row[column.name] = 0.0
        elif isinstance(kind, Numeric):
            row[column.name] = Decimal(1)
        elif isinstance(kind, Integer):
            row[column.name] = 0  # refers to nothing
        else:
            length = getattr(kind, "length", None) or 100
            row[column.name] = f"r-{table.name}"[: min(length, 20)]
    return row


def _refer(conn: Connection, table: Table, column: str, id_: int, count: int = 1) -> None:
    """``count`` rows of ``table`` whose ``column`` holds ``id_``."""
    rows = []
    for i in range(count):
        row = _minimal_row(table)
        for key in ("line_key", "record_key", "name", "sub_account", "partition"):
            if key in row:
                row[key] = f"{row[key]}-{i}"
        if "id" in row:
            row["id"] = i + 1
        if "month" in row:  # budgets: one per month, provider and team
            row["month"] = f"2025-{i + 1:02d}"
        rows.append({**row, column: id_})
    conn.execute(table.insert(), rows)


# Adding, listing, editing -------------------------------------------------------------------


def test_add_and_list_with_resolved_names(conn: Connection) -> None:
    _sample(conn)
    assert _names(conn, "divisions") == ["platform", "research"]
    listed = {e.name: e.values for e in org.list_entries(conn, "teams")}
    assert listed == {
        "ml": {"division": "research", "description": None},
        "vision": {"division": "research", "description": "Computer vision"},
    }
    aws, gcp = org.list_entries(conn, "providers")
    assert aws.values == {
        "kind": "cloud",
        "tax_rate": Decimal("13"),
        "currency": "USD",
        "last_load": None,
        "description": None,
    }
    assert gcp.values["tax_rate"] == Decimal("7.25") and gcp.values["currency"] == "EUR"
    atlas, orion = org.list_entries(conn, "projects")
    assert atlas.values == {
        "external_id": "1234-5678",
        "provider": "aws",
        "team": "ml",
        "description": None,
    }
    # The external id is the name unless given.
    assert orion.values["external_id"] == "orion" and orion.values["provider"] == "gcp"
    assert [e.values for e in org.list_entries(conn, "environments")] == [
        {"description": "Production"}
    ]
    entry = org.get(conn, "divisions", "research")
    assert entry.values == {"description": "R&D"} and not entry.archived
    assert isinstance(entry.created_at, datetime) and entry.created_at.tzinfo is None
    assert entry.as_dict()["name"] == "research"


def test_edit_renames_and_changes_fields(conn: Connection) -> None:
    _sample(conn)
    entry, changed = org.edit(conn, "teams", "ml", new_name="ml-ops", division="platform")
    assert changed and entry.name == "ml-ops" and entry.values["division"] == "platform"
    assert _names(conn, "teams") == ["ml-ops", "vision"]
    # The project follows the renamed team (it refers to it by id).
    assert org.get(conn, "projects", "atlas").values["team"] == "ml-ops"
    entry, changed = org.edit(conn, "teams", "ml-ops", division="platform")
    assert not changed
    entry, changed = org.edit(conn, "teams", "ml-ops", division="", description="")
    assert changed and entry.values == {"division": None, "description": None}

    entry, _ = org.edit(conn, "providers", "aws", tax_rate="7.5 %", currency="chf")
    assert entry.values["tax_rate"] == Decimal("7.5") and entry.values["currency"] == "CHF"
    entry, _ = org.edit(conn, "providers", "aws", last_load="2025-02-13T12:30:15.75+02:00")
    assert entry.values["last_load"] == datetime(2025, 2, 13, 10, 30, 15)
    entry, _ = org.edit(conn, "providers", "aws", last_load=datetime(2025, 3, 1, 8), tax_rate="")
    assert entry.values["last_load"] == datetime(2025, 3, 1, 8)
    assert entry.values["tax_rate"] is None
    entry, _ = org.edit(conn, "providers", "aws", kind="saas", tax_rate=0, currency="")
    assert (entry.values["kind"], entry.values["tax_rate"], entry.values["currency"]) == (
        "saas",
        Decimal(0),
        None,
    )
    entry, _ = org.edit(conn, "providers", "gcp", tax_rate=99.999999)
    assert entry.values["tax_rate"] == Decimal("99.999999")

    entry, _ = org.edit(conn, "projects", "atlas", provider="gcp", team="vision")
    assert entry.values == {
        "external_id": "1234-5678",
        "provider": "gcp",
        "team": "vision",
        "description": None,
    }
    entry, _ = org.edit(conn, "environments", "PROD", new_name="prod")
    assert entry.name == "prod" and entry.values == {"description": "Production"}
    # A rename to the same name is no change.
    assert org.edit(conn, "environments", "prod", new_name="prod")[1] is False


def test_projects_from_usage_imports_have_no_provider(conn: Connection) -> None:
    """Importers create projects by name only; they can be given a provider and team later."""
    _sample(conn)
    conn.execute(projects.insert().values(name="astro", archived=False, created_at=datetime.now()))
    astro = org.get(conn, "projects", "astro")
    assert astro.values == {
        "external_id": None,
        "provider": None,
        "team": None,
        "description": None,
    }
    entry, changed = org.edit(conn, "projects", "astro", description="Slurm account")
    assert changed and entry.values["provider"] is None
    entry, _ = org.edit(conn, "projects", "astro", provider="aws", team="ml")
    assert entry.values["external_id"] == "astro" and entry.values["provider"] == "aws"


def test_archive_hides_from_lists(conn: Connection) -> None:
    _sample(conn)
    assert org.set_archived(conn, "teams", "ml", True) is True
    assert org.set_archived(conn, "teams", "ml", True) is False
    assert _names(conn, "teams") == ["vision"]
    assert _names(conn, "teams", archived=True) == ["ml", "vision"]
    assert org.get(conn, "teams", "ml").archived
    # Archived rows can still be referred to and edited.
    assert org.get(conn, "projects", "atlas").values["team"] == "ml"
    assert org.edit(conn, "teams", "ml", description="old")[1]
    assert org.set_archived(conn, "teams", "ml", False) is True
    assert org.set_archived(conn, "teams", "ml", False) is False
    assert _names(conn, "teams") == ["ml", "vision"]
    for kind in org.KINDS:
        for entry in org.list_entries(conn, kind):
            assert org.set_archived(conn, kind, entry.name, True)
        assert _names(conn, kind) == []


def test_remove_what_nothing_refers_to(conn: Connection) -> None:
    _sample(conn)
    org.remove(conn, "projects", "atlas")
    org.remove(conn, "projects", "orion")
    org.remove(conn, "teams", "ml")
    org.remove(conn, "environments", "PROD")
    org.remove(conn, "providers", "gcp")
    assert _names(conn, "projects") == [] and _names(conn, "teams") == ["vision"]
    assert _names(conn, "environments") == [] and _names(conn, "providers") == ["aws"]
    org.remove(conn, "teams", "vision")
    org.remove(conn, "divisions", "research")
    assert _names(conn, "divisions") == ["platform"]
    with pytest.raises(ConfigError, match=r"^team 'ml' does not exist$"):
        org.remove(conn, "teams", "ml")


# Validation ---------------------------------------------------------------------------------

ADD_ERRORS: list[tuple[str, str, dict[str, Any], type[MeterbookError], str]] = [
    ("teams", "nlp", {"division": "nope"}, ConfigError, "division 'nope' does not exist"),
    ("projects", "p", {"provider": "aws", "team": "nlp"}, ConfigError, "team 'nlp' does not exist"),
    ("projects", "p", {"provider": "azure", "team": "ml"}, ConfigError,
     "provider 'azure' does not exist"),
    ("projects", "p", {"team": "ml"}, ConfigError, "provider: required"),
    ("projects", "p", {"provider": "aws"}, ConfigError, "team: required"),
    ("projects", "p", {"provider": "aws", "team": "ml", "external_id": "x" * 201}, ConfigError,
     "external_id: at most 200 characters"),
    ("projects", "p", {"provider": "aws", "team": "ml", "external_id": "a\tb"}, ConfigError,
     "external_id: must not contain control characters"),
    ("projects", "p", {"provider": "aws", "team": "ml", "external_id": "1234-5678"},
     ConflictError, "external_id: project 'atlas' already has external id '1234-5678' at "
     "provider 'aws'"),
    ("projects", "p", {"provider": "gcp", "team": "ml", "external_id": "orion"}, ConflictError,
     "external_id: project 'orion' already has external id 'orion' at provider 'gcp'"),
    ("projects", "p", {"provider": 3, "team": "ml"}, ConfigError,
     "provider: must be the name of a provider"),
    ("providers", "p", {"tax_rate": "abc"}, ConfigError,
     "tax_rate: must be a number between 0 and 100"),
    ("providers", "p", {"tax_rate": "-1"}, ConfigError,
     "tax_rate: must be a number between 0 and 100"),
    ("providers", "p", {"tax_rate": "100"}, ConfigError,
     "tax_rate: must be a number between 0 and 100"),
    ("providers", "p", {"tax_rate": "NaN"}, ConfigError,
     "tax_rate: must be a number between 0 and 100"),
    ("providers", "p", {"tax_rate": True}, ConfigError,
     "tax_rate: must be a number between 0 and 100"),
    ("providers", "p", {"tax_rate": "1.0000001"}, ConfigError, "tax_rate: at most 6 decimals"),
    ("providers", "p", {"currency": "US"}, ConfigError,
     "currency: must be 3 letters (an ISO 4217 code such as USD)"),
    ("providers", "p", {"currency": "EURO"}, ConfigError,
     "currency: must be 3 letters (an ISO 4217 code such as USD)"),
    ("providers", "p", {"currency": "U5D"}, ConfigError,
     "currency: must be 3 letters (an ISO 4217 code such as USD)"),
    ("providers", "p", {"last_load": "yesterday"}, ConfigError,
     "last_load: must be a date and time such as 2025-02-13T10:00:00 (UTC, or with an offset)"),
    ("providers", "p", {"kind": "k" * 41}, ConfigError, "kind: at most 40 characters"),
    ("providers", "p", {"colour": "red"}, ConfigError,
     "colour: providers have no such field (they have kind, tax_rate, currency, last_load, "
     "description)"),
    ("divisions", "", {}, ConfigError, "name: must not be empty"),
    ("divisions", "   ", {}, ConfigError, "name: must not be empty"),
    ("divisions", "x" * 121, {}, ConfigError, "name: at most 120 characters"),
    ("divisions", "a\nb", {}, ConfigError, "name: must not contain control characters"),
    ("divisions", "research", {}, ConflictError, "division 'research' already exists"),
    ("teams", "ml", {"division": "research"}, ConflictError, "team 'ml' already exists"),
    ("environments", "PROD", {}, ConflictError, "environment 'PROD' already exists"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "name", "values", "error", "message"),
    ADD_ERRORS,
    ids=[f"{e[0]}-{e[4][:40]}" for e in ADD_ERRORS],
)
def test_add_errors(
    store: Store,
    kind: str,
    name: str,
    values: dict[str, Any],
    error: type[MeterbookError],
    message: str,
) -> None:
    with store.engine.begin() as conn:
        _sample(conn)
        before = _names(conn, kind, archived=True)
    with pytest.raises(error) as raised, store.engine.begin() as conn:
        org.add(conn, kind, name, **values)
    assert str(raised.value) == message and "\n" not in message
    with store.engine.connect() as conn:
        assert _names(conn, kind, archived=True) == before


EDIT_ERRORS: list[tuple[str, str, dict[str, Any], type[MeterbookError], str]] = [
    ("teams", "nlp", {"description": "x"}, ConfigError, "team 'nlp' does not exist"),
    ("teams", "ml", {"new_name": "vision"}, ConflictError, "team 'vision' already exists"),
    ("teams", "ml", {"new_name": ""}, ConfigError, "name: must not be empty"),
    ("teams", "ml", {"division": "nope"}, ConfigError, "division 'nope' does not exist"),
    ("providers", "aws", {"kind": ""}, ConfigError, "kind: required"),
    ("providers", "aws", {"tax_rate": "13.5.1"}, ConfigError,
     "tax_rate: must be a number between 0 and 100"),
    ("providers", "aws", {"last_load": "2025-13-01"}, ConfigError,
     "last_load: must be a date and time such as 2025-02-13T10:00:00 (UTC, or with an offset)"),
    ("projects", "atlas", {"provider": ""}, ConfigError, "provider: required"),
    ("projects", "atlas", {"team": ""}, ConfigError, "team: required"),
    ("projects", "atlas", {"external_id": ""}, ConfigError, "external_id: required"),
    ("projects", "atlas", {"team": "ml2"}, ConfigError, "team 'ml2' does not exist"),
    ("projects", "orion", {"provider": "aws", "external_id": "1234-5678"}, ConflictError,
     "external_id: project 'atlas' already has external id '1234-5678' at provider 'aws'"),
    ("projects", "atlas", {"external_id": "orion", "provider": "gcp"}, ConflictError,
     "external_id: project 'orion' already has external id 'orion' at provider 'gcp'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "name", "values", "error", "message"),
    EDIT_ERRORS,
    ids=[f"{e[0]}-{e[4][:40]}" for e in EDIT_ERRORS],
)
def test_edit_errors(
    store: Store,
    kind: str,
    name: str,
    values: dict[str, Any],
    error: type[MeterbookError],
    message: str,
) -> None:
    with store.engine.begin() as conn:
        _sample(conn)
        before = [e.as_dict() for e in org.list_entries(conn, kind, archived=True)]
    with pytest.raises(error) as raised, store.engine.begin() as conn:
        org.edit(conn, kind, name, **values)
    assert str(raised.value) == message
    with store.engine.connect() as conn:
        assert [e.as_dict() for e in org.list_entries(conn, kind, archived=True)] == before


def test_adding_an_archived_name_says_how_to_bring_it_back(conn: Connection) -> None:
    _sample(conn)
    org.set_archived(conn, "teams", "ml", True)
    with pytest.raises(ConflictError) as raised:
        org.add(conn, "teams", "ml")
    assert str(raised.value) == (
        "team 'ml' already exists, archived (meterbook org teams unarchive ml)"
    )


def test_names_are_exact(conn: Connection) -> None:
    """Names differ by case (MariaDB's default collation would make them equal)."""
    org.add(conn, "environments", "prod")
    org.add(conn, "environments", "PROD")
    org.add(conn, "environments", "  dev  ")
    assert _names(conn, "environments") == ["PROD", "dev", "prod"]
    with pytest.raises(ConfigError, match="does not exist"):
        org.get(conn, "environments", "Prod")


def test_unknown_kind(conn: Connection) -> None:
    with pytest.raises(ConfigError, match="no such kind 'users'"):
        org.list_entries(conn, "users")


# Removal refused because of references ------------------------------------------------------

REFERENCES = [
    (kind, referrer) for kind, k in org.KINDS.items() for referrer in k.referrers
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "referrer"),
    REFERENCES,
    ids=[f"{kind}-{r.table.name}.{r.column}" for kind, r in REFERENCES],
)
def test_remove_refused_for_every_reference(
    store: Store, kind: str, referrer: org.Referrer
) -> None:
    name = {"divisions": "platform", "teams": "ml", "providers": "aws", "projects": "atlas",
            "environments": "PROD"}[kind]  # fmt: skip
    with store.engine.begin() as conn:
        _sample(conn)
        if kind == "teams":  # atlas refers to ml already; keep only the reference under test
            org.edit(conn, "projects", "atlas", team="vision")
        if kind == "providers":
            org.remove(conn, "projects", "atlas")
        target = org.get(conn, kind, name).id
        single = referrer.table.name in ("teams", "projects", "resources", "users")
        count = 1 if single else 2
        _refer(conn, referrer.table, referrer.column, target, count)
    with pytest.raises(ConflictError) as raised, store.engine.begin() as conn:
        org.remove(conn, kind, name)
    counted = f"1 {referrer.one} refers" if count == 1 else f"2 {referrer.many} refer"
    one = org.KINDS[kind].one
    assert str(raised.value) == (
        f"cannot remove {one} '{name}': {counted} to it; archive it instead "
        f"(meterbook org {kind} archive {name})"
    )
    with store.engine.connect() as conn:
        assert org.get(conn, kind, name).name == name
        assert org.references(conn, kind, name) == [(referrer, count)]


def test_remove_refused_names_every_reference(conn: Connection) -> None:
    _sample(conn)
    atlas = org.get(conn, "projects", "atlas").id
    _refer(conn, cost_lines, "project_id", atlas, 1204)
    _refer(conn, usage_records, "project_id", atlas, 3)
    with pytest.raises(ConflictError) as raised:
        org.remove(conn, "projects", "atlas")
    assert str(raised.value) == (
        "cannot remove project 'atlas': 1,204 cost lines and 3 usage records refer to it; "
        "archive it instead (meterbook org projects archive atlas)"
    )
    assert raised.value.exit_code == 7
    org.add(conn, "divisions", "Big Data")
    org.add(conn, "teams", "t1", division="Big Data")
    conn.execute(teams.insert().values(name="t2", division_id=org.get(conn, "divisions",
                 "Big Data").id, archived=False, created_at=datetime(2025, 1, 1)))  # fmt: skip
    with pytest.raises(ConflictError) as raised:
        org.remove(conn, "divisions", "Big Data")
    assert str(raised.value) == (
        "cannot remove division 'Big Data': 2 teams refer to it; archive it instead "
        "(meterbook org divisions archive 'Big Data')"
    )
    aws = org.get(conn, "providers", "aws").id
    _refer(conn, cost_lines, "provider_id", aws, 1)
    with pytest.raises(ConflictError) as raised:
        org.remove(conn, "providers", "aws")
    assert str(raised.value).startswith(
        "cannot remove provider 'aws': 1 project and 1 cost line refer to it;"
    )


# CSV ----------------------------------------------------------------------------------------


def _export(conn: Connection, kind: str) -> str:
    out = io.StringIO()
    org.export_csv(conn, kind, out)
    return out.getvalue()


def _import(conn: Connection, kind: str, text: str, source: str = "in.csv") -> org.ImportSummary:
    return org.import_csv(conn, kind, io.StringIO(text), source)


def test_export(conn: Connection) -> None:
    _sample(conn)
    org.set_archived(conn, "divisions", "platform", True)
    org.edit(conn, "providers", "gcp", last_load="2025-02-13 10:00:00", description='say "hi"')
    assert _export(conn, "divisions") == (
        "name,description,archived\nplatform,,true\nresearch,R&D,false\n"
    )
    assert _export(conn, "providers") == (
        "name,kind,tax_rate,currency,last_load,description,archived\n"
        "aws,cloud,13,USD,,,false\n"
        'gcp,cloud,7.25,EUR,2025-02-13 10:00:00,"say ""hi""",false\n'
    )
    assert _export(conn, "projects") == (
        "name,external_id,provider,team,description,archived\n"
        "atlas,1234-5678,aws,ml,,false\norion,orion,gcp,vision,,false\n"
    )


def test_csv_round_trip(store: Store) -> None:
    with store.engine.begin() as conn:
        _sample(conn)
        org.add(conn, "teams", "solo", description="multi\nline, with comma")
        org.add(conn, "environments", "DEV")
        org.set_archived(conn, "environments", "DEV", True)
        org.edit(conn, "providers", "aws", last_load="2025-03-01T00:00:00Z", tax_rate="0.000001")
        conn.execute(
            projects.insert().values(name="astro", archived=False, created_at=datetime.now())
        )
        exported = {kind: _export(conn, kind) for kind in ORDER}
    with store.engine.begin() as conn:
        for table in (projects, teams, divisions, providers, environments):
            conn.execute(table.delete())
    with store.engine.begin() as conn:
        for kind in ORDER:
            expected_rows = exported[kind].count("\n") - 1 - (kind == "teams")
            if kind == "projects":
                # A project without provider cannot be created from a file: add it as the
                # usage import does, then the file updates it.
                conn.execute(
                    projects.insert().values(
                        name="astro", archived=False, created_at=datetime.now()
                    )
                )
            summary = _import(conn, kind, exported[kind], f"{kind}.csv")
            assert summary.added == expected_rows - (kind == "projects")
            assert summary.updated == 0
    with store.engine.connect() as conn:
        assert {kind: _export(conn, kind) for kind in ORDER} == exported
        assert org.get(conn, "providers", "aws").values["tax_rate"] == Decimal("0.000001")
    # Importing the same files again changes nothing.
    with store.engine.begin() as conn:
        for kind in ORDER:
            summary = _import(conn, kind, exported[kind])
            assert (summary.added, summary.updated) == (0, 0) and summary.unchanged > 0
            assert str(summary) == f"0 added, 0 updated, {summary.unchanged} unchanged"


def test_import_adds_and_updates_by_name(conn: Connection) -> None:
    _sample(conn)
    summary = _import(
        conn,
        "teams",
        "name,division,archived\n"
        "ml,platform,\n"  # moved
        "vision,research,no\n"  # unchanged
        "nlp,,yes\n"  # new, archived, no division
        "\n"
        "speech,research,false\n",
    )
    assert (summary.added, summary.updated, summary.unchanged) == (2, 1, 1)
    teams_now = {e.name: e for e in org.list_entries(conn, "teams", archived=True)}
    assert teams_now["ml"].values == {"division": "platform", "description": None}
    # A column left out leaves the field as it is.
    assert teams_now["vision"].values["description"] == "Computer vision"
    assert teams_now["nlp"].archived and teams_now["nlp"].values["division"] is None
    assert not teams_now["speech"].archived
    # Column order and case do not matter; a blank cell clears.
    summary = _import(conn, "providers", "Currency,Name,tax_rate\r\nchf,aws,\r\n,azure,21\r\n")
    assert (summary.added, summary.updated, summary.unchanged) == (1, 1, 0)
    aws = org.get(conn, "providers", "aws").values
    assert (aws["currency"], aws["tax_rate"], aws["kind"]) == ("CHF", None, "cloud")
    azure = org.get(conn, "providers", "azure").values
    assert (azure["kind"], azure["tax_rate"], azure["currency"]) == ("cloud", Decimal(21), None)
    # An archived row comes back when the file says so.
    _import(conn, "teams", "name,archived\nnlp,false\n")
    assert not org.get(conn, "teams", "nlp").archived


def test_import_projects_swap_external_ids(conn: Connection) -> None:
    _sample(conn)
    org.add(conn, "projects", "hydra", provider="aws", team="ml", external_id="9999")
    summary = _import(
        conn,
        "projects",
        "name,external_id\natlas,9999\nhydra,1234-5678\n",
    )
    assert summary.updated == 2
    assert org.get(conn, "projects", "atlas").values["external_id"] == "9999"
    assert org.get(conn, "projects", "hydra").values["external_id"] == "1234-5678"
    # New projects take the name as external id, as with add.
    _import(conn, "projects", "name,provider,team\nnova,aws,ml\n")
    assert org.get(conn, "projects", "nova").values["external_id"] == "nova"


CSV_ERRORS: list[tuple[str, str, type[MeterbookError], str]] = [
    ("providers", "", InputError,
     "bad.csv: empty: the first line must name the columns (name, kind, tax_rate, currency, "
     "last_load, description, archived)"),
    ("providers", "name,rate\n", InputError,
     "bad.csv: line 1: unknown column 'rate' (providers have name, kind, tax_rate, currency, "
     "last_load, description, archived)"),
    ("providers", "name,kind,kind\n", InputError, "bad.csv: line 1: column 'kind' appears twice"),
    ("providers", "kind\ncloud\n", InputError,
     "bad.csv: line 1: no name column (name, kind, tax_rate, currency, last_load, description, "
     "archived)"),
    ("providers", "name,tax_rate\nazure,21\nibm,101\n", InputError,
     "bad.csv: line 3: tax_rate: must be a number between 0 and 100"),
    ("providers", 'name,description,tax_rate\nazure,"two\nlines",21\nibm,,x\n', InputError,
     "bad.csv: line 4: tax_rate: must be a number between 0 and 100"),
    ("providers", "name,currency\nazure,EUR\nibm,EURO\n", InputError,
     "bad.csv: line 3: currency: must be 3 letters (an ISO 4217 code such as USD)"),
    ("providers", "name,kind\nazure,cloud\nibm,cloud,extra\n", InputError,
     "bad.csv: line 3: 3 fields but the header has 2"),
    ("providers", "name,archived\nazure,maybe\n", InputError,
     "bad.csv: line 2: archived: must be true or false"),
    ("providers", "name,kind\nazure,cloud\n,cloud\n", InputError,
     "bad.csv: line 3: name: must not be empty"),
    ("providers", "name,kind\nazure,cloud\nazure,hpc\n", ConflictError,
     "bad.csv: line 3: name: 'azure' is on line 2 already"),
    ("providers", "name,kind\naws,\n", InputError, "bad.csv: line 2: kind: required"),
    ("teams", "name,division\nnlp,research\nspeech,nope\n", InputError,
     "bad.csv: line 3: division 'nope' does not exist"),
    ("projects", "name,provider,team\nnova,aws,ml\nvega,aws,\n", InputError,
     "bad.csv: line 3: team: required"),
    ("projects", "name,provider,team,external_id\nnova,aws,ml,1234-5678\n", ConflictError,
     "bad.csv: line 2: external_id: project 'atlas' already has external id '1234-5678' at "
     "provider 'aws'"),
    ("projects", "name,provider,team,external_id\nnova,aws,ml,77\nvega,aws,ml,77\n",
     ConflictError,
     "bad.csv: line 3: external_id: project 'nova' (line 2) already has external id '77' at "
     "provider 'aws'"),
    ("projects", 'name,external_id\natlas,"a\nb"\n', InputError,
     "bad.csv: line 2: external_id: must not contain control characters"),
    ("environments", 'name\nDEV\n"PROD\n', InputError,
     "bad.csv: line 3: unexpected end of data"),
    ("environments", 'name,description\nDEV,"a"b\n', InputError,
     "bad.csv: line 2: ',' expected after '\"'"),
    ("environments", '"name\n', InputError, "bad.csv: line 1: unexpected end of data"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "text", "error", "message"),
    CSV_ERRORS,
    ids=[f"{e[0]}-{e[3][8:48]}" for e in CSV_ERRORS],
)
def test_bad_csv_writes_nothing(
    store: Store, kind: str, text: str, error: type[MeterbookError], message: str
) -> None:
    with store.engine.begin() as conn:
        _sample(conn)
        before = {k: _export(conn, k) for k in ORDER}
    with pytest.raises(error) as raised, store.engine.begin() as conn:
        _import(conn, kind, text, "bad.csv")
    assert str(raised.value) == message
    with store.engine.connect() as conn:
        assert {k: _export(conn, k) for k in ORDER} == before


def test_bad_csv_is_rolled_back_with_the_transaction(store: Store) -> None:
    """An error raised while writing (here by a hook) leaves nothing of the file."""
    with store.engine.begin() as conn:
        _sample(conn)

    def failing(_conn: Connection, _ids: set[int]) -> None:
        raise ConflictError("attribution failed")

    org.ATTRIBUTION_HOOKS.append(failing)
    try:
        with pytest.raises(ConflictError), store.engine.begin() as conn:
            _import(conn, "projects", "name,provider,team\nnova,aws,ml\n")
    finally:
        org.ATTRIBUTION_HOOKS.remove(failing)
    with store.engine.connect() as conn:
        assert _names(conn, "projects") == ["atlas", "orion"]


# Attribution hooks --------------------------------------------------------------------------


def test_attribution_hooks(conn: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[set[int]] = []
    seen: list[list[str]] = []

    def hook(hook_conn: Connection, provider_ids: set[int]) -> None:
        assert hook_conn is conn
        calls.append(provider_ids)
        # Inside the same transaction: the change is visible.
        seen.append(list(hook_conn.execute(select(projects.c.name).order_by("name")).scalars()))

    monkeypatch.setattr(org, "ATTRIBUTION_HOOKS", [hook])
    _sample(conn)
    aws = org.get(conn, "providers", "aws").id
    gcp = org.get(conn, "providers", "gcp").id
    assert calls == [{aws}, {gcp}] and seen[0] == ["atlas"]
    calls.clear()

    org.edit(conn, "projects", "atlas", description="no attribution change")
    org.edit(conn, "projects", "atlas", new_name="atlas2")
    org.add(conn, "teams", "nlp")
    assert calls == []
    org.edit(conn, "providers", "aws", tax_rate="5")
    org.edit(conn, "providers", "aws", tax_rate="5")  # unchanged: nothing to rebuild
    assert calls == [{aws}]
    calls.clear()
    org.edit(conn, "projects", "atlas2", external_id="42")
    org.edit(conn, "projects", "atlas2", team="vision")
    org.edit(conn, "projects", "atlas2", provider="gcp")
    assert calls == [{aws}, {aws}, {aws, gcp}]
    calls.clear()

    summary = _import(
        conn,
        "projects",
        "name,provider,team,external_id,description\n"
        "atlas2,gcp,vision,42,only the description\n"  # no attribution change
        "orion,aws,vision,orion,\n"  # moves from gcp to aws
        "nova,aws,nlp,,\n",  # new
    )
    assert (summary.added, summary.updated, summary.unchanged) == (1, 2, 0)
    assert calls == [{aws, gcp}]
    calls.clear()
    _import(conn, "projects", "name,description\natlas2,again\n")
    _import(conn, "teams", "name\nspeech\n")
    org.remove(conn, "projects", "nova")
    org.set_archived(conn, "projects", "orion", True)
    assert calls == []
    assert conn.execute(select(func.count()).select_from(projects)).scalar_one() == 2
