"""``meterbook usage``: CPU, GPU, node, wall and memory hours and job counts, grouped."""

from __future__ import annotations

import click

from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table, rounded
from meterbook.collecting import requested_period
from meterbook.periods import resolve_period
from meterbook.store.queries.usage import DIMENSIONS, UsageFilters, UsageReport, usage_summary

HEADINGS = {
    "cpu_hours": "CPU h",
    "gpu_hours": "GPU h",
    "node_hours": "node h",
    "wall_hours": "wall h",
    "mem_gb_hours": "mem GiB·h",
    "jobs_started": "started",
    "jobs_ended": "ended",
    "jobs_running": "running",
    "avg_wait_hours": "avg wait h",
}


@click.command(
    epilog="""\b
Examples:
  meterbook usage --period 2017-01 --by account
  meterbook usage --from 2016-12-22 --to 2017-01-01 --by day
  meterbook usage --period 2026-Q3 --by user --top 10 --cluster aurora
  meterbook usage --period 2026 --by month --by partition --format csv
  meterbook usage --source ml-prod --period 2024-07 --by user --by workload
"""
)
@click.option(
    "--by",
    "by",
    multiple=True,
    type=click.Choice(DIMENSIONS),
    metavar="DIM",
    help=f"Group by ({', '.join(DIMENSIONS)}); repeat for several.",
)
@click.option("--period", metavar="P", help="2017, 2017-Q1, 2017-01 or 2017-01-05.")
@click.option("--from", "start", metavar="DATE", help="First day (with --to).")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive.")
@click.option("--cluster", multiple=True, metavar="NAME", help="Only this cluster (repeatable).")
@click.option("--user", multiple=True, metavar="NAME", help="Only this user (repeatable).")
@click.option(
    "--account",
    "--project",
    "account",
    multiple=True,
    metavar="NAME",
    help="Only this account/project (repeatable).",
)
@click.option("--partition", multiple=True, metavar="NAME", help="Only this partition.")
@click.option("--qos", multiple=True, metavar="NAME", help="Only this QOS.")
@click.option("--state", multiple=True, metavar="STATE", help="Only this job state.")
@click.option(
    "--source",
    "source_names",
    multiple=True,
    metavar="NAME",
    help="Only this source: a cluster's stream, a workbench (repeatable).",
)
@click.option("--sprint", metavar="N", help="Sprint N, `current` or `previous`.")
@click.option(
    "--top",
    type=int,
    metavar="N",
    help="Only the N largest groups by CPU hours over the period (with --by day or "
    "month too: the N largest users, accounts... with each of their days).",
)
@format_option
@pass_app
def usage(
    app: AppContext,
    by: tuple[str, ...],
    period: str | None,
    start: str | None,
    end: str | None,
    cluster: tuple[str, ...],
    user: tuple[str, ...],
    account: tuple[str, ...],
    partition: tuple[str, ...],
    qos: tuple[str, ...],
    state: tuple[str, ...],
    source_names: tuple[str, ...],
    sprint: str | None,
    top: int | None,
    fmt: str,
) -> None:
    """Usage over a period (default: this month), answered from the day rollups.

    Hours of a job are split across days in proportion to its overlap with each day.
    `running` counts jobs that ran at some time in the period (or group); `avg wait h` is
    the mean time from submission to start of the jobs that started.
    """
    window = requested_period(
        app.settings(), period=period, start=start, end=end, sprint=sprint
    ) or resolve_period(None, None, None)
    filters = UsageFilters(cluster, user, account, partition, qos, state, source_names)
    with app.store().engine.connect() as conn:
        report = usage_summary(conn, window, by, filters, top)
    if fmt == "json":
        print_json(rounded(_json(report)))
    elif fmt == "csv":
        print_csv([*report.by, *HEADINGS], [(*r.group, *_values(r)) for r in report.rows])
    else:
        _table(report)


def _values(row: object) -> list[object]:
    return [getattr(row, m) for m in HEADINGS]


def _json(report: UsageReport) -> dict[str, object]:
    return {
        "period": {
            "label": report.period.label,
            "from": report.period.start.isoformat(),
            "to_exclusive": report.period.end.isoformat(),
        },
        "by": list(report.by),
        "rows": [r.as_dict(report.by) for r in report.rows],
        "total": report.total.as_dict(()),
    }


def _table(report: UsageReport) -> None:
    by = report.by
    title = f"Usage {report.period.label}" + (f" by {', '.join(by)}" if by else "")
    rows = [(*r.group, *_values(r)) for r in report.rows]
    if not by:
        rows = [tuple(_values(report.total))]
        print_table(list(HEADINGS.values()), rows, title=title)
        return
    footer = ["total", *([""] * (len(by) - 1)), *_values(report.total)]
    print_table([*by, *HEADINGS.values()], rows, title=title, footer=footer, numeric_from=len(by))
    if not report.rows:
        click.echo("no usage in this period (see `meterbook imports` for what was loaded)")


COMMANDS = (usage,)
