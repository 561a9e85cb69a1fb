"""``meterbook forecast`` (month-end projections), ``forecast backtest`` and ``anomalies``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from meterbook.anomalies import DIMENSIONS as ANOMALY_BY
from meterbook.anomalies import KINDS, SEVERITIES, Anomaly, detect
from meterbook.backtest import HORIZON, MIN_TRAIN, ORIGINS, STEP, Plan
from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table, rounded
from meterbook.collecting import requested_period
from meterbook.forecast import CHOICES, SeriesBacktest, SeriesForecast, backtest_store, forecast
from meterbook.forecast_series import BY, METRICS, SPEND_METRICS, USAGE_BY, USAGE_METRICS
from meterbook.periods import parse_date, resolve_period


def _metric(by: str, metric: str | None) -> str:
    """The metric asked for; by default cost, or CPU hours for a usage-only dimension."""
    if metric:
        return metric
    return "cpu_hours" if by in USAGE_BY and by not in ("project", "total") else "cost"


def _filters(metric: str, provider: tuple[str, ...], team: tuple[str, ...],
             cluster: tuple[str, ...], account: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    if metric in SPEND_METRICS:
        pairs = {"providers": provider, "teams": team, "projects": account}
        if cluster:
            raise click.UsageError("--cluster filters usage metrics, not spend")
    else:
        pairs = {"clusters": cluster, "accounts": account}
        if provider or team:
            raise click.UsageError("--provider and --team filter spend, not usage metrics")
    return {k: v for k, v in pairs.items() if v}


def _series_options(func: Any) -> Any:
    options = [
        click.option("--by", "by", type=click.Choice(BY), default="total", show_default=True,
                     help="One series per provider, team or project (spend); account, project, "
                     "user or cluster (usage); or one total."),
        click.option("--metric", type=click.Choice(METRICS), default=None,
                     help=f"Spend: {', '.join(SPEND_METRICS)}; usage: {', '.join(USAGE_METRICS)} "
                     "(default: cost; cpu_hours for account, user, cluster)."),
        click.option("--as-of", "as_of", metavar="DATE",
                     help="Last day of actuals (default: the last day with data)."),
        click.option("--provider", multiple=True, metavar="NAME", help="Only this provider."),
        click.option("--team", multiple=True, metavar="NAME", help="Only this team."),
        click.option("--account", "--project", "account", multiple=True, metavar="NAME",
                     help="Only this account/project."),
        click.option("--cluster", multiple=True, metavar="NAME", help="Only this cluster."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def _plain(value: Decimal) -> str:
    return f"{value:,.2f}"


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  meterbook forecast --by team                       this month and next, per team
  meterbook forecast --by provider --months 3 --method ets
  meterbook forecast --by account --metric gpu_hours --format csv
  meterbook forecast --by cluster --metric cpu_hours --as-of 1993-12-15
  meterbook forecast backtest --by cluster --metric cpu_hours
""",
)
@_series_options
@click.option("--months", type=click.IntRange(0, 24), default=1, show_default=True,
              help="Months after the current one.")  # fmt: skip
@click.option("--method", type=click.Choice(CHOICES), default="auto", show_default=True,
              help="auto: per series, the method with the lowest backtest MASE.")  # fmt: skip
@format_option
@click.pass_context
def forecast_command(
    ctx: click.Context,
    by: str,
    metric: str | None,
    as_of: str | None,
    provider: tuple[str, ...],
    team: tuple[str, ...],
    account: tuple[str, ...],
    cluster: tuple[str, ...],
    months: int,
    method: str,
    fmt: str,
) -> None:
    """Month-end projection of the current month (actual so far + forecast of the days left)
    and of the next --months months, with 80 % and 95 % prediction intervals.

    The current month is the month of --as-of, by default the last day with data. Methods:
    dubweb (the original trend decay), ets (exponential smoothing, weekly season), naive
    (same weekday a week before); see docs/forecasts.md.
    """
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.obj
    metric = _metric(by, metric)
    day = parse_date(as_of, "--as-of") if as_of else None
    filters = _filters(metric, provider, team, cluster, account)
    results = forecast(app.store().engine, by=by, metric=metric, months=months, method=method,
                       as_of=day, filters=filters)  # fmt: skip
    heads = ["actual_to_date", "forecast", "lo80", "hi80", "lo95", "hi95"]
    if fmt == "json":
        print_json(_forecast_json(by, metric, results))
    elif fmt == "csv":
        print_csv([by, "method", "model", "as_of", "month", *heads],
                  [(f.key, f.method, f.model, f.as_of.isoformat(), m.month,
                    *(getattr(m, h) for h in heads))
                   for f in results for m in f.months])  # fmt: skip
    else:
        print_forecast_table(metric, results, by=by)


