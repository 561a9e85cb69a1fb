"""``meterbook scheduler``, ``run-job``, ``jobs`` and ``runs``: scheduled jobs and their runs."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from meterbook import scheduler as lib
from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_json, print_rows
from meterbook.errors import JobError
from meterbook.jobs import next_slot
from meterbook.org import cell
from meterbook.store.queries import jobs as q


@click.command(
    epilog="""\b
Examples:
  meterbook scheduler                  run until SIGTERM or Ctrl-C
  meterbook scheduler --once           one pass: run what is due now, then exit
  meterbook --config /etc/meterbook/meterbook.toml scheduler -v
"""
)
@click.option("--once", is_flag=True, help="Act on what is due now, then exit.")
@pass_app
def scheduler(app: AppContext, once: bool) -> None:
    """Run the jobs of the configuration ([jobs.NAME]) on their cron schedules.

    Every run is recorded (`meterbook runs`); a job holds a lock in the database while it
    runs, so several schedulers on one database never run a slot twice. After downtime a job
    with catch_up = true runs once for the latest missed slot. SIGTERM or SIGINT ends the
    running job, records it and stops."""
    store = app.store()
    settings = app.settings()
    if not settings.jobs:
        click.echo("no jobs (add [jobs.NAME] to the configuration)", err=True)
        return
    done = lib.serve(store.engine, settings, once=once)
    for outcome in done:
        click.echo(f"{outcome.job}: {outcome.status}")


@click.command(
    "run-job",
    epilog="""\b
Examples:
  meterbook run-job nightly-slurm
  # from system cron (crontab -e), instead of `meterbook scheduler`:
  15 1 * * *  meterbook --config /etc/meterbook/meterbook.toml run-job nightly-slurm
""",
)
@click.argument("name")
@pass_app
def run_job(app: AppContext, name: str) -> None:
    """Run job NAME now, recorded and under its lock like a scheduled run (for system cron).
    Exits non-zero when the job fails or times out; a job already running elsewhere is
    recorded as skipped."""
    store = app.store()
    outcome = lib.run_job_now(store.engine, app.settings(), name)
    if outcome.status in ("failed", "timeout"):
        last = outcome.message.splitlines()[-1] if outcome.message else ""
        raise JobError(f"job {name}: {outcome.status}" + (f": {last}" if last else ""))
    click.echo(
        f"{name}: {outcome.status}"
        + (f" ({outcome.message})" if outcome.status == "skipped" else "")
    )


_JOB_COLUMNS = ("job", "schedule", "command", "next due (UTC)", "last status", "last started",
                "catch up", "notify")  # fmt: skip


@click.command(
    epilog="""\b
Examples:
  meterbook jobs
  meterbook jobs --format json
"""
)
@format_option
@pass_app
def jobs(app: AppContext, fmt: str) -> None:
    """List the configured jobs with their next due time and last run's status."""
    settings = app.settings()
    with app.store().engine.connect() as conn:
        last = q.last_runs(conn)
    now = datetime.now(UTC)
    rows = []
    for name, job in sorted(settings.jobs.items()):
        due = next_slot(job.schedule, now, settings.zone).replace(tzinfo=None)
        run = last.get(name)
        rows.append((name, job.schedule, job.command, cell(due),
                     run.status if run else "", cell(run.started_at) if run else "",
                     cell(job.catch_up), ", ".join(job.notify)))  # fmt: skip
    print_rows(_JOB_COLUMNS, rows, fmt, "Jobs")
    if not rows and fmt == "table":
        click.echo("no jobs (add [jobs.NAME] to the configuration)")


_RUN_COLUMNS = ("run", "job", "scheduled for (UTC)", "trigger", "started (UTC)", "seconds",
                "status", "exit code", "message")  # fmt: skip


@click.command(
    epilog="""\b
Examples:
  meterbook runs
  meterbook runs --job nightly-slurm --limit 5
  meterbook runs --format json
"""
)
@click.option("--job", metavar="NAME", help="Only runs of this job.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@format_option
@pass_app
def runs(app: AppContext, job: str | None, limit: int, fmt: str) -> None:
    """List job runs, newest first: slot, trigger, status, exit code and the last line of
    the output (all of it, up to the configured lines, with --format json or csv)."""
    with app.store().engine.connect() as conn:
        found = q.list_runs(conn, job=job, limit=limit)
    if fmt == "json":
        print_json([r.as_dict() for r in found])
        return
    rows = []
    for r in found:
        message = r.message or ""
        if fmt == "table" and message:
            message = message.splitlines()[-1]
        rows.append((r.id, r.job, cell(r.scheduled_for), r.trigger, cell(r.started_at),
                     "" if r.seconds is None else r.seconds, r.status,
                     "" if r.exit_code is None else r.exit_code, message))  # fmt: skip
    print_rows(_RUN_COLUMNS, rows, fmt, "Job runs")


COMMANDS = (scheduler, run_job, jobs, runs)
