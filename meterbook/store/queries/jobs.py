"""Job runs and job locks of the scheduler.

A lock is one ``job_locks`` row. :func:`acquire_lock` takes it atomically on every database:
an INSERT that fails when the row exists (primary key), else an UPDATE that only matches a row
already held by the same owner or past its expiry. Each statement runs in its own transaction,
so a failed INSERT leaves nothing behind (PostgreSQL aborts a transaction on an error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from meterbook.store.schema_ops import job_locks, job_runs

#: Run states; ``running`` until the run ends (or the scheduler was killed during it).
RUN_STATUSES = ("running", "ok", "failed", "timeout", "skipped")
#: How a run was started.
TRIGGERS = ("schedule", "catch-up", "run-job")


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    scheduled_for: datetime | None
    trigger: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    exit_code: int | None
    message: str | None
    owner: str

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds(), 1)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = self.seconds
        return out


def _naive(moment: datetime) -> datetime:
    """A naive UTC datetime (the schema's convention), from an aware or naive UTC one."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def start_run(
    engine: Engine,
    job: str,
    *,
    scheduled_for: datetime | None,
    trigger: str,
    owner: str,
    now: datetime,
    status: str = "running",
    message: str | None = None,
) -> int:
    """Record a run as started (committed at once); returns its id."""
    assert trigger in TRIGGERS and status in RUN_STATUSES
    with engine.begin() as conn:
        result = conn.execute(
            insert(job_runs).values(
                job=job,
                scheduled_for=None if scheduled_for is None else _naive(scheduled_for),
                trigger=trigger,
                started_at=_naive(now),
                ended_at=None if status == "running" else _naive(now),
                status=status,
                message=message,
                owner=owner[:200],
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    exit_code: int | None,
    message: str | None,
    now: datetime,
) -> None:
    assert status in RUN_STATUSES and status != "running"
    with engine.begin() as conn:
        conn.execute(
            update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(status=status, exit_code=exit_code, message=message, ended_at=_naive(now))
        )


def last_slot(conn: Connection, job: str) -> datetime | None:
    """The latest slot a run of ``job`` was recorded for (any status), naive UTC."""
    c = job_runs.c
    return conn.execute(
        select(func.max(c.scheduled_for)).where(c.job == job, c.scheduled_for.is_not(None))
    ).scalar()


def last_runs(conn: Connection) -> dict[str, JobRun]:
    """The most recent run of each job."""
    c = job_runs.c
    latest = select(c.job, func.max(c.id).label("id")).group_by(c.job).subquery()
    rows = conn.execute(select(job_runs).join(latest, latest.c.id == c.id)).mappings()
    return {row["job"]: JobRun(**row) for row in rows}


def list_runs(conn: Connection, *, job: str | None = None, limit: int = 50) -> list[JobRun]:
    """Runs, newest first."""
    query = select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
    if job is not None:
        query = query.where(job_runs.c.job == job)
    return [JobRun(**row) for row in conn.execute(query).mappings()]


def acquire_lock(engine: Engine, job: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take the lock of ``job`` for ``owner`` until ``now + ttl``; False when another holds it."""
    now_n = _naive(now)
    expires = now_n + ttl
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(job_locks).values(
                    job=job, owner=owner[:200], acquired_at=now_n, expires_at=expires
                )
            )
        return True
    except IntegrityError:
        pass
    c = job_locks.c
    with engine.begin() as conn:
        result = conn.execute(
            update(job_locks)
            .where(c.job == job, or_(c.owner == owner[:200], c.expires_at < now_n))
            .values(owner=owner[:200], acquired_at=now_n, expires_at=expires)
        )
        return result.rowcount == 1


def release_lock(engine: Engine, job: str, owner: str) -> None:
    """Give the lock back (only when ``owner`` still holds it)."""
    c = job_locks.c
    with engine.begin() as conn:
        conn.execute(delete(job_locks).where(c.job == job, c.owner == owner[:200]))


def lock_holder(conn: Connection, job: str) -> tuple[str, datetime] | None:
    """``(owner, expires_at)`` of the lock of ``job``, or None."""
    c = job_locks.c
    row = conn.execute(select(c.owner, c.expires_at).where(c.job == job)).first()
    return None if row is None else (row[0], row[1])
