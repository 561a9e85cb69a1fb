"""The scheduler: runs the configured jobs on their cron schedules, one run per slot across
every scheduler sharing the database, with a record of each run.

Each job runs as ``python -m meterbook [--config FILE] COMMAND...`` with the database URL of
the scheduler's settings in ``MB_DATABASE_URL``, so any command works as it does by hand. A run
holds the job's lock (``job_locks``) while it runs; under the lock the latest recorded slot is
read again, so a second scheduler that reaches the same slot finds it done and does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from meterbook.delivery.message import Message
from meterbook.errors import ConfigError
from meterbook.jobs import Decision, JobConfig, decide, next_slot
from meterbook.settings import Settings
from meterbook.store.queries import jobs as q

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_owner() -> str:
    """Who holds a lock: host, process and a random part (two schedulers in one process
    differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RunOutcome:
    job: str
    status: str
    exit_code: int | None
    message: str
    run_id: int | None


def job_of(settings: Settings, name: str) -> JobConfig:
    job = settings.jobs.get(name)
    if job is None:
        known = ", ".join(sorted(settings.jobs)) or "none configured"
        raise ConfigError(f"no job {name!r} in the configuration ({known})")
    return job


def job_argv(settings: Settings, job: JobConfig) -> list[str]:
    """The child's command line: this Python, the same configuration file, the job's words."""
    argv = [sys.executable, "-m", "meterbook"]
    if settings.config_file is not None:
        argv += ["--config", str(settings.config_file)]
    return argv + job.argv


def _tail(text: str, lines: int) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines()][-lines:]
    return "\n".join(kept)[-4000:]


class Runner:
    """Runs job children one at a time; :meth:`stop` ends the running one (SIGTERM, then
    SIGKILL after ``stop_seconds``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self, job: JobConfig) -> tuple[str, int | None, str]:
        """``(status, exit code, message)`` of one run of ``job``."""
        env = dict(os.environ)
        env["MB_DATABASE_URL"] = self.settings.database_url
        lines = self.settings.scheduler.message_lines
        with tempfile.TemporaryFile() as out:
            try:
                child = subprocess.Popen(
                    job_argv(self.settings, job), stdout=out, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env=env,
                )  # fmt: skip
            except OSError as exc:
                return "failed", None, f"cannot start: {exc.strerror}"
            status = self._wait(child, job.timeout)
            out.seek(0)
            output = _tail(out.read().decode("utf-8", "replace"), lines)
        code = child.returncode
        if status == "timeout":
            note = f"timed out after {job.timeout:g} s"
        elif status == "stopped":
            note = "stopped: the scheduler was asked to stop"
        else:
            note = "" if code == 0 else f"exit code {code}"
        message = "\n".join(p for p in (note, output) if p)
        if status == "stopped":
            status = "failed"
        elif status == "done":
            status = "ok" if code == 0 else "failed"
        return status, code, message

    def _wait(self, child: subprocess.Popen[bytes], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                child.wait(timeout=0.1)
                return "done"
            except subprocess.TimeoutExpired:
                pass
            if self.stopping.is_set():
                self._end(child)
                return "stopped"
            if time.monotonic() > deadline:
                self._end(child)
                return "timeout"

    def _end(self, child: subprocess.Popen[bytes]) -> None:
        child.terminate()
        try:
            child.wait(timeout=self.settings.scheduler.stop_seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def notify_failure(engine: Engine, settings: Settings, job: JobConfig, outcome: RunOutcome,
                   slot: datetime | None) -> None:  # fmt: skip
    """Tell the job's ``notify`` recipients; a delivery problem is logged, never raised."""
    if not job.notify:
        return
    from meterbook.delivery.send import deliver

    code = "" if outcome.exit_code is None else str(outcome.exit_code)
    headline = [("job", job.name), ("status", outcome.status), ("exit code", code)]
    if slot is not None:
        headline.append(("scheduled for", slot.strftime("%Y-%m-%d %H:%M UTC")))
    message = Message(
        subject=f"meterbook job {job.name} {outcome.status}",
        headline=headline,
        text=f"meterbook {job.command}\n{outcome.message}".strip(),
        context={"job": job.name, "status": outcome.status},
    )
    for name in job.notify:
        try:
            result = deliver(engine, settings, name, message)
        except ConfigError as exc:
            log.error("job %s: cannot notify %s: %s", job.name, name, exc)
            continue
        if not result.ok:
            log.error("job %s: notifying %s failed: %s", job.name, name, result.error)


def run_locked(
    engine: Engine,
    settings: Settings,
    runner: Runner,
    job: JobConfig,
    *,
    slot: datetime | None,
    trigger: str,
    owner: str,
    clock: Clock = utcnow,
) -> RunOutcome | None:
    """Run ``job`` for ``slot`` under its lock and record it. None when another scheduler
    holds the lock or already recorded ``slot``."""
    ttl = timedelta(seconds=job.timeout + settings.scheduler.stop_seconds + 60)
    if not q.acquire_lock(engine, job.name, owner, now=clock(), ttl=ttl):
        return None
    try:
        if slot is not None:
            with engine.connect() as conn:
                last = q.last_slot(conn, job.name)
            if last is not None and last.replace(tzinfo=UTC) >= slot.replace(microsecond=0):
                return None
        run_id = q.start_run(engine, job.name, scheduled_for=slot, trigger=trigger,
                             owner=owner, now=clock())  # fmt: skip
        log.info("job %s: started (%s)", job.name, trigger)
        status, code, message = runner.run(job)
        q.finish_run(engine, run_id, status=status, exit_code=code, message=message,
                     now=clock())  # fmt: skip
        log.info("job %s: %s", job.name, status)
    finally:
        q.release_lock(engine, job.name, owner)
    outcome = RunOutcome(job.name, status, code, message, run_id)
    if status in ("failed", "timeout"):
        notify_failure(engine, settings, job, outcome, slot)
    return outcome


