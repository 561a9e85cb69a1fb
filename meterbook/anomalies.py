"""Unusual days of spend and usage per team, project and user.

Each day of a series is compared with what the days before it lead one to expect:

- with at least :data:`SEASONAL_MIN_DAYS` days (two weeks) of history, a robust weekly
  forecast: the median of the same weekday in the :data:`WEEKS` weeks before (as many as
  there are). A one-off spike does not move it, a weekly pattern (quiet Sundays) is learnt
  within two weeks. The scale is 1.4826 x the median absolute error of that forecast over
  the previous :data:`WINDOW` days (with fewer than seven such errors, the spread of the
  days themselves);
- with a shorter history, a robust z-score: the scale is 1.4826 x the median absolute
  deviation of the days before; expected is their median or, once there is a week of
  history, the same weekday a week before, whichever is nearer the day's value (a weekly
  pattern seen once is then not flagged in its second week).

The scale is never below :data:`FLOOR_RELATIVE` of the mean of the active (non-zero) days of
the previous :data:`WINDOW` days, nor below :data:`FLOOR_ABSOLUTE`, so near-constant series do
not turn small wobbles into large scores. A day is checked only when at least
:data:`MIN_ACTIVE_DAYS` days before it (within :data:`WINDOW`) were active.

score = (actual - expected) / scale, both ways (a drop scores negative). Severity by
``|score|``: ``low`` from 3, ``medium`` from 5, ``high`` from 8 (:data:`THRESHOLDS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Engine

from meterbook.errors import ConfigError
from meterbook.forecast_methods import SEASON, FloatArray, Values, as_floats
from meterbook.forecast_series import check_by, daily_totals, to_series
from meterbook.periods import Period

THRESHOLDS = {"low": 3.0, "medium": 5.0, "high": 8.0}
SEVERITIES = tuple(THRESHOLDS)
KINDS = ("spend", "usage")
DIMENSIONS = ("team", "project", "user")
#: The dimensions each kind has (usage has no team, spend no user).
KIND_DIMENSIONS = {"spend": ("team", "project"), "usage": ("project", "user")}
WEEKS = 4
WINDOW = 28
SEASONAL_MIN_DAYS = 2 * SEASON
MIN_ACTIVE_DAYS = 7
FLOOR_RELATIVE, FLOOR_ABSOLUTE = 0.1, 0.01
#: Days of history read before the first day checked.
LOOKBACK = 91
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Anomaly:
    kind: str
    dimension: str
    key: str
    day: date
    metric: str
    expected: Decimal
    actual: Decimal
    score: float
    severity: str
    #: ``weekly-median`` or ``robust-z``: what gave the expectation.
    method: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dimension": self.dimension,
            "key": self.key,
            "day": self.day.isoformat(),
            "metric": self.metric,
            "expected": self.expected,
            "actual": self.actual,
            "score": self.score,
            "severity": self.severity,
            "method": self.method,
        }


@dataclass(frozen=True)
class Check:
    """The verdict on one day (index into the series)."""

    index: int
    expected: float
    score: float
    method: str


def severity_of(score: float) -> str | None:
    """The severity of ``score`` (None: below every threshold)."""
    found = None
    for name, threshold in THRESHOLDS.items():
        if abs(score) >= threshold:
            found = name
    return found


def _floor(history: FloatArray) -> float:
    active = history[history != 0]
    level = float(np.mean(np.abs(active))) if active.size else 0.0
    return max(FLOOR_RELATIVE * level, FLOOR_ABSOLUTE)


def _weekly_median(y: FloatArray, t: int) -> float:
    """The median of the same weekday in the (up to) :data:`WEEKS` weeks before day ``t``."""
    weeks = min(WEEKS, t // SEASON)
    return float(np.median([y[t - SEASON * k] for k in range(1, weeks + 1)]))


def check_series(values: Values, first: int = 0) -> list[Check]:
    """Expected value and score of each day from index ``first`` on that has enough history."""
    y = as_floats(values)
    out: list[Check] = []
    errors = np.full(y.size, np.nan)
    for t in range(y.size):
        history = y[max(0, t - WINDOW) : t]
        floor = _floor(history)
        seasonal = t >= SEASONAL_MIN_DAYS
        if seasonal:
            expected = _weekly_median(y, t)
            errors[t] = y[t] - expected
        if t < first or int(np.count_nonzero(history)) < MIN_ACTIVE_DAYS:
            continue
        if not seasonal:
            out.append(_robust(y, t, history, floor))
            continue
        recent = errors[max(SEASONAL_MIN_DAYS, t - WINDOW) : t]
        if recent.size >= SEASON:
            spread = MAD_SCALE * float(np.median(np.abs(recent)))
        else:
            spread = MAD_SCALE * float(np.median(np.abs(history - np.median(history))))
        scale = max(spread, floor)
        out.append(Check(t, expected, (y[t] - expected) / scale, "weekly-median"))
    return out


def _robust(y: FloatArray, t: int, history: FloatArray, floor: float) -> Check:
    """The robust z-score of day ``t``: against the median of the days before, and (with a
    week of history) against the same weekday a week before; the milder of the two counts."""
    median = float(np.median(history))
    scale = max(MAD_SCALE * float(np.median(np.abs(history - median))), floor)
    best = Check(t, median, (y[t] - median) / scale, "robust-z")
    if t >= SEASON:
        week_before = float(y[t - SEASON])
        other = Check(t, week_before, (y[t] - week_before) / scale, "robust-z")
        if abs(other.score) < abs(best.score):
            best = other
    return best


def _amount(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def detect(
    engine: Engine,
    *,
    start: date,
    end: date,
    kinds: Sequence[str] = KINDS,
    by: Sequence[str] = DIMENSIONS,
    spend_metric: str = "cost",
    usage_metric: str = "cpu_hours",
    min_severity: str = "low",
) -> list[Anomaly]:
    """Anomalous days in ``[start, end)`` (``end`` exclusive, as a :class:`Period`), most
    severe first. A dimension a kind does not have (a team's usage, a user's spend) is
    skipped; ``project`` of usage is the account. Days after the last day with any data of
    the kind are not checked (their data has not arrived: no value is not a drop)."""
    if min_severity not in THRESHOLDS:
        raise ConfigError(f"--min-severity: use {', '.join(SEVERITIES)}")
    if end <= start:
        raise ConfigError("the period is empty")
    for kind in kinds:
        if kind not in KINDS:
            raise ConfigError(f"unknown kind {kind!r} (use {', '.join(KINDS)})")
    for dim in by:
        if dim not in DIMENSIONS:
            raise ConfigError(f"--by: unknown dimension {dim!r} (use {', '.join(DIMENSIONS)})")
    floor = THRESHOLDS[min_severity]
    window = Period(start - timedelta(days=LOOKBACK), end, "anomalies")
    last = end - timedelta(days=1)
    found: list[Anomaly] = []
    with engine.connect() as conn:
        for kind in kinds:
            metric = spend_metric if kind == "spend" else usage_metric
            for dim in (d for d in by if d in KIND_DIMENSIONS[kind]):
                check_by(dim, metric)
                totals = daily_totals(conn, by=dim, metric=metric, period=window)
                # Days after the kind's last day with data are not in yet: not a drop.
                arrived = max((max(days) for days in totals.values() if days), default=last)
                for key, days in sorted(totals.items()):
                    series = to_series(key, days, start=None, end=min(last, arrived))
                    if series is None:
                        continue
                    first = max((start - series.start).days, 0)
                    for c in check_series(series.values, first):
                        severity = severity_of(c.score)
                        if severity is None or abs(c.score) < floor:
                            continue
                        found.append(Anomaly(
                            kind, dim, key, series.start + timedelta(days=c.index), metric,
                            _amount(c.expected), Decimal(str(series.values[c.index])),
                            round(c.score, 2), severity, c.method,
                        ))  # fmt: skip
    found.sort(key=lambda a: (-abs(a.score), a.day, a.kind, a.dimension, a.key))
    return found
