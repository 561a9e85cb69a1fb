"""Report periods: every form, with boundaries in the accounting time zone (DST included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from meterbook.errors import ConfigError
from meterbook.periods import (
    Period,
    SprintCalendar,
    first_days,
    report_period,
    today_in,
    utc_bounds,
    zone_for,
)

SPRINTS = SprintCalendar(15, date(2025, 2, 13), 14)
TODAY = date(2026, 12, 3)


def period(text: str | None, **kw: object) -> Period:
    return report_period(text, today=TODAY, sprints=SPRINTS, **kw)  # type: ignore[arg-type]


def test_previous_month_is_the_default() -> None:
    assert period(None) == Period(date(2026, 11, 1), date(2026, 12, 1), "2026-11")
    assert period("previous-month") == period(None)
    january = report_period(None, today=date(2027, 1, 1))
    assert (january.start, january.end, january.label) == (
        date(2026, 12, 1),
        date(2027, 1, 1),
        "2026-12",
    )


def test_month_to_date_includes_today() -> None:
    p = period("month-to-date")
    assert (p.start, p.end, p.days, p.label) == (date(2026, 12, 1), date(2026, 12, 4), 3,
                                                 "2026-12-mtd")  # fmt: skip
    first = report_period("mtd", today=date(2026, 12, 1))
    assert first.days == 1


def test_month_quarter_year_day() -> None:
    assert period("2024-07") == Period(date(2024, 7, 1), date(2024, 8, 1), "2024-07")
    assert period("2024-Q3") == Period(date(2024, 7, 1), date(2024, 10, 1), "2024-Q3")
    assert period("2024-q1").end == date(2024, 4, 1)
    assert period("2024") == Period(date(2024, 1, 1), date(2025, 1, 1), "2024")
    assert period("2024-02-29").days == 1


def test_first_days_of_a_month() -> None:
    p = period("2024-07", days=15)
    assert (p.start, p.end, p.days, p.label) == (date(2024, 7, 1), date(2024, 7, 16), 15,
                                                 "2024-07-d15")  # fmt: skip
    assert period("2024-02", days=29).end == date(2024, 3, 1)
    with pytest.raises(ConfigError, match="only 29 days"):
        period("2024-02", days=30)
    with pytest.raises(ConfigError, match="at least 1"):
        first_days(period("2024-02"), 0)


def test_last_n_days_are_the_whole_days_before_today() -> None:
    p = period("last-30d")
    assert (p.start, p.end, p.days) == (TODAY - timedelta(days=30), TODAY, 30)
    assert p.label == "last-30d-2026-12-02"
    assert period("last-1d") == Period(date(2026, 12, 2), TODAY, "last-1d-2026-12-02")
    with pytest.raises(ConfigError, match="at least one day"):
        period("last-0d")


def test_custom_range_is_inclusive() -> None:
    p = period(None, start="2026-10-05", end="2026-10-11")
    assert (p.start, p.end, p.days) == (date(2026, 10, 5), date(2026, 10, 12), 7)
    with pytest.raises(ConfigError, match="not both"):
        period("2026-10", start="2026-10-05", end="2026-10-11")


def test_sprints_from_the_configuration() -> None:
    # Sprint 15 starts 2025-02-13; sprint n starts 14 * (n - 15) days later.
    p = period("sprint-58")
    assert p.start == date(2025, 2, 13) + timedelta(days=14 * 43)
    assert (p.start, p.end, p.label) == (date(2026, 10, 8), date(2026, 10, 22), "sprint-58")
    # 58: 10-08, 59: 10-22, 60: 11-05, 61: 11-19, 62: 12-03 (today is its first day).
    assert period("current-sprint") == Period(date(2026, 12, 3), date(2026, 12, 17), "sprint-62")
    assert period("previous-sprint") == Period(date(2026, 11, 19), TODAY, "sprint-61")
    assert report_period("current-sprint", today=date(2026, 12, 2),
                         sprints=SPRINTS).label == "sprint-61"  # fmt: skip
    with pytest.raises(ConfigError, match="sprint settings"):
        report_period("sprint-3", today=TODAY)


def test_unknown_period_names_the_forms() -> None:
    with pytest.raises(ConfigError, match="previous-month, month-to-date, last-30d"):
        period("last-week")
    with pytest.raises(ConfigError, match="not a month"):
        period("2024-13")


def test_boundaries_in_the_zone_across_dst() -> None:
    berlin = zone_for("Europe/Berlin")
    # March 2024: starts at CET (UTC+1), ends after the switch to CEST (UTC+2) on the 31st.
    start, end = utc_bounds(period("2024-03"), berlin)
    assert start == datetime(2024, 2, 29, 23, tzinfo=UTC)
    assert end == datetime(2024, 3, 31, 22, tzinfo=UTC)
    assert (end - start) == timedelta(days=31) - timedelta(hours=1)
    # The day of the switch back (2024-10-27) has 25 hours.
    day_start, day_end = utc_bounds(period("2024-10-27"), berlin)
    assert (day_start, day_end - day_start) == (datetime(2024, 10, 26, 22, tzinfo=UTC),
                                                timedelta(hours=25))  # fmt: skip
    assert utc_bounds(period("2024-03"), UTC)[0] == datetime(2024, 3, 1, tzinfo=UTC)


def test_today_is_the_day_of_the_zone() -> None:
    instant = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    assert today_in(UTC, instant) == date(2026, 11, 30)
    assert today_in(zone_for("Europe/Berlin"), instant) == date(2026, 12, 1)
    # So at that instant the previous month in Berlin is already November.
    previous = report_period(None, today=today_in(zone_for("Europe/Berlin"), instant))
    assert previous.label == "2026-11"
    assert report_period(None, today=today_in(UTC, instant)).label == "2026-10"
