"""Cron arithmetic and the scheduler's decisions, with a fake clock (no database, no process)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meterbook.errors import ConfigError
from meterbook.jobs import JobConfig, decide, latest_slot, next_slot, parse_jobs

UTCZ = ZoneInfo("UTC")
GRACE = timedelta(seconds=120)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def job(schedule: str = "0 * * * *", catch_up: bool = True) -> JobConfig:
    return JobConfig(name="j", schedule=schedule, command="imports", catch_up=catch_up)


def test_next_and_latest_slots_in_utc() -> None:
    assert next_slot("0 2 1 * *", at("2024-07-15 10:00"), UTCZ) == at("2024-08-01 02:00")
    assert latest_slot("0 2 1 * *", at("2024-07-15 10:00"), UTCZ) == at("2024-07-01 02:00")
    # A slot exactly now is the latest one; the next is strictly after.
    assert latest_slot("*/15 * * * *", at("2024-07-15 10:30"), UTCZ) == at("2024-07-15 10:30")
    assert next_slot("*/15 * * * *", at("2024-07-15 10:30"), UTCZ) == at("2024-07-15 10:45")


def test_slots_follow_the_accounting_time_zone() -> None:
    zone = ZoneInfo("Europe/Berlin")
    # 02:00 in Berlin: 00:00 UTC in summer (CEST, +2), 01:00 UTC in winter (CET, +1).
    assert next_slot("0 2 * * *", at("2024-07-15 10:00"), zone) == at("2024-07-16 00:00")
    assert next_slot("0 2 * * *", at("2024-01-15 10:00"), zone) == at("2024-01-16 01:00")


def test_an_on_time_slot_runs_once() -> None:
    now = at("2024-07-15 10:00:30")
    first = decide(job(), now=now, last=None, up_since=now, grace=GRACE, zone=UTCZ)
    assert (first.action, first.slot) == ("run", at("2024-07-15 10:00"))
    # Recorded (naive UTC, as stored): nothing more until the next slot.
    again = decide(job(), now=now, last=datetime(2024, 7, 15, 10), up_since=now, grace=GRACE,
                   zone=UTCZ)  # fmt: skip
    assert again.action == "wait"
    later = decide(job(), now=at("2024-07-15 11:00:01"), last=datetime(2024, 7, 15, 10),
                   up_since=now, grace=GRACE, zone=UTCZ)  # fmt: skip
    assert (later.action, later.slot) == ("run", at("2024-07-15 11:00"))


def test_a_slot_passed_while_the_scheduler_ran_is_still_run() -> None:
    # A long job kept the loop busy for 40 minutes: the 11:00 slot is late but not missed.
    up = at("2024-07-15 09:00")
    decision = decide(job(), now=at("2024-07-15 11:40"), last=datetime(2024, 7, 15, 10),
                      up_since=up, grace=GRACE, zone=UTCZ)  # fmt: skip
    assert (decision.action, decision.slot) == ("run", at("2024-07-15 11:00"))


def test_catch_up_runs_the_latest_missed_slot_once() -> None:
    # Down from 10:30 to 15:20: slots 11:00..15:00 were missed; only 15:00 is acted on.
    now = at("2024-07-15 15:20")
    decision = decide(job(), now=now, last=datetime(2024, 7, 15, 10), up_since=now,
                      grace=GRACE, zone=UTCZ)  # fmt: skip
    assert (decision.action, decision.slot) == ("catch-up", at("2024-07-15 15:00"))
    off = decide(job(catch_up=False), now=now, last=datetime(2024, 7, 15, 10), up_since=now,
                 grace=GRACE, zone=UTCZ)  # fmt: skip
    assert (off.action, off.slot) == ("skip", at("2024-07-15 15:00"))


def test_a_new_job_starts_with_its_next_slot() -> None:
    now = at("2024-07-15 15:20")
    decision = decide(job(), now=now, last=None, up_since=now, grace=GRACE, zone=UTCZ)
    assert decision.action == "wait"
    # Within the grace of a slot, even a scheduler just started runs it.
    soon = at("2024-07-15 16:01")
    assert decide(job(), now=soon, last=None, up_since=soon, grace=GRACE, zone=UTCZ).action == (
        "run"
    )


def test_bad_job_configuration_names_the_section() -> None:
    with pytest.raises(ConfigError, match=r"f.toml: \[jobs.x\] schedule: .*not a cron"):
        parse_jobs({"x": {"schedule": "every day", "command": "imports"}}, "f.toml")
    with pytest.raises(ConfigError, match=r"\[jobs.x\] command: give the command without"):
        parse_jobs({"x": {"schedule": "@daily", "command": "meterbook imports"}}, "f.toml")
    with pytest.raises(ConfigError, match=r"\[jobs.x\] command: a job cannot run 'scheduler'"):
        parse_jobs({"x": {"schedule": "@daily", "command": "scheduler --once"}}, "f.toml")
    with pytest.raises(ConfigError, match=r"\[jobs.x\] colour: Extra inputs"):
        parse_jobs({"x": {"schedule": "@daily", "command": "imports", "colour": 1}}, "f.toml")
    found = parse_jobs({"x": {"schedule": "@hourly", "command": "import slurm 'a b.log'"}}, "f")
    assert found["x"].argv == ["import", "slurm", "a b.log"] and found["x"].name == "x"
