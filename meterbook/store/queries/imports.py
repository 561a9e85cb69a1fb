"""Import runs and their rejects."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from meterbook.errors import ConfigError
from meterbook.store.schema import import_runs, rejects


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    inputs: list[str]
    lines_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int
    message: str | None

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = self.seconds
        return out


@dataclass(frozen=True)
class RejectRow:
    file: str
    line: int
    reason: str
    raw: str


def list_runs(conn: Connection, limit: int = 20) -> list[RunRow]:
    """The newest ``limit`` runs."""
    c = import_runs.c
    query = select(
        c.id,
        c.kind,
        c.status,
        c.started_at,
        c.finished_at,
        c.inputs,
        c.lines_read,
        c.inserted,
        c.updated,
        c.unchanged,
        c.rejected,
        c.skipped,
        c.message,
    )
    rows = conn.execute(query.order_by(c.id.desc()).limit(limit))
    return [RunRow(**{**r._asdict(), "inputs": json.loads(r.inputs)}) for r in rows]


def list_rejects(conn: Connection, run_id: int, limit: int = 1000) -> list[RejectRow]:
    """Rejects of run ``run_id`` in input order; an unknown run is an error."""
    if conn.execute(select(import_runs.c.id).where(import_runs.c.id == run_id)).first() is None:
        raise ConfigError(f"no import run {run_id} (see `meterbook imports`)")
    c = rejects.c
    query = (
        select(c.file, c.line_no, c.reason, c.raw)
        .where(c.run_id == run_id)
        .order_by(c.id)
        .limit(limit)
    )
    return [RejectRow(r.file, r.line_no, r.reason, r.raw) for r in conn.execute(query)]


def count_rejects(conn: Connection, run_id: int) -> int:
    """How many lines run ``run_id`` rejected."""
    query = select(func.count()).select_from(rejects).where(rejects.c.run_id == run_id)
    return int(conn.execute(query).scalar_one())
