"""Forecasting methods on a daily series: ``dubweb``, ``ets`` and ``naive``.

Each method takes the values of consecutive days (floats or Decimals, oldest first) and a
horizon ``h`` in days, and returns a :class:`MethodForecast`: point forecasts for the ``h``
days after the series, 80 % and 95 % prediction intervals per day, and simulated futures
(``paths``, one row per simulated future) from which intervals of sums (a month's total) are
taken. Forecasts are never negative: costs and hours are not, so points and paths are cut at
zero.

- ``naive``: seasonal naive, each day is the value of the same weekday one week earlier.
  Futures: the same recursion with in-sample residuals ``y[t] - y[t-7]`` added, resampled in
  blocks of seven days.
- ``dubweb``: the original spend tracker's trend-decay forecast (see :func:`dubweb_months`),
  spread over days. Futures: the point plus in-sample residuals (each day's value less the
  average of the month before it), resampled in blocks of seven days.
- ``ets``: additive exponential smoothing (statsmodels' ``ETSModel``): level only, level and
  damped trend, level and weekly season; the fit with the lowest AICc wins. Futures are simulated
  from the fitted model. Series too short for any fit fall back to their mean.
"""

from __future__ import annotations

import calendar
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from meterbook.periods import add_months

Number = float | int | Decimal
FloatArray = npt.NDArray[np.float64]
#: A daily series: numbers of consecutive days, oldest first.
Values = Sequence[Number] | FloatArray
SEASON = 7
PATHS = 2000
#: Days in a block of resampled residuals (a week keeps the weekly shape of errors).
BLOCK = 7
METHODS = ("dubweb", "ets", "naive")


@dataclass(frozen=True)
class MethodForecast:
    """Forecasts of the ``h`` days after a series."""

    method: str
    point: list[float]
    lo80: list[float]
    hi80: list[float]
    lo95: list[float]
    hi95: list[float]
    #: Simulated futures, shape ``(paths, h)``.
    paths: FloatArray
    #: What was fitted, e.g. ``ETS(A,Ad,A)``.
    model: str = ""


def as_floats(values: Values) -> FloatArray:
    out: FloatArray = np.asarray([float(v) for v in values], dtype=np.float64)
    return out


def _finish(method: str, point: FloatArray, paths: FloatArray, model: str = "") -> MethodForecast:
    point = np.maximum(point, 0.0)
    paths = np.maximum(paths, 0.0)
    if paths.shape[0] == 0 or paths.shape[1] == 0:
        empty = [float(v) for v in point]
        return MethodForecast(method, empty, empty, empty, empty, empty, paths, model)
    q = np.quantile(paths, [0.025, 0.10, 0.90, 0.975], axis=0)
    return MethodForecast(
        method,
        [float(v) for v in point],
        [float(v) for v in q[1]],
        [float(v) for v in q[2]],
        [float(v) for v in q[0]],
        [float(v) for v in q[3]],
        paths,
        model,
    )


def _blocks(residuals: FloatArray, h: int, paths: int, rng: np.random.Generator) -> FloatArray:
    """``paths`` rows of ``h`` residuals, centred on zero (the intervals are about the point),
    drawn as consecutive runs of :data:`BLOCK` days."""
    if residuals.size == 0 or h == 0:
        return np.zeros((paths, h))
    residuals = residuals - residuals.mean()
    block = min(BLOCK, residuals.size)
    starts_max = residuals.size - block + 1
    count = math.ceil(h / block)
    starts = rng.integers(0, starts_max, size=(paths, count))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(paths, -1)[:, :h]
    drawn: FloatArray = residuals[index]
    return drawn


def naive(
    values: Values,
    h: int,
    *,
    end: date | None = None,
    paths: int = PATHS,
    seed: int = 0,
) -> MethodForecast:
    """Seasonal naive: day ``t`` is forecast as the value of day ``t - 7`` (for a series
    shorter than a week, its last value). ``end`` is not used (same signature as the others)."""
    y = as_floats(values)
    if y.size == 0:
        raise ValueError("naive: an empty series")
    lag = SEASON if y.size >= SEASON else 1
    point = np.array([y[y.size - lag + (j % lag)] for j in range(h)])
    residuals = y[lag:] - y[:-lag]
    noise = _blocks(residuals, h, paths, np.random.default_rng(seed))
    simulated = np.empty((paths, y.size + h))
    simulated[:, : y.size] = y
    for j in range(h):
        t = y.size + j
        simulated[:, t] = simulated[:, t - lag] + noise[:, j]
    return _finish("naive", point, simulated[:, y.size :], f"seasonal naive, lag {lag}")


# --- dubweb -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DubwebMonth:
    """One month of the original forecast: its daily spend and estimate."""

    month: date
    daily: float
    estimate: float


def _month_days(first: date) -> int:
    return calendar.monthrange(first.year, first.month)[1]


