"""``meterbook alerts``: evaluate the alert rules, list what they raised, acknowledge."""

from __future__ import annotations

import getpass
from datetime import date, datetime

import click

from meterbook import alerts as lib
from meterbook.alert_rules import SEVERITIES, AlertRule, builtin_rules, describe
from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.errors import ConfigError
from meterbook.periods import parse_date
from meterbook.settings import Settings

_COLUMNS = (
    "id", "severity", "rule", "kind", "subject", "period", "metric", "value", "threshold",
    "expected", "message", "created_at", "acknowledged_at", "notified",
)  # fmt: skip


def active_rules(settings: Settings) -> tuple[dict[str, AlertRule], bool]:
    """The configured rules, else the built-in ones; and whether they are the built-in ones."""
    if settings.alert_rules:
        return dict(settings.alert_rules), False
    return builtin_rules(), True


def _today(settings: Settings) -> date:
    return datetime.now(settings.zone).date()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return f"{value}"


def _rows(found: list[lib.Alert]) -> list[tuple[object, ...]]:
    return [
        (a.id, a.severity, a.rule, a.kind, a.subject, a.period, a.metric, _text(a.value),
         _text(a.threshold), _text(a.expected), a.message, _text(a.created_at),
         _text(a.acknowledged_at),
         "failed" if a.notify_error else ("yes" if a.notified_at else ""))
        for a in found
    ]  # fmt: skip


def _print(found: list[lib.Alert], fmt: str, title: str) -> None:
    if fmt == "json":
        print_json([a.as_dict() for a in found])
        return
    rows = _rows(found)
    if fmt == "csv":
        print_csv(_COLUMNS, rows)
        return
    short = [(r[0], r[1], r[2], r[5], r[10], "ack" if r[12] else "open") for r in rows]
    print_table(("id", "severity", "rule", "period", "message", "state"), short, title=title)
    if not rows:
        click.echo("no alerts (evaluate the rules with `meterbook alerts evaluate`)")


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  meterbook alerts                         open and acknowledged alerts, newest first
  meterbook alerts --open --min-severity medium
  meterbook alerts evaluate                check every rule as of today
  meterbook alerts evaluate --as-of 2026-10-31 --dry-run
  meterbook alerts ack 12 13
  meterbook alerts rules                   the rules in force
""",
)
@click.option("--open", "open_only", is_flag=True, help="Only alerts not acknowledged.")
@click.option("--rule", "rules", multiple=True, metavar="NAME", help="Only this rule (repeat).")
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="Only this kind: budget, allocation, anomaly, io-heavy, usage (repeat).",
)
@click.option("--min-severity", type=click.Choice(SEVERITIES), default="low", show_default=True)
@click.option("--since", metavar="DATE", help="Raised on or after this day.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@format_option
@click.pass_context
def alerts(
    ctx: click.Context,
    open_only: bool,
    rules: tuple[str, ...],
    kinds: tuple[str, ...],
    min_severity: str,
    since: str | None,
    limit: int | None,
    fmt: str,
) -> None:
    """Alerts raised by the rules of meterbook.toml ([alerts.NAME]; built-in rules when none):
    budget thresholds, allocations running out, anomalies, heavy IO, GPU hours per user.
    Each condition is stored once. Without a subcommand: list them."""
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    assert app is not None
    day = parse_date(since, "--since") if since else None
    with app.store().engine.connect() as conn:
        found = lib.list_alerts(
            conn, open_only=open_only, rules=rules, kinds=kinds, min_severity=min_severity,
            since=day, limit=limit,
        )  # fmt: skip
    _print(found, fmt, "Alerts")


@alerts.command(
    "evaluate",
    epilog="""\b
Examples:
  meterbook alerts evaluate
  meterbook alerts evaluate --as-of 2026-10-31
  meterbook alerts evaluate --rule team-budgets --dry-run --format json
