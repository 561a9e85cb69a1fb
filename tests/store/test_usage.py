"""The usage query: groups, filters, job counts, time zones, rebuilt rollups."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from meterbook.connectors.slurm import SlurmConnector
from meterbook.importing import run_import
from meterbook.periods import Period, parse_period, resolve_period
from meterbook.settings import Settings
from meterbook.store.core import Store, open_store, rebuild_rollups
from meterbook.store.queries.usage import UsageFilters, usage_summary
from tests.conftest import DATA
from tests.store.helpers import import_slurm


def summary(store: Store, period: Period, by: tuple[str, ...] = (), **filters: object):  # type: ignore[no-untyped-def]
    top = filters.pop("top", None)
    with store.engine.connect() as conn:
        return usage_summary(conn, period, by, UsageFilters(**filters), top)  # type: ignore[arg-type]


@pytest.fixture
def quirks(store: Store) -> Store:
    import_slurm(store, DATA / "xdmod-quirks.log")
    return store


def test_totals_and_groups(quirks: Store) -> None:
    march = parse_period("2024-03")
    total = summary(quirks, march).total
    assert (total.cpu_hours, total.gpu_hours, total.node_hours, total.wall_hours) == (
        228.0,
        25.0,
        10.5,
        8.5,
    )
    assert (total.jobs_started, total.jobs_ended, total.jobs_running) == (4, 4, 4)
    assert total.mem_gb_hours == pytest.approx(500 + 375 + 8 * 3000 / 1024 * 0.5)
    users = {r.group[0]: r for r in summary(quirks, march, ("user",)).rows}
    assert users["alice"].cpu_hours == 224.0 and users["bob"].cpu_hours == 4.0
    assert [r.group for r in summary(quirks, march, ("account",)).rows] == [("astro",), ("bio",)]
    assert summary(quirks, march, ("user",), top=1).rows[0].group == ("alice",)


def test_days_and_running_jobs(quirks: Store) -> None:
    march = parse_period("2024-03")
    days = {r.group[0]: r for r in summary(quirks, march, ("day",)).rows}
    assert days["2024-03-01"].cpu_hours == 128 + 32 + 4
    assert days["2024-03-02"].cpu_hours == 64
    assert days["2024-03-02"].jobs_running == 1 and days["2024-03-02"].jobs_started == 0
    # The GPU job ran on 2 March: it counts as running there, started before.
    second = summary(quirks, resolve_period(None, "2024-03-02", "2024-03-02")).total
    assert (second.jobs_running, second.jobs_started, second.jobs_ended) == (1, 0, 1)
    assert summary(quirks, parse_period("2024-03-02"), ("month",)).rows[0].group == ("2024-03",)


def test_filters(quirks: Store) -> None:
    march = parse_period("2024-03")
    assert summary(quirks, march, users=("bob",)).total.cpu_hours == 4.0
    assert summary(quirks, march, partitions=("gpu",), states=("timeout",)).total.cpu_hours == 96
    assert summary(quirks, march, clusters=("elsewhere",)).total.cpu_hours == 0
    empty = summary(quirks, parse_period("2023"), ("user",))
    assert empty.rows == [] and empty.total.jobs_started == 0


def test_rebuild_in_another_zone(quirks: Store, settings: Settings) -> None:
    before = summary(quirks, parse_period("2024-03")).total
    store, count = rebuild_rollups(
        Settings(database_url=settings.database_url, timezone="Asia/Tokyo")
    )
    assert count == 5
    # Tokyo is 9 hours ahead: the GPU job (22:00-04:00 UTC) falls on 2 March only.
    days = {r.group[0]: r for r in summary(store, parse_period("2024-03"), ("day",)).rows}
    assert days["2024-03-02"].gpu_hours == 24.0 and "2024-03-01" in days
    assert summary(store, parse_period("2024-03")).total.cpu_hours == before.cpu_hours
    store.engine.dispose()
    opened = open_store(Settings(database_url=settings.database_url, timezone="Asia/Tokyo"))
    assert opened.timezone == "Asia/Tokyo"
    opened.engine.dispose()


def test_local_time_input(store: Store) -> None:
    from zoneinfo import ZoneInfo

    run_import(
        store,
        SlurmConnector(
            [str(DATA / "sacct-parsable2-local.txt")], zone=ZoneInfo("Europe/Berlin"), cluster="lab"
        ),
        parallel=False,
    )
    rows = {r.group[0]: r for r in summary(store, parse_period("2024-03"), ("day",)).rows}
    assert rows["2024-03-30"].cpu_hours == 8.0  # 22:00-24:00 UTC x 4 CPUs
    assert rows["2024-03-31"].cpu_hours == 12.0 + 2.0
    assert rows["2024-03-31"].jobs_started == 2  # 503 and the running 504


def test_unknown_dimension(quirks: Store) -> None:
    from meterbook.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown dimension"):
        summary(quirks, parse_period("2024"), ("colour",))


def test_period_bounds_are_days(quirks: Store) -> None:
    period = Period(date(2024, 3, 2), date(2024, 3, 3), "x")
    assert summary(quirks, period).total.cpu_hours == 64.0


def test_unknown_waits_stay_out_of_the_average(store: Store, tmp_path: Path) -> None:
    from meterbook.connectors.swf import SwfConnector

    path = tmp_path / "t.swf"
    path.write_text(
        "; UnixStartTime: 1000000000\n"
        "1 0 -1 3600 2 -1 -1 2 -1 -1 1 1 1 -1 -1 -1 -1 -1\n"
        "2 0 7200 3600 2 -1 -1 2 -1 -1 1 1 1 -1 -1 -1 -1 -1\n"
    )
    run_import(store, SwfConnector([str(path)]), parallel=False)
    total = summary(store, parse_period("2001")).total
    assert total.jobs_started == 2 and total.avg_wait_hours == 2.0
    path.write_text(
        "; UnixStartTime: 1000000000\n1 0 -1 3600 2 -1 -1 2 -1 -1 1 1 1 -1 -1 -1 -1 -1\n"
    )
    run_import(store, SwfConnector([str(path)], trace="other"), parallel=False)
    only_unknown = summary(store, parse_period("2001"), ("source",)).rows
    assert {r.group[0]: r.avg_wait_hours for r in only_unknown} == {"t": 2.0, "other": None}


def test_groups_emptied_by_an_update_are_not_listed(store: Store, tmp_path: Path) -> None:
    line = (DATA / "xdmod-quirks.log").read_text().splitlines()[0]
    path = tmp_path / "job.log"
    path.write_text(line + "\n")
    import_slurm(store, path)
    path.write_text(line.replace("|COMPLETED|", "|FAILED|") + "\n")
    import_slurm(store, path)
    rows = summary(store, parse_period("2024-03"), ("state",)).rows
    assert [r.group for r in rows] == [("FAILED",)]
