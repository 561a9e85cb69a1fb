"""Day contributions: the invariants every rollup rests on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterbook.accounting import contributions, local_days


def table(rows: list[dict[str, object]]) -> pa.Table:
    base = {
        "dim": "a",
        "cpus": 1,
        "gpus": 0,
        "nodes": 1,
        "mem_gb": 0.0,
        "wait_hours": 0.0,
        "io_ops": 0,
        "end_ts": None,
    }
    return pa.Table.from_pylist(
        [{**base, **r} for r in rows],
        schema=pa.schema(
            [
                ("dim", pa.string()),
                ("start_ts", pa.float64()),
                ("end_ts", pa.float64()),
                ("cpus", pa.int64()),
                ("gpus", pa.int64()),
                ("nodes", pa.int64()),
                ("mem_gb", pa.float64()),
                ("wait_hours", pa.float64()),
                ("io_ops", pa.int64()),
            ]
        ),
    )


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def by_day(result: pa.Table) -> dict[date, dict[str, float]]:
    return {r["day"]: r for r in result.to_pylist()}


def test_a_three_day_job_splits_by_overlap() -> None:
    rows = table(
        [
            {
                "start_ts": at(2024, 1, 1, 18),
                "end_ts": at(2024, 1, 3, 6),
                "cpus": 4,
                "wait_hours": 2.0,
            }
        ]
    )
    days = by_day(contributions(rows, ["dim"], UTC))
    assert [days[date(2024, 1, d)]["cpu_hours"] for d in (1, 2, 3)] == [24.0, 96.0, 24.0]
    assert [days[date(2024, 1, d)]["jobs_started"] for d in (1, 2, 3)] == [1, 0, 0]
    assert [days[date(2024, 1, d)]["jobs_carried"] for d in (1, 2, 3)] == [0, 1, 1]
    assert [days[date(2024, 1, d)]["jobs_ended"] for d in (1, 2, 3)] == [0, 0, 1]
    assert days[date(2024, 1, 1)]["wait_hours"] == 2.0


def test_ending_at_midnight_ends_the_day_before() -> None:
    rows = table([{"start_ts": at(2024, 1, 1, 12), "end_ts": at(2024, 1, 2)}])
    days = by_day(contributions(rows, ["dim"], UTC))
    assert list(days) == [date(2024, 1, 1)]
    assert days[date(2024, 1, 1)]["jobs_ended"] == 1


def test_running_zero_length_and_never_started() -> None:
    rows = table(
        [
            {"start_ts": at(2024, 1, 1, 12)},  # still running
            {"start_ts": at(2024, 1, 1, 13), "end_ts": at(2024, 1, 1, 13)},  # zero length
            {"start_ts": None, "end_ts": at(2024, 1, 1, 14)},  # never ran
        ]
    )
    (day,) = contributions(rows, ["dim"], UTC).to_pylist()
    assert (day["jobs_started"], day["jobs_ended"], day["wall_hours"]) == (2, 1, 0.0)


def test_time_zone_days_follow_summer_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # From 00:00 local on 30 March to 00:00 local on 1 April 2024: 24 h, then a 23 h day.
    start = datetime(2024, 3, 30, tzinfo=berlin).timestamp()
    end = datetime(2024, 4, 1, tzinfo=berlin).timestamp()
    days = by_day(contributions(table([{"start_ts": start, "end_ts": end}]), ["dim"], berlin))
    assert days[date(2024, 3, 30)]["wall_hours"] == 24.0
    assert days[date(2024, 3, 31)]["wall_hours"] == 23.0
    assert local_days(pa.array([start]), berlin).to_pylist() == [date(2024, 3, 30)]


def test_negation_cancels() -> None:
    rows = table([{"start_ts": at(2024, 1, 1, 18), "end_ts": at(2024, 1, 3, 6), "cpus": 4}])
    both = pa.concat_tables(
        [contributions(rows, ["dim"], UTC), contributions(rows, ["dim"], UTC, sign=-1)]
    )
    from meterbook.accounting import group_sum

    assert all(
        r["cpu_hours"] == 0 and r["jobs_carried"] == 0 for r in group_sum(both, ["dim"]).to_pylist()
    )


intervals = st.lists(
    st.tuples(
        st.integers(0, 40 * 86400),
        st.integers(0, 9 * 86400),
        st.integers(1, 128),
        st.sampled_from(["a", "b", "c"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(intervals, st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]))
def test_days_add_up_to_the_records(jobs: list[tuple[int, int, int, str]], zone_name: str) -> None:
    """Rollup totals equal raw totals, in any zone; every record starts and ends once."""
    zone = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
    origin = at(2024, 3, 1)
    rows = table(
        [
            {"start_ts": origin + s, "end_ts": origin + s + d, "cpus": c, "dim": g}
            for s, d, c, g in jobs
        ]
    )
    result = contributions(rows, ["dim"], zone).to_pylist()
    raw_cpu = sum(c * d / 3600 for _, d, c, _ in jobs)
    raw_wall = sum(d / 3600 for _, d, _, _ in jobs)
    assert sum(r["cpu_hours"] for r in result) == pytest.approx(raw_cpu)
    assert sum(r["wall_hours"] for r in result) == pytest.approx(raw_wall)
    assert sum(r["jobs_started"] for r in result) == len(jobs)
    assert sum(r["jobs_ended"] for r in result) == len(jobs)
    for group in "abc":
        mine = [r for r in result if r["dim"] == group]
        expected = sum(c * d / 3600 for _, d, c, g in jobs if g == group)
        assert sum(r["cpu_hours"] for r in mine) == pytest.approx(expected)
