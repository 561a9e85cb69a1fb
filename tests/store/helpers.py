"""Helpers for store tests: import files, read totals straight from the raw records."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from sqlalchemy import func, select

from meterbook.connectors.slurm import SlurmConnector
from meterbook.importing import ImportResult, run_import
from meterbook.store.core import Store
from meterbook.store.schema import usage_daily, usage_records


def import_slurm(store: Store, *paths: Path, **options: object) -> ImportResult:
    connector = SlurmConnector(
        [str(p) for p in paths], zone=UTC, cluster=options.pop("cluster", None)
    )  # type: ignore[arg-type]
    options.setdefault("parallel", False)
    return run_import(store, connector, **options)  # type: ignore[arg-type]


def raw_totals(store: Store) -> dict[str, float]:
    """CPU hours, wall hours and counts computed from usage_records, not from rollups."""
    r = usage_records.c
    span = func.coalesce(r.end_ts - r.start_ts, 0)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(
                func.sum(r.cpus * span / 3600.0),
                func.sum(span / 3600.0),
                func.count(),
                func.count(r.start_ts),
            ).where(
                r.start_ts.is_not(None),
                (r.end_ts > r.start_ts) | r.end_ts.is_(None) | (r.end_ts == r.start_ts),
            )
        ).one()
    return {
        "cpu_hours": float(row[0] or 0),
        "wall_hours": float(row[1] or 0),
        "records": int(row[2]),
        "started": int(row[3]),
    }


def rollup_totals(store: Store) -> dict[str, float]:
    d = usage_daily.c
    with store.engine.connect() as conn:
        row = conn.execute(
            select(
                func.sum(d.cpu_hours),
                func.sum(d.wall_hours),
                func.sum(d.jobs_started),
                func.sum(d.jobs_ended),
            )
        ).one()
    return {
        "cpu_hours": float(row[0] or 0),
        "wall_hours": float(row[1] or 0),
        "started": int(row[2] or 0),
        "ended": int(row[3] or 0),
    }


def count_records(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(usage_records)).scalar_one())
