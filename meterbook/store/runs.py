"""Import runs and rejects: what was imported, when, with which counts, and what was refused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, update

from meterbook.connectors.base import Reject
from meterbook.store.schema import import_runs, rejects

#: Run states: running (or killed while running), ok, failed, interrupted, rolled back (strict).
STATUSES = ("running", "ok", "failed", "interrupted", "rolled back")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def start_run(engine: Engine, kind: str, inputs: Sequence[str], options: dict[str, Any]) -> int:
    """Record a new run (committed at once, so a killed import still leaves its trace)."""
    with engine.begin() as conn:
        result = conn.execute(
            insert(import_runs).values(
                kind=kind,
                status="running",
                started_at=_now(),
                inputs=json.dumps(list(inputs)),
                options=json.dumps(options, default=str, sort_keys=True),
                lines_read=0,
                inserted=0,
                updated=0,
                unchanged=0,
                rejected=0,
                skipped=0,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def add_progress(
    conn: Connection,
    run_id: int,
    *,
    inserted: int,
    updated: int,
    unchanged: int,
    skipped: int,
    lines_read: int,
    batch_rejects: Sequence[Reject],
) -> None:
    """Add one batch's counts and rejects to the run, inside the batch's transaction."""
    if batch_rejects:
        conn.execute(
            insert(rejects),
            [
                {
                    "run_id": run_id,
                    "file": r.file[:1000],
                    "line_no": r.line,
                    "reason": r.reason,
                    "raw": r.raw,
                }
                for r in batch_rejects
            ],
        )
    c = import_runs.c
    conn.execute(
        update(import_runs)
        .where(c.id == run_id)
        .values(
            inserted=c.inserted + inserted,
            updated=c.updated + updated,
            unchanged=c.unchanged + unchanged,
            rejected=c.rejected + len(batch_rejects),
            skipped=skipped,
            lines_read=lines_read,
        )
    )


def finish_run(engine: Engine, run_id: int, status: str, message: str | None = None) -> None:
    assert status in STATUSES
    with engine.begin() as conn:
        conn.execute(
            update(import_runs)
            .where(import_runs.c.id == run_id)
            .values(status=status, finished_at=_now(), message=message)
        )
