"""Tables of operations: scheduled job runs, the per-job locks, and message deliveries.

``job_runs`` records every run of a configured job: the slot it was scheduled for (naive UTC;
null for none), when it started and ended, its status (``running`` while it runs, then ``ok``,
``failed``, ``timeout`` or ``skipped``), exit code and the last lines of its output. The
scheduler's catch-up reads the latest recorded slot of a job from here.

``job_locks`` holds one row per job being run, with its owner and an expiry: a scheduler takes
it by inserting the row (which fails when another holds it) or by updating an expired one, so
two schedulers never run the same job at once.

``deliveries`` records each message sent to a recipient (e-mail or webhook): attempts, the
final status (``sending``, ``sent``, ``failed``) and the last error with secrets redacted.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from meterbook.store.schema import NAME, Ident, metadata

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job", Ident(NAME), nullable=False),
    Column("scheduled_for", DateTime),
    Column("trigger", String(16), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime),
    Column("status", String(16), nullable=False),
    Column("exit_code", Integer),
    Column("message", Text),
    Column("owner", String(200), nullable=False),
    Index("ix_job_runs_job_started", "job", "started_at"),
)

job_locks = Table(
    "job_locks",
    metadata,
    Column("job", Ident(NAME), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("recipient", Ident(NAME), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_deliveries_created", "created_at"),
)
