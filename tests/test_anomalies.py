"""Anomalies: an injected spike is found with the right figures, flat series stay quiet."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from meterbook import org
from meterbook.anomalies import FLOOR_RELATIVE, check_series, detect, severity_of
from meterbook.connectors.billing.connector import BillingReader
from meterbook.errors import ConfigError
from meterbook.spend import import_billing
from meterbook.store.core import Store
from tests.test_forecast import _days, _focus

WEEK = [Decimal(v) for v in ("100", "104", "108", "112", "116", "30", "20")]
SPIKE_DAY, SPIKE = date(2026, 10, 15), Decimal("900.5")
FLAT = Decimal("55.5")


def test_severity_thresholds() -> None:
    assert severity_of(0.0) is None and severity_of(2.99) is None and severity_of(-2.99) is None
    assert severity_of(3.0) == "low" and severity_of(-4.99) == "low"
    assert severity_of(5.0) == "medium" and severity_of(7.99) == "medium"
    assert severity_of(8.0) == "high" and severity_of(-40.0) == "high"


def test_flat_and_noisy_flat_series_flag_nothing() -> None:
    assert all(severity_of(c.score) is None for c in check_series([42.0] * 80))
    # One per cent of wobble around a constant level: below the scale's floor.
    wobble = [100 * (1 + 0.01 * ((-1) ** i)) for i in range(80)]
    checks = check_series(wobble)
    assert checks and all(severity_of(c.score) is None for c in checks)


def test_spike_in_a_weekly_pattern_is_found_by_the_weekly_median() -> None:
    pattern = np.tile([float(v) for v in WEEK], 10)
    rng = np.random.default_rng(5)
    values = pattern + rng.normal(0, 1.0, pattern.size)
    values[60] = pattern[60] + 150
    flagged = [c for c in check_series(values) if severity_of(c.score)]
    assert [c.index for c in flagged] == [60]
    [spike] = flagged
    assert spike.method == "weekly-median"
    assert spike.expected == pytest.approx(pattern[60], abs=3.0)
    assert severity_of(spike.score) == "high"


def test_short_history_uses_a_robust_z_score() -> None:
    values = [10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 11.0, 10.0, 40.0]
    [*_, last] = check_series(values)
    assert last.index == 8 and last.method == "robust-z"
    history = np.array(values[:8])
    median = float(np.median(history))  # 10
    mad = 1.4826 * float(np.median(np.abs(history - median)))  # 1.4826 x 0.5
    scale = max(mad, FLOOR_RELATIVE * history.mean())
    # against the median (10) and the same weekday a week before (11): the milder counts
    assert last.expected == 11.0
    assert last.score == pytest.approx((40 - 11) / scale)
    # a weekend seen once in the first week is not an anomaly in the second
    week = [100.0, 104.0, 108.0, 112.0, 116.0, 30.0, 20.0]
    checks = check_series(week + week)
    assert [c.index for c in checks] == list(range(7, 14))
    assert all(severity_of(c.score) is None for c in checks)


def _ledger(store: Store, tmp_path: Path) -> None:
    first, last = date(2026, 8, 1), date(2026, 10, 31)
    rows = [("p-ml", SPIKE if d == SPIKE_DAY else WEEK[d.weekday()], d) for d in _days(first, last)]
    rows += [("p-web", FLAT, d) for d in _days(first, last)]
    import_billing(store, BillingReader("focus"), [str(_focus(tmp_path / "f.csv", rows))])
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "research")
        org.add(conn, "teams", "ml", division="research")
        org.add(conn, "teams", "web", division="research")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-ml")
        org.add(conn, "projects", "orion", provider="Acme", team="web", external_id="p-web")


def test_detect_finds_the_spike_with_expected_and_actual(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path)
    found = detect(store.engine, start=date(2026, 10, 1), end=date(2026, 11, 1))
    # The spike, by team and by project; nothing of the flat team; no usage in the ledger.
    assert [(a.kind, a.dimension, a.key, a.day) for a in found] == [
        ("spend", "project", "atlas", SPIKE_DAY),
        ("spend", "team", "ml", SPIKE_DAY),
    ]
    for a in found:
        assert a.actual == SPIKE and a.metric == "cost"
        # An exact weekly pattern is predicted exactly by the median of the same weekdays.
        assert a.expected == WEEK[SPIKE_DAY.weekday()]
        # Its errors before are all zero: the scale is the floor, 10 % of the mean of the 28
        # days before (four whole weeks of the pattern).
        floor = FLOOR_RELATIVE * float(sum(WEEK)) / 7
        assert a.score == pytest.approx(float(SPIKE - a.expected) / floor, abs=0.01)
        assert a.severity == "high"
    # The spike's day is outside this period: nothing.
    assert detect(store.engine, start=date(2026, 10, 16), end=date(2026, 11, 1)) == []
    assert detect(store.engine, start=SPIKE_DAY, end=SPIKE_DAY + timedelta(days=1),
                  kinds=["usage"]) == []  # fmt: skip
    with pytest.raises(ConfigError, match="min-severity"):
        detect(store.engine, start=SPIKE_DAY, end=SPIKE_DAY, min_severity="huge")


def test_a_recurring_quiet_day_is_not_an_anomaly() -> None:
    # Busy six days a week, nothing on the seventh, for ten weeks: no day stands out.
    values = ([500.0] * 6 + [0.0]) * 10
    checks = check_series(values)
    # checked from the 9th day on: the first with seven active days before it
    assert [c.index for c in checks] == list(range(8, 70))
    assert all(severity_of(c.score) is None for c in checks)
