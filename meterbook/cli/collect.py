"""``meterbook sources``, ``collect``, ``metrics`` and ``workloads``: the API sources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from meterbook.cli.context import AppContext, F, pass_app, stacked
from meterbook.cli.output import format_option, print_csv, print_json, print_table, rounded
from meterbook.collecting import (
    CollectResult,
    check_source,
    describe_source,
    requested_period,
    source_config,
)
from meterbook.collecting import (
    collect as run_collect,
)
from meterbook.errors import MeterbookError
from meterbook.periods import Period, day_start, previous_month
from meterbook.settings import Settings
from meterbook.store.queries.metrics import (
    GRAINS,
    LEVELS,
    MetricScope,
    metric_series,
    metric_summary,
)
from meterbook.store.queries.workloads import GROUPS, workload_details, workload_summary


def period_options(func: F) -> F:
    """``--period``, ``--from``/``--to`` and ``--sprint``."""
    return stacked(
        click.option("--period", metavar="P", help="2025, 2025-Q1, 2025-02 or 2025-02-13."),
        click.option("--from", "start", metavar="DATE", help="First day (with --to)."),
        click.option("--to", "end", metavar="DATE", help="Last day, inclusive."),
        click.option(
            "--sprint", metavar="N", help="Sprint N, `current` or `previous` ([periods] setting)."
        ),
    )(func)


def _period(settings: Settings, period: str | None, start: str | None, end: str | None,
            sprint: str | None) -> Period:  # fmt: skip
    found = requested_period(settings, period=period, start=start, end=end, sprint=sprint)
    if found is None:
        found = requested_period(settings, sprint="current")
        assert found is not None
    return found


def _bounds(settings: Settings, period: Period) -> tuple[float, float]:
    zone = settings.zone
    return day_start(period.start, zone).timestamp(), day_start(period.end, zone).timestamp()


@click.group(invoke_without_command=True, epilog="""\b
Examples:
  meterbook sources                  the configured API sources
  meterbook sources check            can each be reached with its credentials?
  meterbook sources check ali-hk
""")  # fmt: skip
@click.pass_context
def sources(ctx: click.Context) -> None:
    """The API sources configured in [sources.NAME] of meterbook.toml."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_sources)


@sources.command("list", epilog="""\b
Examples:
  meterbook sources list
  meterbook sources list --format json
""")  # fmt: skip
@format_option
@pass_app
def list_sources(app: AppContext, fmt: str) -> None:
    """List the configured sources."""
    rows = [describe_source(c) for c in app.settings().sources.values()]
    columns = ["name", "type", "where", "collects"]
    if fmt == "json":
        print_json([dict(zip(columns, r, strict=True)) for r in rows])
    elif fmt == "csv":
        print_csv(columns, rows)
    elif not rows:
        click.echo("no sources configured: add [sources.NAME] to meterbook.toml "
                   "(see docs/collectors.md)")  # fmt: skip
    else:
        print_table(columns, rows, title="Sources", numeric_from=len(columns))


@sources.command("check", epilog="""\b
Examples:
  meterbook sources check
  meterbook sources check ml-prod ali-hk
""")  # fmt: skip
@click.argument("names", nargs=-1, metavar="[NAME]...")
@pass_app
def check_sources(app: AppContext, names: tuple[str, ...]) -> None:
    """Check that each source answers with its credentials (one small call each)."""
    settings = app.settings()
    chosen = names or tuple(settings.sources)
    failed = 0
    for name in chosen:
        config = source_config(settings, name)
        try:
            detail = check_source(config, settings)
        except MeterbookError as exc:
            failed += 1
            click.echo(f"{name}: FAILED: {exc}")
        else:
            click.echo(f"{name}: ok ({detail})")
    if failed:
        raise SystemExit(5)


@click.command(epilog="""\b
Examples:
  meterbook collect ml-prod                     from the watermark up to now
  meterbook collect ml-prod --period 2024-07    a calendar month
  meterbook collect ali-hk --sprint current     this sprint so far
  meterbook collect ali-hk --from 2025-02-13 --to 2025-02-26
""")  # fmt: skip
@click.argument("name", metavar="SOURCE")
@period_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def collect(app: AppContext, name: str, period: str | None, start: str | None, end: str | None,
            sprint: str | None, as_json: bool) -> None:  # fmt: skip
    """Collect from an API source into the ledger.

    Without a range: from where the last successful collection stopped (minus the source's
    overlap for late data) up to now. Collecting a range again changes nothing.
    """
    settings = app.settings()
    window = requested_period(settings, period=period, start=start, end=end, sprint=sprint)
    store = app.store()
    result = run_collect(store, settings, name, period=window)
    _report(result, as_json)