def print_forecast_table(
    metric: str, results: list[SeriesForecast], *, by: str, title: str | None = None
) -> None:
    """The projections as one table (the demo prints it too)."""
    as_of = max((f.as_of for f in results), default=None)
    title = (title or f"Forecast of {metric} by {by}") + (f", actuals to {as_of}" if as_of else "")
    print_table(
        (by, "method", "month", "actual to date", "forecast", "80 % low", "80 % high",
         "95 % low", "95 % high"),
        [(f.key, f.method, m.month, _plain(m.actual_to_date), _plain(m.forecast),
          _plain(m.lo80), _plain(m.hi80), _plain(m.lo95), _plain(m.hi95))
         for f in results for m in f.months],
        title=title, numeric_from=3,
    )  # fmt: skip
    if not results:
        click.echo("no data to forecast (see `meterbook imports` for what was loaded)")


def _forecast_json(by: str, metric: str, results: list[SeriesForecast]) -> dict[str, Any]:
    return {
        "by": by,
        "metric": metric,
        "series": [
            {"key": f.key, "method": f.method, "model": f.model, "as_of": f.as_of.isoformat(),
             "history_days": f.history_days, "months": [m.as_dict() for m in f.months]}
            for f in results
        ],
    }  # fmt: skip


@forecast_command.command(
    "backtest",
    epilog="""\b
Examples:
  meterbook forecast backtest --by cluster --metric cpu_hours
  meterbook forecast backtest --by team --horizon 14 --step 7 --origins 8
  meterbook forecast backtest --by total --format json
""",
)
@_series_options
@click.option("--horizon", type=click.IntRange(1), default=HORIZON, show_default=True,
              help="Days forecast from each origin.")  # fmt: skip
@click.option("--step", type=click.IntRange(1), default=STEP, show_default=True,
              help="Days between origins.")  # fmt: skip
@click.option("--origins", type=click.IntRange(1), default=ORIGINS, show_default=True,
              help="Most origins (the latest ones).")  # fmt: skip
@click.option("--min-train", type=click.IntRange(1), default=MIN_TRAIN, show_default=True,
              help="Fewest days of history at an origin.")  # fmt: skip
@format_option
@pass_app
def backtest_command(
    app: AppContext,
    by: str,
    metric: str | None,
    as_of: str | None,
    provider: tuple[str, ...],
    team: tuple[str, ...],
    account: tuple[str, ...],
    cluster: tuple[str, ...],
    horizon: int,
    step: int,
    origins: int,
    min_train: int,
    fmt: str,
) -> None:
    """Rolling-origin backtest of every method on each series' own history: MAPE (days with
    a zero actual left out), MASE (scaled by the in-sample seasonal naive error, lag 7) and
    the percentage error of the horizon's total, averaged over the origins.

    auto is scored honestly: at each origin it picks its method by a backtest of the days
    before that origin only.
    """
    metric = _metric(by, metric)
    day = parse_date(as_of, "--as-of") if as_of else None
    filters = _filters(metric, provider, team, cluster, account)
    plan = Plan(horizon, step, min_train, origins)
    results = backtest_store(app.store().engine, by=by, metric=metric, plan=plan, as_of=day,
                             filters=filters)  # fmt: skip
    rows = [(b.key, s.method, s.mape, s.mase, s.total_ape, s.origins)
            for b in results for s in b.scores]  # fmt: skip
    if fmt == "json":
        print_json(rounded({
            "by": by, "metric": metric, "horizon": horizon, "step": step, "origins": origins,
            "min_train": min_train,
            "series": [{"key": b.key, "days": b.days, "scores": [
                {"method": s.method, "mape": s.mape, "mase": s.mase, "total_ape": s.total_ape,
                 "origins": s.origins, **({"chosen": list(s.chosen)} if s.chosen else {})}
                for s in b.scores]} for b in results],
        }))  # fmt: skip
    elif fmt == "csv":
        print_csv([by, "method", "mape", "mase", "total_ape", "origins"], rows)
    else:
        print_table((by, "method", "MAPE %", "MASE", "total APE %", "origins"), rows,
                    title=f"Backtest of {metric} by {by}: horizon {horizon} d, step {step} d",
                    numeric_from=2)  # fmt: skip
        _picks(results)


