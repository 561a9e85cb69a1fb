"""Scheduled jobs: their configuration (``[jobs.NAME]``, ``[scheduler]``) and cron arithmetic.

A job is a ``meterbook`` command line run on a cron schedule, interpreted in the accounting
time zone (``0 2 1 * *`` is 02:00 local on the first of the month). Whether a slot is due, on
time, to catch up or to skip is decided here from the clock and the latest recorded slot,
without a database or a process, so the rules can be tested with a fake clock.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from meterbook.errors import ConfigError


class JobConfig(BaseModel):
    """One ``[jobs.NAME]`` section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    #: A cron expression (five fields, or ``@daily``, ``@hourly``...).
    schedule: str
    #: The meterbook command line, without ``meterbook``: ``import slurm /var/log/x.log``.
    command: str = Field(min_length=1)
    timeout: float = Field(default=3600.0, gt=0)
    #: After downtime, run once for the latest missed slot (else record it as skipped).
    catch_up: bool = True
    #: Recipients told when a run fails or times out.
    notify: list[str] = Field(default_factory=list)

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression")
        return value

    @field_validator("command")
    @classmethod
    def _valid_command(cls, value: str) -> str:
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command: {exc}") from exc
        if not words:
            raise ValueError("empty command")
        if words[0] == "meterbook":
            raise ValueError("give the command without the leading 'meterbook'")
        if words[0] in {"scheduler", "run-job"}:
            raise ValueError(f"a job cannot run '{words[0]}'")
        return value

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)


class SchedulerConfig(BaseModel):
    """``[scheduler]``: the loop's own settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: A slot at most this old when seen is on time even for a scheduler that just started.
    grace_seconds: float = Field(default=120.0, ge=0)
    #: The longest sleep between two looks at the clock.
    poll_seconds: float = Field(default=30.0, gt=0)
    #: On SIGTERM, how long a running job gets after its own SIGTERM before it is killed.
    stop_seconds: float = Field(default=10.0, ge=0)
    #: Lines of a job's output kept as the run's message.
    message_lines: int = Field(default=20, ge=1, le=1000)


def parse_jobs(data: Mapping[str, Any], origin: str) -> dict[str, JobConfig]:
    found: dict[str, JobConfig] = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: [jobs.{name}] must be a table")
        try:
            found[name] = JobConfig(**{**body, "name": name})
        except ValidationError as exc:
            raise _error(origin, f"jobs.{name}", exc) from exc
    return found


def parse_scheduler(body: Mapping[str, Any], origin: str) -> SchedulerConfig:
    try:
        return SchedulerConfig(**body)
    except ValidationError as exc:
        raise _error(origin, "scheduler", exc) from exc


def _error(origin: str, section: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{origin}: [{section}] {where}: {msg}")


def _local(moment: datetime, zone: tzinfo) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def next_slot(schedule: str, after: datetime, zone: tzinfo) -> datetime:
    """The first slot strictly after ``after``, as an aware UTC datetime."""
    found = croniter(schedule, _local(after, zone)).get_next(datetime)
    return found.astimezone(UTC)


def latest_slot(schedule: str, now: datetime, zone: tzinfo) -> datetime:
    """The latest slot at or before ``now``, as an aware UTC datetime."""
    start = _local(now, zone).replace(microsecond=0) + timedelta(seconds=1)
    found = croniter(schedule, start).get_prev(datetime)
    return found.astimezone(UTC)


Action = Literal["run", "catch-up", "skip", "wait"]


@dataclass(frozen=True)
class Decision:
    """What to do about a job now: ``run`` (on time), ``catch-up`` (a missed slot, run once),
    ``skip`` (a missed slot, recorded as skipped) or ``wait``; ``slot`` is the slot acted on."""

    action: Action
    slot: datetime | None


def decide(
    job: JobConfig,
    *,
    now: datetime,
    last: datetime | None,
    up_since: datetime,
    grace: timedelta,
    zone: tzinfo,
) -> Decision:
    """Decide about ``job`` at ``now`` given the latest recorded slot ``last`` (None: never
    run) and when the scheduler started looking (``up_since``).

    Only the latest slot at or before ``now`` is ever acted on: after a long downtime a job
    runs once, not once per missed slot. A slot is on time when it came after the scheduler
    started (less ``grace``) or is at most ``grace`` old; otherwise it was missed, and is
    caught up when ``catch_up`` is set and the job ran before (a new job starts with its next
    slot), or recorded as skipped.
    """
    slot = latest_slot(job.schedule, now, zone)
    if last is not None and slot <= _local(last, UTC):
        return Decision("wait", None)
    on_time = slot >= up_since - grace or now - slot <= grace
    if on_time:
        return Decision("run", slot)
    if last is None:
        return Decision("wait", None)
    return Decision("catch-up" if job.catch_up else "skip", slot)