def _report(result: CollectResult, as_json: bool) -> None:
    w = result.window
    if as_json:
        print_json(result.as_dict())
        return
    span = f"{w.start:%Y-%m-%d %H:%M} .. {w.end:%Y-%m-%d %H:%M} UTC ({w.label})"
    click.echo(f"{result.source}: {span}")
    click.echo(f"  {result.summary()} in {result.seconds:.1f} s")
    for metric, instance in result.empty[:20]:
        click.echo(f"  no data: {metric} of {instance}")
    if len(result.empty) > 20:
        click.echo(f"  ... and {len(result.empty) - 20} more without data")
    if result.usage is not None and result.usage.rejected:
        click.echo(f"  see `meterbook imports rejects {result.usage.run_id}`")


def scope_options(func: F) -> F:
    return stacked(
        click.option("--source", "source_names", multiple=True, metavar="NAME",
                     help="Only this source (repeatable)."),
        click.option("--env", "envs", multiple=True, metavar="ENV",
                     help="Only this environment (repeatable)."),
        click.option("--group", "groups", multiple=True, metavar="GROUP",
                     help="Only this group, e.g. web, app, rds (repeatable)."),
        click.option("--instance", "instances", multiple=True, metavar="ID|NAME",
                     help="Only this instance (repeatable)."),
        click.option("--metric", "metric_names", multiple=True, metavar="NAME",
                     help="Only this metric (repeatable)."),
        click.option("--by", "level", type=click.Choice(LEVELS), default="instance",
                     show_default=True, help="Summarise per instance, group or environment."),
    )(func)  # fmt: skip


@click.group(epilog="""\b
Examples:
  meterbook metrics summary --sprint current --by environment
  meterbook metrics summary --source ali-hk --env PROD --threshold 90
  meterbook metrics series --period 2025-02 --grain day --by group --format csv
""")  # fmt: skip
def metrics() -> None:
    """Utilisation of cloud instances and workbenches (metric samples)."""


@metrics.command("summary", epilog="""\b
Examples:
  meterbook metrics summary --sprint current
  meterbook metrics summary --sprint 15 --by environment --format json
  meterbook metrics summary --period 2025-02 --env PROD --group web --threshold 90
""")  # fmt: skip
@period_options
@scope_options
@click.option("--threshold", type=float, default=80.0, show_default=True,
              help="Samples whose average exceeds this count as incidents.")  # fmt: skip
@format_option
@pass_app
def summary(app: AppContext, period: str | None, start: str | None, end: str | None,
            sprint: str | None, source_names: tuple[str, ...], envs: tuple[str, ...],
            groups: tuple[str, ...], instances: tuple[str, ...], metric_names: tuple[str, ...],
            level: str, threshold: float, fmt: str) -> None:  # fmt: skip
    """Min, max, average, p95 and time above the threshold, per instance, group or
    environment (default period: the current sprint)."""
    settings = app.settings()
    window = _period(settings, period, start, end, sprint)
    scope = MetricScope(source_names, envs, groups, instances, metric_names)
    with app.store().engine.connect() as conn:
        rows = metric_summary(conn, *_bounds(settings, window), scope, level=level,
                              threshold=threshold)  # fmt: skip
    columns = ["environment", "group", "instance", "kind", "metric", "samples", "minimum",
               "maximum", "average", "p95", "above", "above_share"]  # fmt: skip
    keep = {"instance": 3, "group": 2, "environment": 1}[level]
    shown = [c for i, c in enumerate(columns) if i >= 3 or i < keep]
    table = [[r.as_dict()[c] for c in shown] for r in rows]
    if fmt == "json":
        found = [dict(zip(shown, t, strict=True)) for t in table]
        print_json(rounded({"period": window.label, "threshold": threshold, "rows": found}))
    elif fmt == "csv":
        print_csv(shown, table)
    else:
        for row in table:
            share = row[-1]
            row[-1] = None if share is None else f"{share:.1%}"
        print_table(shown, table, title=f"Utilisation {window.label} (threshold {threshold:g})",
                    numeric_from=shown.index("samples"))  # fmt: skip
        if not rows:
            click.echo("no samples in this period (see `meterbook collect`)")


