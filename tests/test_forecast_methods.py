"""The forecasting methods on hand-made daily series."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbook.forecast_methods import dubweb, dubweb_months, ets, naive


def test_dubweb_months_on_a_hand_computed_example() -> None:
    # November 2026: 30 days of 10. December so far (1st-4th): 12, 14, 12, 14.
    values = [Decimal(10)] * 30 + [Decimal(v) for v in (12, 14, 12, 14)]
    months = dubweb_months(values, end=date(2026, 12, 4), months=4)
    # trend = avg(Dec 1-4) / avg(Nov 1-4) = 13 / 10 = 1.3; daily spend = Nov's average = 10.
    # Dec: 10 x 31 = 310; then daily = 10 x 1.3 = 13, trend = (1.3 + 2) / 3 = 1.1.
    # Jan: 13 x 31 = 403; then daily = 13 x 1.1 = 14.3, trend = (1.1 + 2) / 3 = 31/30.
    # Feb 2027 (28 days): 14.3 x 28 = 400.4; then daily = 14.3 x 31/30.
    # Mar: 14.3 x 31/30 x 31.
    assert [m.month for m in months] == [date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1),
                                         date(2027, 3, 1)]  # fmt: skip
    assert [m.daily for m in months] == pytest.approx([10, 13, 14.3, 14.3 * 31 / 30])
    assert [m.estimate for m in months] == pytest.approx([310, 403, 400.4, 14.3 * 31 / 30 * 31])


def test_dubweb_daily_forecast_is_each_months_daily_spend() -> None:
    values = [10.0] * 30 + [12.0, 14.0, 12.0, 14.0]
    result = dubweb(values, 30, end=date(2026, 12, 4))
    # 5-31 December: 27 days at 10; 1-3 January at 13.
    assert result.point == pytest.approx([10.0] * 27 + [13.0] * 3)
    assert result.method == "dubweb"


def test_dubweb_constant_month_and_no_history() -> None:
    # This month constant (20, 20, 20): daily spend is this month's average, trend 20/10.
    values = [10.0] * 30 + [20.0] * 3
    months = dubweb_months(values, end=date(2026, 12, 3), months=2)
    assert [m.daily for m in months] == pytest.approx([20, 40])
    assert months[0].estimate == pytest.approx(620)
    # No previous month in the series: trend 1, this month's average throughout.
    alone = dubweb_months([3.0, 5.0], end=date(2026, 12, 2), months=3)
    assert [m.daily for m in alone] == pytest.approx([4, 4, 4])


def test_dubweb_same_first_days_stop_at_the_shorter_month() -> None:
    # February 2026 (28 days): 1..28; March (31 days) all 2 except the 1st: compare the 31
    # days of March with the 28 days of February.
    feb = [float(i) for i in range(1, 29)]
    march = [5.0] + [2.0] * 30
    months = dubweb_months(feb + march, end=date(2026, 3, 31), months=2)
    trend = (sum(march) / 31) / (sum(feb) / 28)
    assert months[0].daily == pytest.approx(sum(feb) / 28)
    assert months[1].daily == pytest.approx(sum(feb) / 28 * trend)


def test_naive_is_the_same_weekday_a_week_before() -> None:
    values = list(range(1, 15))
    result = naive(values, 10)
    assert result.point == [8, 9, 10, 11, 12, 13, 14, 8, 9, 10]
    # A series repeating exactly: no residual, no width.
    week = [5.0, 7.0, 6.0, 9.0, 8.0, 1.0, 2.0]
    exact = naive(week * 3, 7)
    assert exact.point == week
    assert exact.lo95 == week and exact.hi95 == week


def test_ets_recovers_a_weekly_pattern() -> None:
    rng = np.random.default_rng(7)
    pattern = np.array([10.0, 12.0, 14.0, 13.0, 11.0, -15.0, -25.0])
    level = 200.0
    values = level + np.tile(pattern, 12) + rng.normal(0, 1.0, 84)
    result = ets(list(values), 14)
    assert result.model.endswith(",A)")  # a seasonal model won
    # The next two weeks (day 84 is a Monday of the pattern again): level + pattern.
    expected = level + np.tile(pattern, 2)
    assert np.max(np.abs(np.asarray(result.point) - expected)) < 1.5
    # The pattern itself: the forecast's weekly shape, level removed.
    shape = np.asarray(result.point[:7]) - np.mean(result.point[:7])
    assert np.max(np.abs(shape - (pattern - pattern.mean()))) < 1.0


def test_ets_short_series_falls_back_to_the_mean() -> None:
    result = ets([4.0, 6.0], 3)
    assert result.model == "mean"
    assert result.point == pytest.approx([5.0, 5.0, 5.0])


@pytest.mark.parametrize("method", ["naive", "dubweb", "ets"])
def test_intervals_contain_most_of_a_noise_process(method: str) -> None:
    """A level of 100 plus Gaussian noise (sd 5): over 8 runs of 28 future days, the 95 %
    intervals hold most future values and the 80 % ones roughly four in five."""
    inside80 = inside95 = total = 0
    start = date(2026, 1, 1)
    for seed in range(8):
        rng = np.random.default_rng(100 + seed)
        series = 100 + rng.normal(0, 5, 90 + 28)
        train, future = series[:90], series[90:]
        end = start + timedelta(days=89)
        funcs = {"naive": naive, "dubweb": dubweb, "ets": ets}
        result = funcs[method](list(train), 28, end=end, paths=1000, seed=seed)
        lo80, hi80 = np.asarray(result.lo80), np.asarray(result.hi80)
        lo95, hi95 = np.asarray(result.lo95), np.asarray(result.hi95)
        inside80 += int(np.sum((future >= lo80) & (future <= hi80)))
        inside95 += int(np.sum((future >= lo95) & (future <= hi95)))
        total += future.size
    assert inside95 / total >= 0.88
    assert 0.65 <= inside80 / total <= 0.99
    # 95 % intervals hold the 80 % ones.
    assert all(a <= b <= c <= d for a, b, c, d in
               zip(result.lo95, result.lo80, result.hi80, result.hi95, strict=True))  # fmt: skip


def test_forecasts_are_never_negative() -> None:
    values = [10.0, 8.0, 6.0, 4.0, 2.0, 1.0, 0.5] * 2 + [0.0] * 7
    for func in (naive, ets):
        result = func(values, 14)
        assert min(result.point) >= 0 and min(result.lo95) >= 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=60),
    st.integers(min_value=0, max_value=40),
)
def test_naive_and_dubweb_intervals_are_ordered_and_not_negative(
    values: list[float], h: int
) -> None:
    end = date(2026, 5, 20)
    for result in (naive(values, h, paths=200), dubweb(values, h, end=end, paths=200)):
        assert len(result.point) == h and result.paths.shape == (200, h)
        for lo95, lo80, hi80, hi95 in zip(
            result.lo95, result.lo80, result.hi80, result.hi95, strict=True
        ):
            assert 0 <= lo95 <= lo80 <= hi80 <= hi95
        assert all(p >= 0 for p in result.point)
