"""The rolling-origin backtest: figures computed by hand on a tiny series, and auto's honesty."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from meterbook.backtest import Plan, backtest, errors, origin_lengths, select_method

# Two weeks, the second one more than the first by 1 (13 days are enough here).
SERIES = [10.0, 12.0, 11.0, 13.0, 12.0, 14.0, 13.0, 11.0, 13.0, 12.0, 14.0, 13.0, 15.0]
TINY = Plan(horizon=3, step=2, min_train=8, origins=5)


def test_origins_are_the_latest_with_a_full_horizon() -> None:
    # n = 13, horizon 3: training lengths 10, 8 (6 is below min_train 8).
    assert origin_lengths(13, TINY) == [8, 10]
    assert origin_lengths(13, Plan(horizon=3, step=2, min_train=8, origins=1)) == [10]
    assert origin_lengths(10, TINY) == []


def test_naive_figures_by_hand() -> None:
    # Origin 8: forecasts y1, y2, y3 = 12, 11, 13 for actuals y8..y10 = 13, 12, 14.
    #   errors 1, 1, 1; in-sample seasonal naive MAE: |y7 - y0| = 1 -> MASE 1.
    #   MAPE (1/13 + 1/12 + 1/14) / 3; total APE |36 - 39| / 39.
    # Origin 10: forecasts y3, y4, y5 = 13, 12, 14 for actuals 14, 13, 15.
    #   in-sample MAE: |y7-y0|, |y8-y1|, |y9-y2| = 1 -> MASE 1.
    #   MAPE (1/14 + 1/13 + 1/15) / 3; total APE |39 - 42| / 42.
    [score] = backtest(SERIES, start=date(2026, 1, 1), plan=TINY, methods=["naive"])
    mape8 = (1 / 13 + 1 / 12 + 1 / 14) / 3 * 100
    mape10 = (1 / 14 + 1 / 13 + 1 / 15) / 3 * 100
    assert score.origins == 2
    assert score.mase == pytest.approx(1.0)
    assert score.mape == pytest.approx((mape8 + mape10) / 2)
    assert score.total_ape == pytest.approx((3 / 39 + 3 / 42) / 2 * 100)


def test_zero_actuals_are_left_out_of_mape() -> None:
    train = np.array([1.0, 2, 3, 4, 5, 6, 7, 3])  # seasonal naive MAE |3 - 1| = 2
    found = errors(train, np.array([0.0, 4.0]), np.array([1.0, 5.0]))
    assert found.mape == pytest.approx(25.0)  # only the day of 4: |4 - 5| / 4
    assert found.mase == pytest.approx(1.0 / 2)  # MAE 1 over scale 2
    assert found.total_ape == pytest.approx(100 * 2 / 4)
    none = errors(np.full(8, 5.0), np.zeros(2), np.ones(2))
    assert none.mape is None and none.mase is None and none.total_ape is None


def test_auto_picks_from_the_days_before_each_origin_only() -> None:
    rng = np.random.default_rng(11)
    n = 77
    values = 50 + 10 * np.sin(np.arange(n) * 2 * np.pi / 7) + rng.normal(0, 3, n)
    start = date(2026, 1, 1)
    plan = Plan(horizon=7, step=7, min_train=21, origins=3)
    methods = ("dubweb", "naive")  # ets would do as well, only slower
    scores = {
        s.method: s
        for s in backtest(values, start=start, plan=plan, methods=["auto"], candidates=methods)
    }
    auto = scores["auto"]
    lengths = origin_lengths(n, plan)
    assert len(auto.chosen) == len(lengths) == 3
    per_method = {}
    for method in methods:
        # each method's per-origin MASE, from a backtest restricted to that origin alone
        per_method[method] = [
            backtest(values[: length + 7], start=start, methods=[method],
                     plan=Plan(horizon=7, step=7, min_train=length, origins=1))[0].mase
            for length in lengths
        ]  # fmt: skip
    for i, length in enumerate(lengths):
        # the pick at an origin is what a backtest of the days before it selects
        chosen = select_method(values[:length], start=start, plan=plan, candidates=methods)
        assert auto.chosen[i] == chosen
    picked = [per_method[m][i] for i, m in enumerate(auto.chosen)]
    assert auto.mase == pytest.approx(float(np.mean(picked)))
