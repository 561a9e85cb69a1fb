"""Workload summaries as the ML platform's monthly reports make them.

Unlike the day rollups (which split hours across days), these attribute a whole workload to the
period holding its start (``created_at`` for CML), with its full duration, as the original
chargeback reports did: CPU, GPU and memory hours, workload and GPU-workload counts, average
duration, workloads running longer than a threshold, and distinct users. They read the usage
records, so they suit sources with thousands of records per month, not a cluster's millions
of jobs (``meterbook usage`` answers those from the rollups).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, case, func, select

from meterbook.errors import ConfigError
from meterbook.store.schema import projects, sources, usage_records, users

GROUPS = ("user", "project", "workload_type", "status", "source")
u = usage_records.c


def _hours() -> ColumnElement[Any]:
    return func.coalesce((u.end_ts - u.start_ts) / 3600.0, 0.0)


def _group(name: str) -> ColumnElement[Any]:
    columns: dict[str, ColumnElement[Any]] = {
        "user": users.c.name,
        "project": projects.c.name,
        "workload_type": u.workload_type,
        "status": u.state,
        "source": sources.c.name,
    }
    if name not in columns:
        raise ConfigError(f"--by: {name!r} is not one of {', '.join(GROUPS)}")
    return columns[name]


def _from(stmt: Any) -> Any:
    return (
        stmt.select_from(usage_records)
        .join(sources, sources.c.id == u.source_id)
        .outerjoin(users, users.c.id == u.user_id)
        .outerjoin(projects, projects.c.id == u.project_id)
    )


def _scope(stmt: Any, start_ts: float, end_ts: float, source_names: tuple[str, ...]) -> Any:
    stmt = stmt.where(u.start_ts >= start_ts, u.start_ts < end_ts)
    if source_names:
        stmt = stmt.where(sources.c.name.in_(source_names))
    return stmt


@dataclass(frozen=True)
class WorkloadSummary:
    group: str
    workloads: int
    gpu_workloads: int
    users: int
    cpu_hours: float
    gpu_hours: float
    mem_gb_hours: float
    hours: float
    avg_duration_hours: float
    long_running: int

    def as_dict(self, by: str) -> dict[str, Any]:
        out = dict(self.__dict__)
        out[by] = out.pop("group")
        return out


def workload_summary(
    conn: Connection,
    start_ts: float,
    end_ts: float,
    by: str,
    source_names: tuple[str, ...] = (),
    long_hours: float = 24.0,
) -> list[WorkloadSummary]:
    """One row per ``by`` group, largest CPU hours first."""
    group = _group(by)
    hours = _hours()
    cpu = func.sum(func.coalesce(u.cpus, 0) * hours)
    stmt = select(
        func.coalesce(group, ""),
        func.count(),
        func.sum(case((u.gpus > 0, 1), else_=0)),
        func.count(func.distinct(u.user_id)),
        cpu,
        func.sum(func.coalesce(u.gpus, 0) * hours),
        func.sum(func.coalesce(u.mem_gb, 0) * hours),
        func.sum(hours),
        func.sum(case((hours > long_hours, 1), else_=0)),
    )
    stmt = (
        _scope(_from(stmt), start_ts, end_ts, source_names)
        .group_by(group)
        .order_by(cpu.desc(), group)
    )
    return [
        WorkloadSummary(
            str(r[0]),
            int(r[1]),
            int(r[2] or 0),
            int(r[3]),
            float(r[4] or 0),
            float(r[5] or 0),
            float(r[6] or 0),
            float(r[7] or 0),
            float(r[7] or 0) / int(r[1]) if r[1] else 0.0,
            int(r[8] or 0),
        )
        for r in conn.execute(stmt)
    ]


@dataclass(frozen=True)
class WorkloadDetail:
    created_at: datetime
    source: str
    name: str
    user: str
    project: str
    workload_type: str
    status: str
    duration_hours: float
    cpu_hours: float
    mem_gb_hours: float
    gpu_hours: float

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}


def workload_details(
    conn: Connection, start_ts: float, end_ts: float, source_names: tuple[str, ...] = ()
) -> list[WorkloadDetail]:
    """Every workload started in the period, in time order."""
    hours = _hours()
    stmt = select(
        u.start_ts, sources.c.name, u.name, users.c.name, projects.c.name, u.workload_type,
        u.state, hours, func.coalesce(u.cpus, 0) * hours, func.coalesce(u.mem_gb, 0) * hours,
        func.coalesce(u.gpus, 0) * hours,
    )  # fmt: skip
    stmt = _scope(_from(stmt), start_ts, end_ts, source_names).order_by(u.start_ts, u.id)
    return [
        WorkloadDetail(
            datetime.fromtimestamp(r[0], UTC),
            r[1],
            r[2] or "",
            r[3] or "",
            r[4] or "",
            r[5],
            r[6],
            float(r[7]),
            float(r[8]),
            float(r[9]),
            float(r[10]),
        )
        for r in conn.execute(stmt)
    ]
