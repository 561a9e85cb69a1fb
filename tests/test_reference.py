"""Open XDMoD's published figures for its reference data, on every database."""

from __future__ import annotations

from datetime import date

from meterbook.periods import Period, resolve_period
from meterbook.store.core import Store
from meterbook.store.queries.usage import usage_summary
from tests.conftest import shared
from tests.store.helpers import import_slurm

# formats/slurm.md: resource phillips, 2016-12-22 .. 2017-01-01 (inclusive, UTC).
XDMOD = {
    "cpu_hours": 11767.9883,
    "gpu_hours": 506.9128,
    "node_hours": 1344.8686,
    "wall_hours": 438.8203,
}
XDMOD_DAYS = {"2016-12-22": 200.9567, "2016-12-23": 288.0000, "2016-12-24": 288.0000}


def test_phillips_matches_open_xdmod(store: Store) -> None:
    result = import_slurm(store, shared("slurm", "xdmod-phillips.log"))
    assert (result.inserted, result.rejected) == (4285, 0)
    window = resolve_period(None, "2016-12-22", "2017-01-01")
    with store.engine.connect() as conn:
        total = usage_summary(conn, window, ()).total
        days = {r.group[0]: r.cpu_hours for r in usage_summary(conn, window, ("day",)).rows}
        clusters = usage_summary(conn, window, ("cluster",)).rows
    for name, expected in XDMOD.items():
        assert round(getattr(total, name), 4) == expected, name
    for day, expected in XDMOD_DAYS.items():
        assert round(days[day], 4) == expected, day
    assert [r.group for r in clusters] == [("phillips",)]


def test_phillips_outside_the_window(store: Store) -> None:
    import_slurm(store, shared("slurm", "xdmod-phillips.log"))
    with store.engine.connect() as conn:
        before = usage_summary(conn, Period(date(2016, 1, 1), date(2016, 12, 22), "")).total
    assert before.cpu_hours == 0 and before.jobs_started == 0
