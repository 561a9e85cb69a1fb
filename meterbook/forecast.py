"""Month-end projections and backtests of the store's spend and usage series.

:func:`forecast` is the library entry point (alerts call it): for every series of ``by`` x
``metric`` it projects the month of ``as_of`` (the actual so far plus the forecast of the days
left) and the ``months`` months after it (the sum of their daily forecasts), each with 80 % and
95 % prediction intervals taken from the method's simulated futures (quantiles of the futures'
month totals, plus the actual so far). ``as_of`` defaults to the last day with data in any of
the series, so a ledger of past data still gets a forecast of the month after it.

``method="auto"`` picks, per series, the method with the lowest MASE on a rolling-origin
backtest of that series' history (:func:`meterbook.backtest.select_method`).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Engine

from meterbook.backtest import Plan, Score, backtest, select_method
from meterbook.errors import ConfigError
from meterbook.forecast_methods import METHODS, MethodForecast, run_method
from meterbook.forecast_series import DailySeries, load_series
from meterbook.periods import add_months

CHOICES = ("auto", *METHODS)
#: Forecast figures are estimates from floats: kept to 6 decimals (a float's sum of a few
#: thousand days of money holds far more), which also keeps exact inputs exact.
PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class MonthForecast:
    """One month of a series: ``forecast`` is the month's total (the actual so far included);
    the intervals bound the same total."""

    month: str
    actual_to_date: Decimal
    forecast: Decimal
    lo80: Decimal
    hi80: Decimal
    lo95: Decimal
    hi95: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "actual_to_date": self.actual_to_date,
            "forecast": self.forecast,
            "lo80": self.lo80,
            "hi80": self.hi80,
            "lo95": self.lo95,
            "hi95": self.hi95,
        }


@dataclass(frozen=True)
class SeriesForecast:
    key: str
    method: str
    months: list[MonthForecast]
    #: The last day of actuals the forecast starts after.
    as_of: date
    #: What the method fitted (e.g. ``ETS(A,N,A)``).
    model: str = ""
    history_days: int = 0


@dataclass(frozen=True)
class SeriesBacktest:
    key: str
    days: int
    scores: list[Score] = field(default_factory=list)


def _amount(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(PLACES)


def _month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def project_months(series: DailySeries, result: MethodForecast, months: int) -> list[MonthForecast]:
    """The month of the series' last day and ``months`` after, from a forecast of the days
    that follow it (``result`` must cover them all)."""
    as_of = series.end
    current = as_of.replace(day=1)
    offset = (as_of - current).days + 1
    actual = sum((Decimal(str(v)) for v in series.values[-offset:]), Decimal(0))
    if isinstance(series.values[0], float):
        actual = actual.quantize(PLACES)
    out = []
    point = np.asarray(result.point)
    for k in range(months + 1):
        first = add_months(current, k)
        i0 = max((first - as_of).days - 1, 0)
        i1 = (_month_end(first) - as_of).days
        sums = result.paths[:, i0:i1].sum(axis=1)
        base = actual if k == 0 else Decimal(0)
        if sums.size and i1 > i0:
            q = np.quantile(sums, [0.025, 0.10, 0.90, 0.975])
            rest = float(point[i0:i1].sum())
        else:
            q, rest = np.zeros(4), 0.0
        lo95, lo80, hi80, hi95 = (base + _amount(float(v)) for v in q)
        out.append(
            MonthForecast(first.strftime("%Y-%m"), base, base + _amount(rest),
                          lo80, hi80, lo95, hi95)
        )  # fmt: skip
    return out


def forecast_series(
    series: DailySeries, *, months: int = 1, method: str = "auto"
) -> SeriesForecast:
    """The projection of one series (see :func:`forecast`)."""
    if method not in CHOICES:
        raise ConfigError(f"--method: unknown method {method!r} (use {', '.join(CHOICES)})")
    if months < 0:
        raise ConfigError("--months must be 0 or more")
    chosen = select_method(series.values, start=series.start) if method == "auto" else method
    as_of = series.end
    h = (_month_end(add_months(as_of.replace(day=1), months)) - as_of).days
    result = run_method(chosen, series.values, h, end=as_of)
    return SeriesForecast(
        series.key,
        chosen,
        project_months(series, result, months),
        as_of,
        result.model,
        len(series.values),
    )


def forecast(
    engine: Engine,
    *,
    by: str,
    metric: str = "cost",
    months: int = 1,
    method: str = "auto",
    as_of: date | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[SeriesForecast]:
    """Projections of every series of ``by`` (provider, team, project for spend; account,
    project, user, cluster for usage; ``total``) x ``metric`` (``cost`` ... or
    ``cpu_hours`` ...): the month of ``as_of`` (default: the last day with data) and the
    ``months`` after it. ``filters`` are the fields of the spend or usage filters, e.g.
    ``{"providers": ["AWS"]}`` or ``{"clusters": "aurora"}``."""
    if method not in CHOICES:
        raise ConfigError(f"--method: unknown method {method!r} (use {', '.join(CHOICES)})")
    with engine.connect() as conn:
        all_series, _ = load_series(conn, by=by, metric=metric, as_of=as_of, filters=filters)
    return [forecast_series(s, months=months, method=method) for s in all_series]


def backtest_store(
    engine: Engine,
    *,
    by: str,
    metric: str = "cost",
    plan: Plan | None = None,
    methods: Sequence[str] = (*METHODS, "auto"),
    as_of: date | None = None,
    filters: Mapping[str, Any] | None = None,
) -> list[SeriesBacktest]:
    """The rolling-origin backtest (:func:`meterbook.backtest.backtest`) of every series."""
    with engine.connect() as conn:
        all_series, _ = load_series(conn, by=by, metric=metric, as_of=as_of, filters=filters)
    return [
        SeriesBacktest(s.key, len(s.values), backtest(s.values, start=s.start, plan=plan,
                                                      methods=methods))
        for s in all_series
    ]  # fmt: skip