def run_job_now(
    engine: Engine, settings: Settings, name: str, *, clock: Clock = utcnow
) -> RunOutcome:
    """``meterbook run-job NAME``: run now, under the lock; a held lock is recorded as a
    skipped run."""
    job = job_of(settings, name)
    owner = new_owner()
    runner = Runner(settings)
    with _stop_on_signals(runner):
        outcome = run_locked(engine, settings, runner, job, slot=None, trigger="run-job",
                             owner=owner, clock=clock)  # fmt: skip
    if outcome is not None:
        return outcome
    with engine.connect() as conn:
        holder = q.lock_holder(conn, name)
    message = f"already running (lock held by {holder[0]})" if holder else "lock busy"
    run_id = q.start_run(engine, name, scheduled_for=None, trigger="run-job", owner=owner,
                         now=clock(), status="skipped", message=message)  # fmt: skip
    return RunOutcome(name, "skipped", None, message, run_id)


class Scheduler:
    """The loop of ``meterbook scheduler``: look at the clock, act on each job, sleep until
    the next slot (at most ``poll_seconds``), until :meth:`stop`."""

    def __init__(self, engine: Engine, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.owner = new_owner()
        self.runner = Runner(settings)
        self.up_since = clock()

    def stop(self) -> None:
        self.runner.stop()

    @property
    def stopping(self) -> bool:
        return self.runner.stopping.is_set()

    def decisions(self) -> list[tuple[JobConfig, Decision]]:
        now = self.clock()
        grace = timedelta(seconds=self.settings.scheduler.grace_seconds)
        out = []
        with self.engine.connect() as conn:
            for job in self.settings.jobs.values():
                last = q.last_slot(conn, job.name)
                out.append((job, decide(job, now=now, last=last, up_since=self.up_since,
                                        grace=grace, zone=self.settings.zone)))  # fmt: skip
        return out

    def tick(self) -> list[RunOutcome]:
        """Act once on every job that is due; returns the runs made here."""
        done: list[RunOutcome] = []
        for job, decision in self.decisions():
            if self.stopping:
                break
            if decision.action == "wait" or decision.slot is None:
                continue
            if decision.action == "skip":
                self._skip(job, decision.slot)
                continue
            trigger = "schedule" if decision.action == "run" else "catch-up"
            outcome = run_locked(self.engine, self.settings, self.runner, job,
                                 slot=decision.slot, trigger=trigger, owner=self.owner,
                                 clock=self.clock)  # fmt: skip
            if outcome is not None:
                done.append(outcome)
        return done

    def _skip(self, job: JobConfig, slot: datetime) -> None:
        ttl = timedelta(seconds=60)
        if not q.acquire_lock(self.engine, job.name, self.owner, now=self.clock(), ttl=ttl):
            return
        try:
            with self.engine.connect() as conn:
                last = q.last_slot(conn, job.name)
            if last is not None and last.replace(tzinfo=UTC) >= slot:
                return
            q.start_run(self.engine, job.name, scheduled_for=slot, trigger="schedule",
                        owner=self.owner, now=self.clock(), status="skipped",
                        message="missed while no scheduler ran; catch_up is off")  # fmt: skip
            log.info("job %s: missed slot %s skipped", job.name, slot)
        finally:
            q.release_lock(self.engine, job.name, self.owner)

    def seconds_to_next(self) -> float:
        now = self.clock()
        poll = self.settings.scheduler.poll_seconds
        upcoming = [next_slot(j.schedule, now, self.settings.zone)
                    for j in self.settings.jobs.values()]  # fmt: skip
        if not upcoming:
            return poll
        return max(0.0, min(poll, (min(upcoming) - now).total_seconds()))

    def loop(self) -> None:
        """Run until stopped (SIGTERM/SIGINT when installed by :func:`serve`)."""
        log.info("scheduler %s: %d job(s)", self.owner, len(self.settings.jobs))
        while not self.stopping:
            try:
                self.tick()
            except OperationalError as exc:
                # The database is away for a moment: look again at the next wake-up.
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                log.error("scheduler: database unavailable: %s", reason)
            self.runner.stopping.wait(self.seconds_to_next())


@contextmanager
def _stop_on_signals(runner: Runner) -> Iterator[None]:
    """SIGTERM and SIGINT stop ``runner`` (ending its child) instead of killing this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.warning("signal %d: stopping", signum)
        runner.stop()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def serve(engine: Engine, settings: Settings, *, once: bool = False) -> list[RunOutcome]:
    """``meterbook scheduler``: the loop (or one pass with ``once``), stopping cleanly on
    SIGTERM/SIGINT: the running job is ended and recorded, then the loop returns."""
    scheduler = Scheduler(engine, settings)
    with _stop_on_signals(scheduler.runner):
        if once:
            return scheduler.tick()
        scheduler.loop()
    return []
