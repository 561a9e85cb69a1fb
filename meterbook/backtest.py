"""Rolling-origin backtest of the forecasting methods on a daily series, and ``auto``.

An origin is a training length ``L``: the method sees days ``0 .. L-1`` and forecasts days
``L .. L+horizon-1``, which are known. The origins are the latest ones that leave a full
horizon of actuals: ``L = n - horizon``, ``n - horizon - step``, ... (at most ``origins`` of
them), none shorter than ``min_train``. Per origin:

- MAPE: the mean of ``|actual - forecast| / |actual|`` in percent over the horizon's days,
  leaving out days whose actual is zero (undefined there); no such day, no MAPE.
- MASE: the mean absolute error over the horizon divided by the in-sample mean absolute
  error of the seasonal naive forecast (lag 7) on the training days; a training window
  whose seasonal naive error is zero has no MASE.
- total APE: ``|sum(forecast) - sum(actual)| / |sum(actual)|`` in percent (none when the
  actual total is zero).

A method's score is the mean over the origins that have the figure.

``auto`` is scored on a nested backtest, so it never sees the days it is judged on: at each
origin ``L`` it runs the same backtest on the first ``L`` days only, picks the method with
the lowest MASE there (:func:`select_method`) and is scored by that method's forecast from
``L``. Where the first ``L`` days are too short for any inner origin, ``auto`` takes
:data:`FALLBACK` (``ets``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from meterbook.forecast_methods import METHODS, SEASON, FloatArray, Values, as_floats, run_method

FALLBACK = "ets"
HORIZON, STEP, MIN_TRAIN, ORIGINS = 28, 7, 28, 6
#: Futures simulated per backtest forecast (only the points are scored).
BACKTEST_PATHS = 200


@dataclass(frozen=True)
class Plan:
    horizon: int = HORIZON
    step: int = STEP
    min_train: int = MIN_TRAIN
    origins: int = ORIGINS


@dataclass(frozen=True)
class Score:
    """A method's backtest figures (None: no origin had the figure)."""

    method: str
    mape: float | None
    mase: float | None
    total_ape: float | None
    origins: int
    #: For ``auto``: the method it chose at each origin, earliest first.
    chosen: tuple[str, ...] = ()


@dataclass(frozen=True)
class OriginErrors:
    mape: float | None
    mase: float | None
    total_ape: float | None


def origin_lengths(n: int, plan: Plan) -> list[int]:
    """Training lengths of the origins, earliest first."""
    if plan.horizon < 1 or plan.step < 1 or plan.origins < 1 or plan.min_train < 1:
        raise ValueError("horizon, step, origins and min_train must be at least 1")
    out: list[int] = []
    length = n - plan.horizon
    while length >= plan.min_train and len(out) < plan.origins:
        out.append(length)
        length -= plan.step
    return out[::-1]


def seasonal_naive_mae(train: FloatArray, lag: int = SEASON) -> float | None:
    """In-sample mean absolute error of ``y[t-lag]`` as the forecast of ``y[t]``."""
    if train.size <= lag:
        return None
    return float(np.mean(np.abs(train[lag:] - train[:-lag])))


def errors(train: FloatArray, actual: FloatArray, forecast: FloatArray) -> OriginErrors:
    """The three figures of one origin (see the module's description)."""
    diff = np.abs(actual - forecast)
    nonzero = actual != 0
    mape = float(np.mean(diff[nonzero] / np.abs(actual[nonzero])) * 100) if nonzero.any() else None
    scale = seasonal_naive_mae(train)
    mase = float(np.mean(diff)) / scale if scale else None
    total = float(actual.sum())
    total_ape = abs(float(forecast.sum()) - total) / abs(total) * 100 if total else None
    return OriginErrors(mape, mase, total_ape)


@dataclass
class _Runner:
    """Forecasts of each method from each training length, computed once."""

    y: FloatArray
    start: date
    plan: Plan
    cache: dict[tuple[str, int], FloatArray] = field(default_factory=dict)

    def forecast(self, method: str, length: int) -> FloatArray:
        key = (method, length)
        if key not in self.cache:
            end = self.start + timedelta(days=length - 1)
            result = run_method(
                method, self.y[:length], self.plan.horizon, end=end, paths=BACKTEST_PATHS
            )
            self.cache[key] = np.asarray(result.point)
        return self.cache[key]

    def errors(self, method: str, length: int) -> OriginErrors:
        h = self.plan.horizon
        return errors(self.y[:length], self.y[length : length + h], self.forecast(method, length))

    def select(self, n: int, candidates: Sequence[str]) -> str:
        """The candidate with the lowest mean MASE over the origins within the first ``n``."""
        lengths = origin_lengths(n, self.plan)
        best: tuple[float, str] | None = None
        for method in candidates:
            values = [e.mase for e in (self.errors(method, L) for L in lengths)]
            scored = [v for v in values if v is not None]
            if scored and (best is None or float(np.mean(scored)) < best[0]):
                best = (float(np.mean(scored)), method)
        return best[1] if best else FALLBACK


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _score(method: str, found: list[OriginErrors], chosen: tuple[str, ...] = ()) -> Score:
    return Score(
        method,
        _mean([e.mape for e in found]),
        _mean([e.mase for e in found]),
        _mean([e.total_ape for e in found]),
        len(found),
        chosen,
    )


def backtest(
    values: Values,
    *,
    start: date,
    plan: Plan | None = None,
    methods: Sequence[str] = (*METHODS, "auto"),
    candidates: Sequence[str] = METHODS,
) -> list[Score]:
    """Scores of ``methods`` (any of :data:`METHODS` and ``auto``, which chooses among
    ``candidates``) on the series whose first day is ``start``; where no origin fits, every
    figure is None and ``origins`` 0."""
    runner = _Runner(as_floats(values), start, plan or Plan())
    lengths = origin_lengths(runner.y.size, runner.plan)
    out = []
    for method in methods:
        if method == "auto":
            picks = tuple(runner.select(L, candidates) for L in lengths)
            found = [runner.errors(pick, L) for pick, L in zip(picks, lengths, strict=True)]
            out.append(_score("auto", found, picks))
        else:
            out.append(_score(method, [runner.errors(method, L) for L in lengths]))
    return out


def select_method(
    values: Values,
    *,
    start: date,
    plan: Plan | None = None,
    candidates: Sequence[str] = METHODS,
) -> str:
    """The method ``auto`` uses for a forecast after the whole series: the lowest MASE of a
    backtest on all its days (:data:`FALLBACK` when the series is too short for one)."""
    runner = _Runner(as_floats(values), start, plan or Plan())
    return runner.select(runner.y.size, candidates)
