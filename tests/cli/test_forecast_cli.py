"""``meterbook forecast``, ``forecast backtest`` and ``anomalies`` through the command line."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.cli.test_cli import run
from tests.test_forecast import _swf

WEEK = [30, 32, 34, 33, 31, 8, 6]
FIRST = date(2026, 7, 1)
DAYS = 92  # July, August, September
SPIKE_INDEX = 80  # 2026-09-19


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
           ) -> Path:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for name in ("MB_CONFIG", "MB_DATABASE_URL", "MB_TIMEZONE", "MB_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    cpus = [WEEK[(FIRST + timedelta(days=i)).weekday()] for i in range(DAYS)]
    cpus[SPIKE_INDEX] = 400
    run(capsys, "init")
    code, out, _ = run(capsys, "import", "swf", str(_swf(tmp_path / "t.swf", cpus, FIRST)))
    assert code == 0 and f"{DAYS} inserted" in out
    return tmp_path


def test_forecast_json_and_table(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "forecast", "--by", "total", "--metric", "cpu_hours",
                       "--method", "naive", "--format", "json")  # fmt: skip
    assert code == 0
    [series] = json.loads(out)["series"]
    assert series["method"] == "naive" and series["as_of"] == "2026-09-30"
    september, october = series["months"]
    assert september["month"] == "2026-09" and october["month"] == "2026-10"
    # 30 September is a Wednesday; 1-31 October repeat the weekday a week before.
    october_days = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]
    assert float(october["forecast"]) == sum(WEEK[d.weekday()] for d in october_days)
    code, out, _ = run(capsys, "forecast", "--by", "cluster", "--metric", "cpu_hours",
                       "--months", "0")  # fmt: skip
    assert code == 0 and "Forecast of cpu_hours by cluster, actuals to 2026-09-30" in out
    code, _, err = run(capsys, "forecast", "--by", "user", "--metric", "cost")
    assert code == 2 and err.count("\n") == 1 and "--by user" in err


def test_backtest_csv(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "forecast", "backtest", "--by", "total", "--metric", "cpu_hours",
                       "--horizon", "14", "--origins", "3", "--format", "csv")  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["method"] for r in rows] == ["dubweb", "ets", "naive", "auto"]
    assert all(r["origins"] == "3" for r in rows)


def test_anomalies_find_the_spike(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "anomalies", "--period", "2026-09", "--kind", "usage",
                       "--by", "user", "--format", "json")  # fmt: skip
    assert code == 0
    [found] = json.loads(out)["anomalies"]
    day = FIRST + timedelta(days=SPIKE_INDEX)
    assert found["day"] == day.isoformat() and found["severity"] == "high"
    assert float(found["actual"]) == 400 and float(found["expected"]) == WEEK[day.weekday()]
    code, out, _ = run(capsys, "anomalies", "--period", "2026-08", "--kind", "usage")
    assert code == 0 and "no anomalies of severity low or above" in out
