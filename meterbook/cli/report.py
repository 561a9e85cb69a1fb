"""``meterbook report TYPE``, ``report run NAME``, ``report list``: write report files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from meterbook.cli.context import AppContext, pass_app, stacked
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.errors import ConfigError, DeliveryError
from meterbook.periods import Period
from meterbook.reports import DEFAULT_FORMATS, period_of, produce, produce_named, publishing
from meterbook.reports.model import Report
from meterbook.reports.render import FORMATS
from meterbook.reports.types import all_types

PERIOD_HELP = (
    "previous-month (default), month-to-date, last-30d, 2024, 2024-Q3, 2024-07, 2024-07-05, "
    "sprint-58, current-sprint, previous-sprint."
)


@click.group(
    epilog="""\b
Examples:
  meterbook report usage --period 2026-10
  meterbook report spend --period 2026-10 --format pdf,xlsx --team genomics
  meterbook report io --period 2026-10 --days 15 --format html
  meterbook report utilisation --period sprint-58 --out /srv/reports
  meterbook report run monthly-usage
  meterbook report list
"""
)
def report() -> None:
    """Write a report (tables, charts, headline figures) in PDF, HTML, XLSX, CSV, JSON, DOCX,
    PNG and SVG under reports/<type>/<period>/ (docs/reports.md)."""


def _echo(report_: Report, folder: Path) -> None:
    click.echo(f"{report_.title}: {len(report_.files)} files in {folder}")
    for name in report_.files:
        click.echo(f"  {folder / name}")


send_options = stacked(
    click.option("--send", is_flag=True,
                 help="Send the report to its recipients (--recipient, or send_to) after writing."),
    click.option("--recipient", "recipients", multiple=True, metavar="NAME",
                 help="A recipient of [recipients.NAME] (repeat); implies --send."),
)  # fmt: skip


def _publish(
    app: AppContext,
    kind: str,
    window: Period,
    formats: str | list[str],
    recipients: list[str],
    team: str | None,
    out: Path | None,
) -> None:
    """Write and send; one line per delivery; exits 8 when any could not be delivered."""
    if not recipients:
        raise ConfigError("--send: name the recipients with --recipient NAME (or send_to)")
    written, sent = publishing.publish(app.store(), app.settings(), kind, window, formats,
                                       recipients, team=team, base=out)  # fmt: skip
    for made, folder in written:
        _echo(made, folder)
    for item in sent:
        r = item.result
        scope = f" (team {item.team})" if item.team else ""
        if r.ok:
            click.echo(f"sent to {item.recipient}{scope} by {r.channel} "
                       f"({r.attempts} attempt{'s' if r.attempts > 1 else ''})")  # fmt: skip
        else:
            click.echo(f"NOT sent to {item.recipient}{scope}: {r.error}", err=True)
    failed = [s.recipient for s in sent if not s.result.ok]
    if failed:
        raise DeliveryError(
            f"report written but not delivered to {', '.join(failed)} (see `meterbook deliveries`)"
        )


def _type_command(name: str, title: str, description: str) -> click.Command:
    if title[:2] != title[:2].upper():  # "Spend report" -> "spend report"; "IO report" stays
        title = title[0].lower() + title[1:]

    @click.command(
        name=name,
        help=f"Write the {title} ({name}). {description}.",
        short_help=f"Write the {title}.",
        epilog=f"""\b
Examples:
  meterbook report {name}                          the previous month, default formats
  meterbook report {name} --period 2026-10 --format pdf,html
  meterbook report {name} --period 2026-10 --days 15 --out reports
  meterbook report {name} --from 2026-10-01 --to 2026-10-14 --format xlsx,csv
  meterbook report {name} --period 2026-10 --format pdf --send --recipient finance
""",
    )
    @click.option("--period", metavar="P", help=PERIOD_HELP)
    @click.option("--days", type=int, metavar="D", help="Only the first D days of the period.")
    @click.option("--from", "start", metavar="DATE", help="First day (with --to).")
    @click.option("--to", "end", metavar="DATE", help="Last day, inclusive.")
    @click.option(
        "--format",
        "formats",
        default=",".join(DEFAULT_FORMATS),
        show_default=True,
        metavar="LIST",
        help=f"Comma list of {', '.join(FORMATS)}.",
    )
    @click.option("--team", metavar="NAME", help="Only this team's data.")
    @click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help="Base directory (default: [reports] directory, else ./reports).",
    )
    @send_options
    @pass_app
    def command(
        app: AppContext,
        period: str | None,
        days: int | None,
        start: str | None,
        end: str | None,
        formats: str,
        team: str | None,
        out: Path | None,
        send: bool,
        recipients: tuple[str, ...],
    ) -> None:
        settings = app.settings()
        window = period_of(settings, period, days=days, start=start, end=end)
        if send or recipients:
            _publish(app, name, window, formats, list(recipients), team, out)
            return
        made, folder = produce(app.store(), settings, name, window, formats, team=team, base=out)
        _echo(made, folder)

    return command


@report.command(
    "run",
    epilog="""\b
Examples:
  meterbook report run monthly-usage
  meterbook report run team-spend --out /srv/reports
  meterbook report run monthly-usage --send        to its send_to recipients

\b
A named report in meterbook.toml:
  [reports.monthly-usage]
  type = "usage"
  period = "previous-month"
  formats = ["pdf", "xlsx"]
""",
)
@click.argument("name")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Base directory (default: the report's directory, else [reports] directory).",
)
@send_options
@pass_app
def run(
    app: AppContext, name: str, out: Path | None, send: bool, recipients: tuple[str, ...]
) -> None:
    """Write the named report [reports.NAME] of the configuration (and, with --send, send it
    to its send_to recipients)."""
    settings = app.settings()
    config = settings.reports.get(name)
    if config is None:
        known = ", ".join(sorted(settings.reports)) or "none is configured"
        raise ConfigError(f"unknown report {name!r} ({known}); see `meterbook report list`")
    if send or recipients:
        window = period_of(settings, config.period, days=config.days)
        _publish(app, config.type, window, config.formats, list(recipients) or config.send_to,
                 config.team, out or config.directory)  # fmt: skip
        return
    made, folder = produce_named(app.store(), settings, config, base=out)
    _echo(made, folder)


@report.command(
    "list",
    epilog="""\b
Examples:
  meterbook report list
  meterbook report list --format json
""",
)
@format_option
@pass_app
def list_command(app: AppContext, fmt: str) -> None:
    """The report types and the named reports of the configuration."""
    rows: list[dict[str, Any]] = [
        {"name": t.name, "kind": "type", "type": t.name, "period": "", "formats": "",
         "team": "", "description": t.description}
        for t in all_types()
    ]  # fmt: skip
    for name, c in sorted(app.settings().reports.items()):
        rows.append({"name": name, "kind": "named", "type": c.type, "period": c.period
                     + (f" --days {c.days}" if c.days else ""), "formats": ",".join(c.formats),
                     "team": c.team or "", "description": c.title or ""})  # fmt: skip
    columns = ["name", "kind", "type", "period", "formats", "team", "description"]
    if fmt == "json":
        print_json(rows)
    elif fmt == "csv":
        print_csv(columns, [[r[c] for c in columns] for r in rows])
    else:
        print_table(columns, [[r[c] for c in columns] for r in rows], title="Reports",
                    numeric_from=len(columns))  # fmt: skip


for _t in all_types():
    report.add_command(_type_command(_t.name, _t.title, _t.description))

COMMANDS = (report,)