""",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Evaluate as of this day (default: today in the accounting time zone).",
)
@click.option("--rule", "only", multiple=True, metavar="NAME", help="Only this rule (repeat).")
@click.option("--dry-run", is_flag=True, help="Show what would be raised; store nothing.")
@format_option
@pass_app
def evaluate_command(
    app: AppContext, as_of: str | None, only: tuple[str, ...], dry_run: bool, fmt: str
) -> None:
    """Check every rule; store and notify the conditions not seen before. Exits 1 when a rule
    could not be checked (the others still are)."""
    settings = app.settings()
    rules, _ = active_rules(settings)
    unknown = [n for n in only if n not in rules]
    if unknown:
        raise ConfigError(f"--rule: no rule {', '.join(unknown)} (see `meterbook alerts rules`)")
    if only:
        rules = {n: r for n, r in rules.items() if n in only}
    day = parse_date(as_of, "--as-of") if as_of else _today(settings)
    context = lib.Context(day, settings.zone, settings.io_heavy_threshold)
    engine = app.store().engine
    notifier = lib.delivery_notifier(engine, settings)
    result = lib.evaluate(engine, rules, context, dry_run=dry_run, notifier=notifier)
    if fmt == "json":
        print_json({
            "as_of": day.isoformat(),
            "dry_run": dry_run,
            "found": len(result.findings),
            "new": [a.as_dict() for a in result.new],
            "known": result.known,
            "failed": result.failed,
            "notified": result.notified,
            "notify_failed": result.notify_failed,
            "findings": [] if not dry_run else [
                {"rule": f.rule, "kind": f.kind, "severity": f.severity, "subject": f.subject,
                 "period": f.period, "message": f.message} for f in result.findings],
        })  # fmt: skip
    elif dry_run:
        rows = [(f.severity, f.rule, f.period, f.message) for f in result.findings]
        if fmt == "csv":
            print_csv(("severity", "rule", "period", "message"), rows)
        else:
            print_table(("severity", "rule", "period", "message"), rows,
                        title=f"Would raise, as of {day} (dry run)")  # fmt: skip
    elif fmt == "csv":
        print_csv(_COLUMNS, _rows(result.new))
    else:
        if result.new:
            _print(result.new, fmt, f"New alerts as of {day}")
        click.echo(
            f"alerts as of {day}: {len(result.findings)} found, {len(result.new)} new, "
            f"{result.known} already raised"
            + (f", {result.notify_failed} notifications failed" if result.notify_failed else "")
        )
    for name, reason in result.failed.items():
        click.echo(f"error: rule {name}: {reason}", err=True)
    if result.failed:
        raise SystemExit(1)


@alerts.command(
    "ack",
    epilog="""\b
Examples:
  meterbook alerts ack 12
  meterbook alerts ack 12 13 --by alice
""",
)
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--by", "who", metavar="NAME", help="Who acknowledges (default: your login).")
@pass_app
def ack_command(app: AppContext, ids: tuple[int, ...], who: str | None) -> None:
    """Acknowledge alerts: they stay listed, no longer open."""
    by = who or getpass.getuser()
    with app.store().engine.begin() as conn:
        done = lib.acknowledge(conn, ids, by)
    for alert in done:
        click.echo(f"alert {alert.id} acknowledged by {alert.acknowledged_by}")


@alerts.command(
    "rules",
    epilog="""\b
Examples:
  meterbook alerts rules
  meterbook alerts rules --format json
""",
)
@format_option
@pass_app
def rules_command(app: AppContext, fmt: str) -> None:
    """The rules in force: those of meterbook.toml, else the built-in ones."""
    rules, builtin = active_rules(app.settings())
    rows = [
        (name, rule.type, "yes" if rule.enabled else "no", describe(rule),
         ", ".join(rule.notify) or "log")
        for name, rule in rules.items()
    ]  # fmt: skip
    columns = ("rule", "type", "enabled", "checks", "notify")
    if fmt == "json":
        print_json([rule.model_dump(mode="json") | {"builtin": builtin} for rule in rules.values()])
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        title = "Alert rules (built-in: no [alerts.*] in the configuration)" if builtin else (
            "Alert rules")  # fmt: skip
        print_table(columns, rows, title=title)


COMMANDS = (alerts,)
