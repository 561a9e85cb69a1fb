"""Periods and day splitting."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from meterbook.errors import ConfigError
from meterbook.periods import parse_period, resolve_period, split_seconds, zone_for


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2017", date(2017, 1, 1), date(2018, 1, 1)),
        ("2017-Q4", date(2017, 10, 1), date(2018, 1, 1)),
        ("2016-12", date(2016, 12, 1), date(2017, 1, 1)),
        ("2017-01-05", date(2017, 1, 5), date(2017, 1, 6)),
    ],
)
def test_periods(text: str, start: date, end: date) -> None:
    period = parse_period(text)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize("text", ["2017-13", "17", "2017-Q5", "last week"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(ConfigError, match="--period"):
        parse_period(text)


def test_from_to_is_inclusive() -> None:
    period = resolve_period(None, "2016-12-22", "2017-01-01")
    assert (period.start, period.end, period.days) == (date(2016, 12, 22), date(2017, 1, 2), 11)
    with pytest.raises(ConfigError, match="not both"):
        resolve_period("2017", "2016-12-22", "2017-01-01")
    with pytest.raises(ConfigError, match="before"):
        resolve_period(None, "2017-01-02", "2017-01-01")
    with pytest.raises(ConfigError, match="go together"):
        resolve_period(None, "2017-01-02", None)
    assert resolve_period(None, None, None, today=date(2026, 11, 23)).label == "2026-11"


def test_split_seconds() -> None:
    t0 = datetime(2016, 12, 22, 7, 15, 13, tzinfo=UTC).timestamp()
    t1 = datetime(2016, 12, 24, 1, tzinfo=UTC).timestamp()
    assert list(split_seconds(t0, t1, zone_for("UTC"))) == [
        (date(2016, 12, 22), 60287.0, True),
        (date(2016, 12, 23), 86400.0, False),
        (date(2016, 12, 24), 3600.0, False),
    ]
    assert list(split_seconds(t1, t0, UTC)) == []


def test_previous_month() -> None:
    from meterbook.periods import Period, previous_month

    assert previous_month(date(2026, 1, 15)) == Period(
        date(2025, 12, 1), date(2026, 1, 1), "2025-12"
    )
    assert previous_month(date(2026, 3, 31)).label == "2026-02"
