"""The ``utilisation`` alert rule: instance metrics above a percent for enough points of a day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from meterbook import alerts
from meterbook.alert_rules import UtilisationRule, builtin_rules, parse_alert_rules
from meterbook.errors import ConfigError
from meterbook.store.core import Store
from tests.store.test_metrics import T0, batch, load

DAY = 86_400
STEP = 300


def _samples(store: Store) -> None:
    load(
        store,
        [
            # 2025-02-13: 85, 90, 97, 81 are above 80 (80 itself is not): 4 points, peak 97.
            batch("i-web1", "CPUUtilization", [50, 85, 80, 90, 97, 70, 81]),
            # Two points before midnight and two after: never three in one day.
            batch("i-web2", "CPUUtilization", [85, 88, 99, 99], start=T0 + DAY - 2 * STEP),
            # 2025-02-14: three points, peak 93.
            batch("rm-db1", "MemoryUsage", [91, 92, 93, 40], start=T0 + DAY + 3600),
            # A metric the rule does not check.
            batch("i-dev1", "cpu_total", [99, 99, 99, 99]),
        ],
    )


def test_points_above_the_threshold_in_a_day_raise_one_alert(store: Store) -> None:
    _samples(store)
    rule = UtilisationRule(type="utilisation", name="util")
    ctx = alerts.Context(date(2025, 2, 14), store.zone)
    first = alerts.evaluate(store.engine, {"util": rule}, ctx)
    got = {(a.subject, a.metric, a.period): (a.severity, a.value) for a in first.new}
    # Severity: room above 80 is 20; medium from 90, high from 95.
    assert got == {
        ("instance prod-web-01", "CPUUtilization", "2025-02-13"): ("high", Decimal("97")),
        ("instance prod-db", "MemoryUsage", "2025-02-14"): ("medium", Decimal("93")),
    }
    assert all(a.kind == "utilisation" and a.threshold == Decimal(80) for a in first.new)
    web = next(a for a in first.new if a.metric == "CPUUtilization")
    assert "4 points" in web.message and "PROD" in web.message
    again = alerts.evaluate(store.engine, {"util": rule}, ctx)
    assert again.new == [] and again.known == 2
    with store.engine.connect() as conn:
        assert len(alerts.list_alerts(conn, kinds=["utilisation"])) == 2


def test_threshold_points_and_lookback_are_honoured(store: Store) -> None:
    _samples(store)
    with store.engine.connect() as conn:
        # Two points are enough: prod-web-02 now alerts on both days.
        rule = UtilisationRule(type="utilisation", name="u", min_points=2)
        found = alerts.check_utilisation(conn, rule, alerts.Context(date(2025, 2, 14), store.zone))
        assert sorted((f.subject, f.period) for f in found) == [
            ("instance prod-db", "2025-02-14"),
            ("instance prod-web-01", "2025-02-13"),
            ("instance prod-web-02", "2025-02-13"),
            ("instance prod-web-02", "2025-02-14"),
        ]
        # Above 90: 97 only on web1 (one point), 91, 92, 93 on the database (three).
        high = UtilisationRule(type="utilisation", name="u", threshold=90, lookback_days=1)
        found = alerts.check_utilisation(conn, high, alerts.Context(date(2025, 2, 13), store.zone))
        assert found == []
        found = alerts.check_utilisation(conn, high, alerts.Context(date(2025, 2, 14), store.zone))
        # Room above 90 is 10: 93 is below the medium mark of 95.
        assert [(f.subject, f.severity) for f in found] == [("instance prod-db", "low")]


def test_severity_marks() -> None:
    assert alerts.utilisation_severity(89.99, 80) == "low"
    assert alerts.utilisation_severity(90, 80) == "medium"
    assert alerts.utilisation_severity(95, 80) == "high"
    assert alerts.utilisation_severity(97.5, 90) == "high"


def test_configuration_and_builtin() -> None:
    rules = parse_alert_rules(
        {"cpu": {"type": "utilisation", "threshold": 90, "min_points": 5,
                 "metrics": ["CPUUtilization"]}},
        "meterbook.toml",
    )  # fmt: skip
    cpu = rules["cpu"]
    assert isinstance(cpu, UtilisationRule)
    assert (cpu.threshold, cpu.min_points, cpu.metrics) == (90, 5, ("CPUUtilization",))
    builtin = builtin_rules()["utilisation"]
    assert isinstance(builtin, UtilisationRule)
    assert (builtin.threshold, builtin.min_points) == (80, 3)
    with pytest.raises(ConfigError, match=r"\[alerts.cpu\] threshold"):
        parse_alert_rules({"cpu": {"type": "utilisation", "threshold": 120}}, "meterbook.toml")
