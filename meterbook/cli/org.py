"""``meterbook org``: divisions, teams, providers, projects and environments."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from meterbook import org as lib
from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.errors import ConfigError, InputError

#: Option name, metavar and help of each field.
OPTIONS: dict[str, tuple[str, str, str]] = {
    "division": ("--division", "NAME", "The division the team belongs to ('' for none)."),
    "kind": ("--kind", "KIND", "What it is: cloud, hpc, saas... (default: cloud)."),
    "tax_rate": (
        "--tax-rate",
        "PERCENT",
        "Tax on its charges in percent, 0 to under 100 (13 for 13 %; '' for none).",
    ),
    "currency": ("--currency", "CODE", "Currency of its bills: ISO 4217, e.g. USD."),
    "last_load": (
        "--last-load",
        "DATETIME",
        "When its bills were last loaded (UTC; the billing import sets it).",
    ),
    "external_id": (
        "--external-id",
        "ID",
        "The project's id at its provider (default: the name).",
    ),
    "provider": ("--provider", "NAME", "The provider that bills the project (required)."),
    "team": ("--team", "NAME", "The team the project belongs to (required)."),
    "description": ("--description", "TEXT", "Free text ('' to clear)."),
}

#: Fields ``add`` takes (``last_load`` is the billing import's; ``edit`` can set it).
ADDED = {
    "divisions": ("description",),
    "teams": ("division", "description"),
    "providers": ("kind", "tax_rate", "currency", "description"),
    "projects": ("external_id", "provider", "team", "description"),
    "environments": ("description",),
}

ABOUT = {
    "divisions": "Divisions: the top of the org model; teams belong to them.",
    "teams": "Teams: they belong to a division and own projects and users.",
    "providers": "Providers: who bills (a cloud, a centre), with tax rate and currency.",
    "projects": "Projects: each billed by one provider under an external id, owned by one team.",
    "environments": "Environments: DEV, UAT, PROD...; resources run in them.",
}

#: A typical ``add`` and ``edit`` of each kind, for the examples.
SAMPLES = {
    "divisions": ("research --description 'Research and development'", "research --name rnd"),
    "teams": ("ml --division research", "ml --division platform --description 'ML platform'"),
    "providers": ("aws --tax-rate 13 --currency USD", "aws --tax-rate 7.5"),
    "projects": (
        "atlas --provider aws --team ml --external-id 123456789012",
        "atlas --team vision",
    ),
    "environments": ("PROD --description Production", "PROD --name prod"),
}


def _examples(*lines: str) -> str:
    return "\b\nExamples:\n" + "".join(f"  {line}\n" for line in lines)


def _name_of(kind: str) -> str:
    return SAMPLES[kind][0].split()[0]


def _summary(entry: lib.Entry) -> str:
    """``team 'ml' (division 'research')``: the kind, the name and the fields that are set."""
    k = lib.KINDS[entry.kind]
    parts = []
    for field in k.fields:
        value = entry.values[field.name]
        if value is None or field.name in ("description", "last_load"):
            continue
        if field.ref is not None:
            parts.append(f"{field.name} '{value}'")
        elif field.name == "tax_rate":
            parts.append(f"tax rate {lib.cell(value)} %")
        elif field.name == "external_id":
            parts.append(f"external id '{value}'")
        else:
            parts.append(f"{field.name} {lib.cell(value)}")
    details = f" ({', '.join(parts)})" if parts else ""
    return f"{k.one} '{entry.name}'{details}"


def _with_fields(fields: tuple[str, ...]) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        for name in reversed(fields):
            option, metavar, help_ = OPTIONS[name]
            func = click.option(option, name, metavar=metavar, help=help_)(func)
        return func

    return decorate


def _given(values: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def _kind_group(kind: str) -> click.Group:
    k = lib.KINDS[kind]
    added, edited = SAMPLES[kind]
    example = _name_of(kind)
    prefix = f"meterbook org {kind}"
    fields = tuple(f.name for f in k.fields)

    @click.group(
        kind,
        help=ABOUT[kind],
        epilog=_examples(
            f"{prefix} add {added}",
            f"{prefix} list --all",
            f"{prefix} edit {edited}",
            f"{prefix} export {kind}.csv",
        ),
    )
    def group() -> None:
        pass

    @group.command(
        "list",
        help=f"List the {kind} by name (archived ones only with --all).",
        epilog=_examples(f"{prefix} list", f"{prefix} list --all --format csv"),
    )
    @click.option("--all", "show_all", is_flag=True, help="Include archived ones.")
    @format_option
    @pass_app
    def list_(app: AppContext, show_all: bool, fmt: str) -> None:
        with app.store().engine.connect() as conn:
            entries = lib.list_entries(conn, kind, archived=show_all)
        if fmt == "json":
            print_json([_json(e) for e in entries])
            return
        columns = ["name", *fields] + (["archived"] if show_all or fmt == "csv" else [])
        rows = [[lib.cell(e.as_dict()[c]) for c in columns] for e in entries]
        if fmt == "csv":
            print_csv(columns, rows)
        elif not entries:
            click.echo(f"no {kind}" + ("" if show_all else " (archived ones: --all)"))
        else:
            print_table(columns, rows, title=kind.capitalize(), numeric_from=len(columns))

    @group.command("add", help=f"Add a {k.one}.", epilog=_examples(f"{prefix} add {added}"))
    @click.argument("name")
    @_with_fields(ADDED[kind])
    @pass_app
    def add(app: AppContext, /, name: str, **values: str | None) -> None:
        with app.store().engine.begin() as conn:
            entry = lib.add(conn, kind, name, **_given(values))
        click.echo(f"added {_summary(entry)}")

    @group.command(
        "edit",
        short_help=f"Rename a {k.one} or change its fields.",
        help=f"Rename a {k.one} or change its fields ('' clears an optional one).",
        epilog=_examples(f"{prefix} edit {edited}"),
    )
    @click.argument("name")
    @click.option("--name", "new_name", metavar="NEW", help="Rename it.")
    @_with_fields(fields)
    @pass_app
    def edit(app: AppContext, /, name: str, new_name: str | None, **values: str | None) -> None:
        given = _given(values)
        if new_name is None and not given:
            raise click.UsageError("nothing to change: give --name or a field option")
        with app.store().engine.begin() as conn:
            entry, changed = lib.edit(conn, kind, name, new_name=new_name, **given)
        if not changed:
            click.echo(f"{_summary(entry)} unchanged")
        elif entry.name != name:
            click.echo(f"edited {_summary(entry)}, renamed from '{name}'")
        else:
            click.echo(f"edited {_summary(entry)}")

    @group.command(
        "remove",
        short_help=f"Remove a {k.one} nothing refers to.",
        help=f"Remove a {k.one} nothing refers to; otherwise it is refused with what refers "
        "to it (archive it instead).",
        epilog=_examples(f"{prefix} remove {example}"),
    )
    @click.argument("name")
    @pass_app
    def remove(app: AppContext, name: str) -> None:
        with app.store().engine.begin() as conn:
            lib.remove(conn, kind, name)
        click.echo(f"removed {k.one} '{name}'")

    @group.command(
        "archive",
        short_help=f"Archive a {k.one} (hide it, keep it).",
        help=f"Archive a {k.one}: hidden from lists, kept with all that refers to it.",
        epilog=_examples(f"{prefix} archive {example}"),
    )
    @click.argument("name")
    @pass_app
    def archive(app: AppContext, name: str) -> None:
        with app.store().engine.begin() as conn:
            changed = lib.set_archived(conn, kind, name, True)
        click.echo(f"archived {k.one} '{name}'" if changed else f"{k.one} '{name}' was archived")

    @group.command(
        "unarchive",
        help=f"Bring back an archived {k.one}.",
        epilog=_examples(f"{prefix} unarchive {example}"),
    )
    @click.argument("name")
    @pass_app
    def unarchive(app: AppContext, name: str) -> None:
        with app.store().engine.begin() as conn:
            changed = lib.set_archived(conn, kind, name, False)
        click.echo(
            f"unarchived {k.one} '{name}'" if changed else f"{k.one} '{name}' was not archived"
        )

    @group.command(
        "export",
        short_help=f"Write the {kind} as CSV.",
        help=f"Write all {kind} (archived ones too) as CSV, to FILE or standard output. "
        f"Columns: {', '.join(k.columns)}.",
        epilog=_examples(f"{prefix} export {kind}.csv", f"{prefix} export > {kind}.csv"),
    )
    @click.argument("file", required=False, metavar="[FILE]")
    @pass_app
    def export(app: AppContext, file: str | None) -> None:
        with app.store().engine.connect() as conn:
            if file is None or file == "-":
                lib.export_csv(conn, kind, sys.stdout)
                return
            try:
                with Path(file).open("w", encoding="utf-8", newline="") as out:
                    count = lib.export_csv(conn, kind, out)
            except OSError as exc:
                raise ConfigError(f"{file}: cannot write: {exc.strerror}") from None
        click.echo(f"exported {count:,} {kind if count != 1 else k.one} to {file}")

    @group.command(
        "import",
        short_help=f"Add or update {kind} from a CSV file.",
        help=f"Add or update {kind} by name from a CSV file ('-': standard input), all or "
        f"nothing. Columns: name, then any of {', '.join(k.columns[1:])}; a blank cell clears "
        "a field, a missing column leaves it as it is.",
        epilog=_examples(f"{prefix} import {kind}.csv", f"{prefix} import - < {kind}.csv"),
    )
    @click.argument("file")
    @pass_app
    def import_(app: AppContext, file: str) -> None:
        with app.store().engine.begin() as conn:
            if file == "-":
                file = "<stdin>"
                summary = lib.import_csv(conn, kind, sys.stdin, file)
            else:
                try:
                    with Path(file).open(encoding="utf-8-sig", newline="") as lines:
                        summary = lib.import_csv(conn, kind, lines, file)
                except OSError as exc:
                    raise InputError(f"{file}: cannot open: {exc.strerror}") from None
        click.echo(f"imported {kind} from {file}: {summary}")

    return group


def _json(entry: lib.Entry) -> dict[str, Any]:
    data = entry.as_dict()
    for key, value in data.items():
        if key == "tax_rate" and value is not None:
            data[key] = float(value)
        elif key in ("last_load", "created_at") and value is not None:
            data[key] = value.isoformat()
    return data


@click.group(
    epilog=_examples(
        "meterbook org divisions add research",
        "meterbook org teams add ml --division research",
        "meterbook org providers add aws --tax-rate 13 --currency USD",
        "meterbook org projects add atlas --provider aws --team ml --external-id 123456789012",
        "meterbook org projects list --format csv",
        "meterbook org teams export teams.csv",
    )
)
def org() -> None:
    """The org model: divisions, teams, providers, projects and environments.

    Each kind has the commands list, add, edit, remove, archive, unarchive, export and import
    (CSV). Removing something that usage or cost data refers to is refused: archive it.
    """


for _kind in lib.KINDS:
    org.add_command(_kind_group(_kind))

COMMANDS = (org,)