def _picks(results: list[SeriesBacktest]) -> None:
    for b in results:
        for s in b.scores:
            if s.chosen:
                click.echo(f"auto for {b.key} chose, origin by origin: {', '.join(s.chosen)}")
    if not results:
        click.echo("no data to backtest (see `meterbook imports` for what was loaded)")


@click.command(
    "anomalies",
    epilog="""\b
Examples:
  meterbook anomalies --period 2026-10
  meterbook anomalies --period 2026-10 --by team --kind spend --min-severity medium
  meterbook anomalies --from 2026-10-01 --to 2026-10-14 --by user --usage-metric gpu_hours
""",
)
@click.option("--period", metavar="P", help="2026, 2026-Q3, 2026-10 or 2026-10-05.")
@click.option("--from", "start", metavar="DATE", help="First day (with --to).")
@click.option("--to", "end", metavar="DATE", help="Last day, inclusive.")
@click.option("--by", "by", multiple=True, type=click.Choice(ANOMALY_BY),
              help="team, project, user (repeatable; default all).")  # fmt: skip
@click.option("--kind", "kinds", multiple=True, type=click.Choice(KINDS),
              help="spend, usage (repeatable; default both).")  # fmt: skip
@click.option("--spend-metric", type=click.Choice(tuple(SPEND_METRICS)), default="cost",
              show_default=True, help="What of spend is checked.")  # fmt: skip
@click.option("--usage-metric", type=click.Choice(USAGE_METRICS), default="cpu_hours",
              show_default=True, help="What of usage is checked.")  # fmt: skip
@click.option("--min-severity", type=click.Choice(SEVERITIES), default="low", show_default=True,
              help="low: |score| >= 3, medium: >= 5, high: >= 8.")  # fmt: skip
@format_option
@pass_app
def anomalies_command(
    app: AppContext,
    period: str | None,
    start: str | None,
    end: str | None,
    by: tuple[str, ...],
    kinds: tuple[str, ...],
    spend_metric: str,
    usage_metric: str,
    min_severity: str,
    fmt: str,
) -> None:
    """Unusual days of spend (by team, project) and usage (by project, user) in a period
    (default: this month), against the forecast of each day from the days before it.

    score = (actual - expected) / scale; drops score negative. See docs/forecasts.md.
    """
    window = requested_period(
        app.settings(), period=period, start=start, end=end
    ) or resolve_period(None, None, None)
    found = detect(app.store().engine, start=window.start, end=window.end,
                   kinds=kinds or KINDS, by=by or ANOMALY_BY, spend_metric=spend_metric,
                   usage_metric=usage_metric, min_severity=min_severity)  # fmt: skip
    if fmt == "json":
        print_json({"period": window.label, "anomalies": [a.as_dict() for a in found]})
        return
    columns = ("day", "kind", "dimension", "key", "metric", "expected", "actual", "score",
               "severity")  # fmt: skip
    if fmt == "csv":
        print_csv(columns, [_cells(a) for a in found])
        return
    print_table(columns, [_cells(a, table=True) for a in found],
                title=f"Anomalies {window.label}", numeric_from=5, numeric_to=8)  # fmt: skip
    if not found:
        click.echo(f"no anomalies of severity {min_severity} or above")


def _cells(a: Anomaly, *, table: bool = False) -> tuple[Any, ...]:
    expected: Any = _plain(a.expected) if table else a.expected
    actual: Any = _plain(a.actual) if table else a.actual
    return (a.day.isoformat(), a.kind, a.dimension, a.key, a.metric, expected, actual,
            f"{a.score:.2f}" if table else a.score, a.severity)  # fmt: skip


forecast_command.name = "forecast"
COMMANDS = (forecast_command, anomalies_command)