def dubweb_months(values: Values, *, end: date, months: int) -> list[DubwebMonth]:
    """The original tracker's forecast for the month of ``end`` and ``months - 1`` after it.

    ``values`` are the days up to and including ``end``. As the original describes it:
    trend = average daily cost so far this month / average daily cost over the same first
    days of last month (1 with no history); daily spend = last month's average (this month's
    average when there is no previous month or this month's values are constant). For the
    current month and each following month: estimate = daily spend x days in month; then
    daily spend x= trend and trend = (trend + 2) / 3.

    "So far this month" is the days of the series in the month of ``end``; "the same first
    days of last month" are its days 1 .. ``end.day`` (at most the month's length) present in
    the series; "last month's average" is over its days present in the series. A previous
    month absent from the series, or averaging zero over those first days, gives trend 1.
    """
    y = as_floats(values)
    if y.size == 0:
        raise ValueError("dubweb: an empty series")
    first_day = end - timedelta(days=y.size - 1)
    this_first = end.replace(day=1)
    last_first = add_months(this_first, -1)

    def days_between(a: date, b: date) -> FloatArray:
        """Values of the days ``[a, b)`` present in the series."""
        i0 = max((a - first_day).days, 0)
        i1 = min((b - first_day).days, y.size)
        return y[i0:i1] if i1 > i0 else np.zeros(0)

    this_month = days_between(this_first, end + timedelta(days=1))
    last_month = days_between(last_first, this_first)
    same_days = min(end.day, _month_days(last_first))
    last_first_days = days_between(last_first, last_first + timedelta(days=same_days))
    this_avg = float(this_month.mean())
    trend = 1.0
    if last_first_days.size and float(last_first_days.mean()) != 0.0:
        trend = this_avg / float(last_first_days.mean())
    constant = bool(np.all(this_month == this_month[0]))
    daily = this_avg if last_month.size == 0 or constant else float(last_month.mean())
    out = []
    month = this_first
    for _ in range(months):
        out.append(DubwebMonth(month, daily, daily * _month_days(month)))
        daily *= trend
        trend = (trend + 2) / 3
        month = add_months(month, 1)
    return out


def _dubweb_residuals(y: FloatArray, end: date) -> FloatArray:
    """Each day less the average of the month before it (less its own month's average where
    the series holds no day of the month before)."""
    first_day = end - timedelta(days=y.size - 1)
    by_month: dict[date, list[float]] = {}
    for i, v in enumerate(y):
        by_month.setdefault((first_day + timedelta(days=i)).replace(day=1), []).append(float(v))
    means = {m: sum(v) / len(v) for m, v in by_month.items()}
    out = []
    for i, v in enumerate(y):
        month = (first_day + timedelta(days=i)).replace(day=1)
        base = means.get(add_months(month, -1), means[month])
        out.append(float(v) - base)
    return np.asarray(out)


def dubweb(
    values: Values,
    h: int,
    *,
    end: date | None = None,
    paths: int = PATHS,
    seed: int = 0,
) -> MethodForecast:
    """The original trend-decay forecast, day by day: each day after ``end`` (the date of the
    last value) is forecast as the daily spend :func:`dubweb_months` gives its month."""
    if end is None:
        raise ValueError("dubweb needs the date of the last value (end=)")
    y = as_floats(values)
    last = end + timedelta(days=h)
    count = (last.year - end.year) * 12 + last.month - end.month + 1
    daily = {m.month: m.daily for m in dubweb_months(y, end=end, months=count)}
    point = np.array([daily[(end + timedelta(days=j + 1)).replace(day=1)] for j in range(h)])
    noise = _blocks(_dubweb_residuals(y, end), h, paths, np.random.default_rng(seed))
    return _finish("dubweb", point, point[None, :] + noise, "trend decay")


# --- ets --------------------------------------------------------------------------------

#: (trend, damped, seasonal) candidates and the shortest series each is fitted on.
_ETS_CANDIDATES = (
    (None, False, None, 4),
    ("add", True, None, 10),
    (None, False, "add", 2 * SEASON + 2),
)


def _ets_name(trend: str | None, damped: bool, seasonal: str | None) -> str:
    t = "N" if trend is None else ("Ad" if damped else "A")
    return f"ETS(A,{t},{'N' if seasonal is None else 'A'})"


def ets(
    values: Values,
    h: int,
    *,
    end: date | None = None,
    paths: int = PATHS,
    seed: int = 0,
) -> MethodForecast:
    """Additive exponential smoothing; the candidate fit (level; level and damped trend; level
    and weekly season) with the lowest AICc wins. A series shorter than 4 days, or one no
    candidate fits, is forecast by its mean with its own spread. ``end`` is not used."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = as_floats(values)
    if y.size == 0:
        raise ValueError("ets: an empty series")
    best = None
    for trend, damped, seasonal, shortest in _ETS_CANDIDATES:
        if y.size < shortest:
            continue
        model = ETSModel(
            y,
            error="add",
            trend=trend,
            damped_trend=damped,
            seasonal=seasonal,
            seasonal_periods=SEASON if seasonal else None,
        )
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                fit = model.fit(disp=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
        aicc = float(fit.aicc)
        if not math.isfinite(aicc) or not np.all(np.isfinite(fit.fittedvalues)):
            continue
        if best is None or aicc < best[0]:
            best = (aicc, fit, _ets_name(trend, damped, seasonal))
    if best is None or h == 0:
        return _mean_forecast(y, h, paths, seed)
    _, fit, name = best
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        point = np.asarray(fit.forecast(h), dtype=np.float64)
        simulated = np.asarray(
            fit.simulate(h, anchor="end", repetitions=paths, rng=np.random.default_rng(seed)),
            dtype=np.float64,
        ).reshape(h, paths)
    return _finish("ets", point, simulated.T, name)


def _mean_forecast(y: FloatArray, h: int, paths: int, seed: int) -> MethodForecast:
    point = np.full(h, float(y.mean()))
    noise = _blocks(y - y.mean(), h, paths, np.random.default_rng(seed))
    return _finish("ets", point, point[None, :] + noise, "mean")


Method = Callable[..., MethodForecast]
REGISTRY: dict[str, Method] = {"dubweb": dubweb, "ets": ets, "naive": naive}


def run_method(
    name: str, values: Values, h: int, *, end: date, paths: int = PATHS
) -> MethodForecast:
    """The forecast of method ``name`` (one of :data:`METHODS`)."""
    return REGISTRY[name](values, h, end=end, paths=paths)
