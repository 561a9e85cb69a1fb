"""Forecasts from the store: spend (FOCUS files) and usage (SWF traces), on every database."""

from __future__ import annotations

import calendar
import csv
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from meterbook import org
from meterbook.connectors.billing.connector import BillingReader
from meterbook.connectors.swf import SwfConnector
from meterbook.errors import ConfigError
from meterbook.forecast import backtest_store, forecast
from meterbook.forecast_methods import METHODS, dubweb_months
from meterbook.importing import run_import
from meterbook.spend import import_billing
from meterbook.store.core import Store
from tests.conftest import shared

FOCUS_COLUMNS = [
    "ProviderName", "SubAccountId", "SubAccountName", "ServiceName", "ChargeCategory",
    "BilledCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
    "ChargeDescription",
]  # fmt: skip
FIRST, LAST = date(2026, 8, 1), date(2026, 10, 20)
#: ml's cost by weekday (Monday first): an exact weekly pattern.
ML_WEEK = [Decimal(v) for v in ("100.25", "103.75", "107.25", "110.75", "114.25", "20.5", "18")]
WEB_DAY = Decimal("40.125")


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _focus(path: Path, rows: list[tuple[str, Decimal, date]]) -> Path:
    """One-hour lines of (project id, billed cost, day) of provider Acme."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FOCUS_COLUMNS)
        for project, cost, day in rows:
            writer.writerow(["Acme", project, project, "Compute", "Usage", cost, cost, "USD",
                             f"{day} 00:00:00", f"{day} 01:00:00", "vm hours"])  # fmt: skip
    return path


def _spend_ledger(store: Store, tmp_path: Path) -> None:
    rows = [("p-ml", ML_WEEK[d.weekday()], d) for d in _days(FIRST, LAST)]
    rows += [("p-web", WEB_DAY, d) for d in _days(FIRST, LAST)]
    import_billing(store, BillingReader("focus"), [str(_focus(tmp_path / "f.csv", rows))])
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "research")
        org.add(conn, "teams", "ml", division="research")
        org.add(conn, "teams", "web", division="research")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-ml")
        org.add(conn, "projects", "orion", provider="Acme", team="web", external_id="p-web")


def _week_sum(first: date, last: date) -> Decimal:
    return sum((ML_WEEK[d.weekday()] for d in _days(first, last)), Decimal(0))


def test_naive_spend_projection_by_team(store: Store, tmp_path: Path) -> None:
    _spend_ledger(store, tmp_path)
    results = {f.key: f for f in forecast(store.engine, by="team", months=1, method="naive")}
    assert sorted(results) == ["ml", "web"]
    ml = results["ml"]
    assert ml.as_of == LAST and ml.method == "naive"
    october, november = ml.months
    assert october.month == "2026-10" and november.month == "2026-11"
    # Actuals: 1-20 October from the file; the days left repeat the weekday a week before,
    # which for an exact weekly pattern is that weekday's cost.
    assert october.actual_to_date == _week_sum(date(2026, 10, 1), LAST)
    assert october.forecast == _week_sum(date(2026, 10, 1), date(2026, 10, 31))
    assert november.actual_to_date == 0
    assert november.forecast == _week_sum(date(2026, 11, 1), date(2026, 11, 30))
    # No residual in an exact pattern: the intervals are the point itself.
    assert october.lo95 == october.lo80 == october.forecast == october.hi80 == october.hi95
    web = results["web"].months
    assert web[0].forecast == WEB_DAY * 31 and web[1].forecast == WEB_DAY * 30


def test_dubweb_projection_and_as_of(store: Store, tmp_path: Path) -> None:
    _spend_ledger(store, tmp_path)
    [ml] = forecast(store.engine, by="team", method="dubweb", months=2,
                    as_of=date(2026, 9, 30), filters={"teams": "ml"})  # fmt: skip
    assert ml.as_of == date(2026, 9, 30)
    september, october, november = ml.months
    # September is over: the forecast is its actual.
    assert (
        september.actual_to_date
        == september.forecast
        == _week_sum(date(2026, 9, 1), date(2026, 9, 30))
    )
    # The next months: the original's daily spend x days (computed from the file's values).
    values = [ML_WEEK[d.weekday()] for d in _days(FIRST, date(2026, 9, 30))]
    plan = dubweb_months(values, end=date(2026, 9, 30), months=3)
    for got, month in zip((october, november), plan[1:], strict=True):
        days = calendar.monthrange(month.month.year, month.month.month)[1]
        assert float(got.forecast) == pytest.approx(month.daily * days, abs=1e-6)
    # September's average over August's: trend = avg(Sep 1-30) / avg(Aug 1-30).
    sep = _week_sum(date(2026, 9, 1), date(2026, 9, 30)) / 30
    aug = _week_sum(FIRST, date(2026, 8, 31)) / 31
    aug30 = _week_sum(FIRST, date(2026, 8, 30)) / 30
    assert plan[1].daily == pytest.approx(float(aug) * float(sep / aug30))
    for m in ml.months:
        assert m.lo95 <= m.lo80 <= m.hi80 <= m.hi95


def test_auto_picks_a_method_and_errors_are_clear(store: Store, tmp_path: Path) -> None:
    _spend_ledger(store, tmp_path)
    results = forecast(store.engine, by="provider")
    assert [f.key for f in results] == ["Acme"] and results[0].method in METHODS
    total = results[0].months[0]
    assert total.actual_to_date == _week_sum(date(2026, 10, 1), LAST) + WEB_DAY * 20
    with pytest.raises(ConfigError, match="--by user"):
        forecast(store.engine, by="user", metric="cost")
    with pytest.raises(ConfigError, match="--metric"):
        forecast(store.engine, by="team", metric="euros")
    with pytest.raises(ConfigError, match="filter 'clusters'"):
        forecast(store.engine, by="team", filters={"clusters": "x"})
    assert forecast(store.engine, by="account", metric="cpu_hours") == []


def _swf(path: Path, cpus: list[int], first: date) -> Path:
    """One job a day, one hour long from 01:00, on ``cpus[i]`` processors."""
    epoch = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
    lines = [f"; UnixStartTime: {epoch}"]
    for i, n in enumerate(cpus):
        submit = i * 86400 + 3600
        lines.append(f"{i + 1} {submit} 0 3600 {n} -1 -1 {n} -1 -1 1 1 1 -1 -1 -1 -1 -1")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_usage_projection_and_backtest(store: Store, tmp_path: Path) -> None:
    week = [30, 32, 34, 33, 31, 8, 6]
    first = date(2026, 7, 1)
    days = 92  # July, August, September
    cpus = [week[(first + timedelta(days=i)).weekday()] for i in range(days)]
    path = _swf(tmp_path / "t.swf", cpus, first)
    assert run_import(store, SwfConnector([str(path)]), parallel=False).inserted == days
    [total] = forecast(store.engine, by="total", metric="cpu_hours", method="naive", months=1)
    assert total.as_of == date(2026, 9, 30)
    september, october = total.months
    assert september.actual_to_date == september.forecast == sum(cpus[-30:])
    october_days = _days(date(2026, 10, 1), date(2026, 10, 31))
    assert october.forecast == sum(week[d.weekday()] for d in october_days)
    [scores] = backtest_store(store.engine, by="total", metric="cpu_hours", methods=["naive"])
    naive = {s.method: s for s in scores.scores}["naive"]
    # An exact weekly pattern: the seasonal naive forecast makes no error (and the in-sample
    # seasonal naive error is zero too, so there is no MASE to scale by).
    assert naive.mape == 0 and naive.total_ape == 0 and naive.mase is None
    assert naive.origins == 6


@pytest.mark.shared
def test_swf_trace_backtest_auto_beats_naive(store: Store) -> None:
    path = shared("swf", "NASA-iPSC-1993-3.1-cln.swf.gz")
    run_import(store, SwfConnector([str(path)]), parallel=False)
    [result] = backtest_store(store.engine, by="total", metric="cpu_hours")
    scores = {s.method: s for s in result.scores}
    assert scores["auto"].origins == scores["naive"].origins == 6
    assert scores["auto"].mase is not None and scores["naive"].mase is not None
    assert scores["auto"].mase < scores["naive"].mase