@metrics.command("series", epilog="""\b
Examples:
  meterbook metrics series --sprint current --grain day --by group
  meterbook metrics series --from 2025-02-13 --to 2025-02-14 --instance prod-web-01
  meterbook metrics series --source ml-prod --period 2024-07 --format csv
""")  # fmt: skip
@period_options
@scope_options
@click.option("--grain", type=click.Choice(GRAINS), default="hour", show_default=True)
@format_option
@pass_app
def series(app: AppContext, period: str | None, start: str | None, end: str | None,
           sprint: str | None, source_names: tuple[str, ...], envs: tuple[str, ...],
           groups: tuple[str, ...], instances: tuple[str, ...], metric_names: tuple[str, ...],
           level: str, grain: str, fmt: str) -> None:  # fmt: skip
    """Time series of each metric (average, minimum, maximum per hour, day or sample)."""
    settings = app.settings()
    window = _period(settings, period, start, end, sprint)
    scope = MetricScope(source_names, envs, groups, instances, metric_names)
    with app.store().engine.connect() as conn:
        points = metric_series(conn, *_bounds(settings, window), scope, grain=grain,
                               level=level, zone=settings.zone)  # fmt: skip
    columns = ["time", "environment", "group", "instance", "metric", "samples", "average",
               "minimum", "maximum"]  # fmt: skip
    if fmt == "json":
        print_json(rounded({"period": window.label, "grain": grain,
                            "points": [p.as_dict() for p in points]}))  # fmt: skip
        return
    rows = [[p.as_dict()[c] for c in columns] for p in points]
    if fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(columns, rows, title=f"{grain} series {window.label}", numeric_from=5)


@click.command(epilog="""\b
Examples:
  meterbook workloads --source ml-prod --period 2024-07 --by user
  meterbook workloads --source ml-prod --period 2024-07 --by project --format csv
  meterbook workloads --source ml-prod --period 2024-07 --details
""")  # fmt: skip
@period_options
@click.option("--source", "source_names", multiple=True, metavar="NAME",
              help="Only this source (repeatable).")  # fmt: skip
@click.option("--by", type=click.Choice(GROUPS), default="user", show_default=True)
@click.option("--details", is_flag=True, help="List every workload instead of a summary.")
@click.option("--long-hours", type=float, default=24.0, show_default=True,
              help="Workloads longer than this count as long-running.")  # fmt: skip
@format_option
@pass_app
def workloads(app: AppContext, period: str | None, start: str | None, end: str | None,
              sprint: str | None, source_names: tuple[str, ...], by: str, details: bool,
              long_hours: float, fmt: str) -> None:  # fmt: skip
    """Workloads started in a period with their whole duration, as the ML platform's
    chargeback reports count them (default period: the previous month)."""
    settings = app.settings()
    window = requested_period(settings, period=period, start=start, end=end, sprint=sprint)
    if window is None:
        window = previous_month(datetime.now(UTC).date())
    bounds = _bounds(settings, window)
    with app.store().engine.connect() as conn:
        if details:
            items: list[dict[str, Any]] = [
                d.as_dict() for d in workload_details(conn, *bounds, source_names)
            ]
            title = f"Workloads {window.label}"
        else:
            items = [s.as_dict(by) for s in workload_summary(conn, *bounds, by, source_names,
                                                             long_hours)]  # fmt: skip
            title = f"Workloads {window.label} by {by}"
    if fmt == "json":
        print_json(rounded({"period": window.label, "rows": items}))
        return
    columns = list(items[0]) if items else ([by] if not details else ["created_at"])
    if not details and items:
        columns = [by, *[c for c in columns if c != by]]
    rows = [[i[c] for c in columns] for i in items]
    if fmt == "csv":
        print_csv(columns, rows)
        return
    print_table(columns, rows, title=title, numeric_from=7 if details else 1)
    if not items:
        click.echo("no workloads in this period (see `meterbook collect`)")


COMMANDS = (sources, collect, metrics, workloads)
