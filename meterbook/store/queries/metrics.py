"""Utilisation queries over metric samples: summaries and time series per instance, group and
environment.

Definitions (as the sprint report uses them): over a period, ``minimum`` is the lowest
sample minimum (the average where a source gives no minimum), ``maximum`` the highest sample
maximum, ``average`` the mean of the sample averages, ``p95`` the 95th percentile of the
sample averages (linear interpolation), ``above`` the samples whose average exceeds the
threshold (an *incident* point) and ``above_share`` their share of the samples, which is the
share of time when the source samples at a fixed period. A group or environment pools the
samples of its instances. Series at hour and day grain come from the hourly rollup; day
boundaries are those of the accounting time zone (hours are UTC hours).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, case, func, select

from meterbook.errors import ConfigError
from meterbook.store.schema import environments, resources, sources
from meterbook.store.schema_metrics import metric_hourly, metric_samples, metrics

LEVELS = ("instance", "group", "environment")
#: (environment, group, instance, kind, metric)
_Key = tuple[str, str, str, str, str]
GRAINS = ("sample", "hour", "day")


@dataclass(frozen=True)
class MetricScope:
    """Names to keep (empty: keep all). Instances match by id or display name."""

    sources: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Pair:
    resource_id: int
    metric_id: int
    resource: str
    display: str
    kind: str
    group: str
    environment: str
    metric: str
    source: str

    def key(self, level: str) -> _Key:
        """(environment, group, instance, kind, metric) at ``level``; coarser levels blank."""
        if level == "instance":
            return self.environment, self.group, self.display, self.kind, self.metric
        if level == "group":
            return self.environment, self.group, "", self.kind, self.metric
        return self.environment, "", "", self.kind, self.metric


@dataclass(frozen=True)
class MetricSummary:
    environment: str
    group: str
    instance: str
    kind: str
    metric: str
    samples: int
    minimum: float | None
    maximum: float | None
    average: float | None
    p95: float | None
    above: int
    above_share: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SeriesPoint:
    time: datetime
    environment: str
    group: str
    instance: str
    metric: str
    samples: int
    average: float | None
    minimum: float | None
    maximum: float | None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "time": self.time.isoformat()}


def _level(level: str) -> str:
    if level not in LEVELS:
        raise ConfigError(f"--by: {level!r} is not one of {', '.join(LEVELS)}")
    return level


def pairs(conn: Connection, scope: MetricScope) -> list[_Pair]:
    """The (resource, metric) pairs that have samples, within ``scope``."""
    r, m, s, e = resources.c, metrics.c, sources.c, environments.c
    found = select(metric_hourly.c.resource_id, metric_hourly.c.metric_id).distinct().subquery()
    stmt = (
        select(
            found.c.resource_id,
            found.c.metric_id,
            r.name,
            r.display_name,
            r.kind,
            r.group_name,
            e.name.label("environment"),
            m.name.label("metric"),
            s.name.label("source"),
        )
        .join(resources, r.id == found.c.resource_id)
        .join(metrics, m.id == found.c.metric_id)
        .join(sources, s.id == m.source_id)
        .outerjoin(environments, e.id == r.environment_id)
        .order_by(e.name, r.group_name, r.display_name, r.name, m.name)
    )
    if scope.sources:
        stmt = stmt.where(s.name.in_(scope.sources))
    if scope.environments:
        stmt = stmt.where(e.name.in_(scope.environments))
    if scope.groups:
        stmt = stmt.where(r.group_name.in_(scope.groups))
    if scope.instances:
        stmt = stmt.where(r.name.in_(scope.instances) | r.display_name.in_(scope.instances))
    if scope.metrics:
        stmt = stmt.where(m.name.in_(scope.metrics))
    return [
        _Pair(
            row[0],
            row[1],
            row[2],
            row[3] or row[2],
            row[4],
            row[5] or "",
            row[6] or "",
            row[7],
            row[8],
        )
        for row in conn.execute(stmt)
    ]


def metric_summary(
    conn: Connection,
    start_ts: float,
    end_ts: float,
    scope: MetricScope = MetricScope(),
    *,
    level: str = "instance",
    threshold: float = 80.0,
) -> list[MetricSummary]:
    """Summaries of every metric in ``scope`` over ``[start_ts, end_ts)``, per ``level``."""
    level = _level(level)
    t = metric_samples.c
    groups: dict[_Key, list[np.ndarray[Any, Any]]] = defaultdict(list)
    extremes: dict[_Key, list[float]] = {}
    for pair in pairs(conn, scope):
        where = and_(
            t.resource_id == pair.resource_id,
            t.metric_id == pair.metric_id,
            t.ts >= start_ts,
            t.ts < end_ts,
        )
        low, high = conn.execute(
            select(
                func.min(func.coalesce(t.minimum, t.average)),
                func.max(func.coalesce(t.maximum, t.average)),
            ).where(where)
        ).one()
        values = np.array(
            [v for (v,) in conn.execute(select(t.average).where(where, t.average.is_not(None)))],
            dtype=float,
        )
        key = pair.key(level)
        groups[key].append(values)
        if low is not None:
            seen = extremes.setdefault(key, [low, high])
            seen[0], seen[1] = min(seen[0], low), max(seen[1], high)
    out = []
    for key, arrays in groups.items():
        values = np.concatenate(arrays) if arrays else np.array([], dtype=float)
        n = int(values.size)
        above = int(np.count_nonzero(values > threshold))
        low_high = extremes.get(key)
        out.append(
            MetricSummary(
                *key,
                samples=n,
                minimum=low_high[0] if low_high else None,
                maximum=low_high[1] if low_high else None,
                average=float(values.mean()) if n else None,
                p95=float(np.percentile(values, 95)) if n else None,
                above=above,
                above_share=above / n if n else None,
            )
        )
    return out


def metric_series(
    conn: Connection,
    start_ts: float,
    end_ts: float,
    scope: MetricScope = MetricScope(),
    *,
    grain: str = "hour",
    level: str = "instance",
    zone: tzinfo = UTC,
) -> list[SeriesPoint]:
    """A time series per metric and ``level`` item, at ``grain`` (sample, hour or day)."""
    level = _level(level)
    if grain not in GRAINS:
        raise ConfigError(f"--grain: {grain!r} is not one of {', '.join(GRAINS)}")
    # key -> bucket time -> [samples, total, minimum, maximum]
    acc: dict[_Key, dict[float, list[Any]]] = defaultdict(dict)
    for pair in pairs(conn, scope):
        key = pair.key(level)
        for when, n, total, low, high in _rows(conn, pair, start_ts, end_ts, grain):
            if grain == "day":
                day = datetime.fromtimestamp(when, zone).date()
                when = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
            slot = acc[key].get(when)
            if slot is None:
                acc[key][when] = [n, total, low, high]
            else:
                slot[0] += n
                slot[1] += total
                slot[2] = _pick(min, slot[2], low)
                slot[3] = _pick(max, slot[3], high)
    out = []
    for key, buckets in acc.items():
        environment, group, instance, _kind, metric = key
        for when in sorted(buckets):
            n, total, low, high = buckets[when]
            out.append(
                SeriesPoint(
                    datetime.fromtimestamp(when, zone),
                    environment,
                    group,
                    instance,
                    metric,
                    n,
                    total / n if n else None,
                    low,
                    high,
                )
            )
    return out


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(choose(a, b))


def _rows(
    conn: Connection, pair: _Pair, start_ts: float, end_ts: float, grain: str
) -> Sequence[Any]:
    if grain == "sample":
        t = metric_samples.c
        one = case((t.average.is_(None), 0), else_=1)
        return conn.execute(
            select(
                t.ts,
                one,
                func.coalesce(t.average, 0.0),
                func.coalesce(t.minimum, t.average),
                func.coalesce(t.maximum, t.average),
            )
            .where(
                t.resource_id == pair.resource_id,
                t.metric_id == pair.metric_id,
                t.ts >= start_ts,
                t.ts < end_ts,
            )
            .order_by(t.ts)
        ).all()
    h = metric_hourly.c
    return conn.execute(
        select(
            h.hour_ts,
            h.samples,
            h.total,
            func.coalesce(h.minimum, h.low),
            func.coalesce(h.maximum, h.high),
        )
        .where(
            h.resource_id == pair.resource_id,
            h.metric_id == pair.metric_id,
            h.hour_ts >= start_ts,
            h.hour_ts < end_ts,
        )
        .order_by(h.hour_ts)
    ).all()
