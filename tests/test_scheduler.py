"""The scheduler against real databases and real child processes: locks, racing schedulers,
catch-up, failures with notification, timeouts, run-job, and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from meterbook.delivery.config import RetryConfig, WebhookRecipient
from meterbook.jobs import JobConfig
from meterbook.scheduler import RunOutcome, Scheduler, run_job_now
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.engine import open_engine
from meterbook.store.queries import jobs as q
from meterbook.store.schema_ops import deliveries, job_locks, job_runs
from tests.delivery.servers import hook_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Children find no configuration but what a test gives them."""
    monkeypatch.chdir(tmp_path)
    for name in ("MB_CONFIG", "MB_DATABASE_URL", "MB_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)


def _with_jobs(settings: Settings, **jobs: JobConfig) -> Settings:
    named = {k: v.model_copy(update={"name": k}) for k, v in jobs.items()}
    return settings.model_copy(update={"jobs": named})


def _runs(store: Store) -> list[dict[str, object]]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(job_runs).order_by(job_runs.c.id)).mappings()]


def _locks(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(job_locks)).all())


HOURLY = JobConfig(schedule="0 * * * *", command="imports --limit 1", timeout=120)


def test_lock_is_exclusive_until_it_expires(store: Store) -> None:
    now = datetime(2024, 7, 15, 10, tzinfo=UTC)
    ttl = timedelta(minutes=5)
    assert q.acquire_lock(store.engine, "j", "a", now=now, ttl=ttl)
    assert not q.acquire_lock(store.engine, "j", "b", now=now + timedelta(minutes=4), ttl=ttl)
    assert q.acquire_lock(store.engine, "j", "a", now=now + timedelta(minutes=1), ttl=ttl)
    q.release_lock(store.engine, "j", "b")  # not b's: stays
    with store.engine.connect() as conn:
        assert q.lock_holder(conn, "j") == ("a", datetime(2024, 7, 15, 10, 6))
    # a renewed at 10:01 for 5 minutes: expired after 10:06.
    assert not q.acquire_lock(store.engine, "j", "b", now=now + timedelta(minutes=6), ttl=ttl)
    assert q.acquire_lock(store.engine, "j", "b", now=now + timedelta(minutes=7), ttl=ttl)
    q.release_lock(store.engine, "j", "b")
    assert _locks(store) == []


def test_two_schedulers_racing_run_a_slot_once(store: Store, settings: Settings) -> None:
    settings = _with_jobs(settings, hourly=HOURLY)
    now = datetime(2024, 7, 15, 10, 0, 20, tzinfo=UTC)
    barrier = threading.Barrier(3)
    outcomes: list[RunOutcome] = []
    errors: list[BaseException] = []

    def one() -> None:
        engine = open_engine(settings)
        try:
            scheduler = Scheduler(engine, settings, clock=lambda: now)
            barrier.wait()
            outcomes.extend(scheduler.tick())
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert [(o.job, o.status) for o in outcomes] == [("hourly", "ok")]
    runs = _runs(store)
    assert len(runs) == 1
    assert (runs[0]["status"], runs[0]["trigger"], runs[0]["scheduled_for"]) == (
        "ok", "schedule", datetime(2024, 7, 15, 10),
    )  # fmt: skip
    assert runs[0]["exit_code"] == 0
    assert _locks(store) == []


def _seed(store: Store, job: str, slot: datetime) -> None:
    run = q.start_run(store.engine, job, scheduled_for=slot, trigger="schedule", owner="old",
                      now=slot)  # fmt: skip
    q.finish_run(store.engine, run, status="ok", exit_code=0, message=None, now=slot)


def test_catch_up_runs_the_latest_missed_slot_once(store: Store, settings: Settings) -> None:
    settings = _with_jobs(settings, hourly=HOURLY)
    _seed(store, "hourly", datetime(2024, 7, 15, 10, tzinfo=UTC))
    # Back at 15:20 after downtime: 11:00 to 15:00 were missed.
    now = datetime(2024, 7, 15, 15, 20, tzinfo=UTC)
    scheduler = Scheduler(store.engine, settings, clock=lambda: now)
    first = scheduler.tick()
    assert [(o.job, o.status) for o in first] == [("hourly", "ok")]
    assert scheduler.tick() == []  # done for this slot
    runs = _runs(store)
    assert len(runs) == 2
    assert (runs[1]["trigger"], runs[1]["scheduled_for"], runs[1]["status"]) == (
        "catch-up", datetime(2024, 7, 15, 15), "ok",
    )  # fmt: skip


def test_missed_slot_without_catch_up_is_skipped(store: Store, settings: Settings) -> None:
    settings = _with_jobs(settings, hourly=HOURLY.model_copy(update={"catch_up": False}))
    _seed(store, "hourly", datetime(2024, 7, 15, 10, tzinfo=UTC))
    now = datetime(2024, 7, 15, 15, 20, tzinfo=UTC)
    scheduler = Scheduler(store.engine, settings, clock=lambda: now)
    assert scheduler.tick() == []
    assert scheduler.tick() == []
    runs = _runs(store)
    assert len(runs) == 2
    assert (runs[1]["status"], runs[1]["scheduled_for"], runs[1]["exit_code"]) == (
        "skipped", datetime(2024, 7, 15, 15), None,
    )  # fmt: skip
    assert "catch_up is off" in str(runs[1]["message"])
    # The next slot runs on time again.
    later = datetime(2024, 7, 15, 16, 0, 30, tzinfo=UTC)
    scheduler.clock = lambda: later
    assert [o.status for o in scheduler.tick()] == ["ok"]


def test_failing_job_is_recorded_and_notified(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "sacct-missing.log"
    job = JobConfig(schedule="15 1 * * *", command=f"import slurm {missing}", notify=["ops"])
    hook = WebhookRecipient(kind="webhook", name="ops", url_env="MB_TEST_OPS_URL")
    settings = _with_jobs(settings, nightly=job).model_copy(
        update={"recipients": {"ops": hook}, "delivery": RetryConfig(base_delay=0.01)}
    )
    with hook_server() as server:
        monkeypatch.setenv("MB_TEST_OPS_URL", server.url("/hook/secret-part"))
        outcome = run_job_now(store.engine, settings, "nightly")
    assert (outcome.status, outcome.exit_code) == ("failed", 4)
    [run] = _runs(store)
    assert (run["status"], run["exit_code"], run["trigger"]) == ("failed", 4, "run-job")
    assert f"{missing}: cannot open: No such file or directory" in str(run["message"])
    [(path, body)] = server.requests
    assert path == "/hook/secret-part"
    assert body["subject"] == "meterbook job nightly failed"
    assert {"label": "exit code", "value": "4"} in body["headline"]
    assert "cannot open" in body["text"]
    with store.engine.connect() as conn:
        sent = conn.execute(select(deliveries)).mappings().one()
    assert (sent["recipient"], sent["status"]) == ("ops", "sent")


def test_timeout_ends_the_child(store: Store, settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "iologs"
    folder.mkdir()
    job = JobConfig(schedule="@daily", command=f"import iolog --follow {folder}", timeout=4)
    settings = _with_jobs(settings, follow=job)
    started = time.monotonic()
    outcome = run_job_now(store.engine, settings, "follow")
    assert outcome.status == "timeout"
    assert time.monotonic() - started < 30
    [run] = _runs(store)
    assert run["status"] == "timeout" and "timed out after 4 s" in str(run["message"])
    assert _locks(store) == []


def test_run_job_skips_while_another_holds_the_lock(store: Store, settings: Settings) -> None:
    settings = _with_jobs(settings, hourly=HOURLY)
    assert q.acquire_lock(store.engine, "hourly", "host-b:42:x", now=datetime.now(UTC),
                          ttl=timedelta(hours=1))  # fmt: skip
    outcome = run_job_now(store.engine, settings, "hourly")
    assert outcome.status == "skipped"
    [run] = _runs(store)
    assert (run["status"], run["message"]) == (
        "skipped",
        "already running (lock held by host-b:42:x)",
    )
    with store.engine.connect() as conn:
        assert q.lock_holder(conn, "hourly") is not None  # still the other one's


def test_sigterm_stops_the_scheduler_and_records_the_run(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "iologs"
    folder.mkdir()
    config = tmp_path / "meterbook.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n\n'
        f'[jobs.follow]\nschedule = "* * * * *"\ncommand = "import iolog --follow {folder}"\n'
        "timeout = 600\n\n[scheduler]\ngrace_seconds = 120\nstop_seconds = 10\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterbook", "--config", str(config), "scheduler"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _runs(store):
            time.sleep(0.3)
        assert [r["status"] for r in _runs(store)] == ["running"]
        time.sleep(1.5)  # the child is importing (following) by now
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    [run] = _runs(store)
    assert run["status"] == "failed" and run["ended_at"] is not None
    assert "stopped: the scheduler was asked to stop" in str(run["message"])
    assert _locks(store) == []


def test_two_scheduler_processes_catch_up_a_slot_once(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    # Yearly, with last year's slot recorded: both processes see the same missed slot (this
    # year's 1 January) whenever they start, and race to catch it up.
    this_year = datetime.now(UTC).year
    _seed(store, "yearly", datetime(this_year - 1, 1, 1, tzinfo=UTC))
    config = tmp_path / "meterbook.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n\n'
        '[jobs.yearly]\nschedule = "0 0 1 1 *"\ncommand = "imports --limit 1"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
    argv = [sys.executable, "-m", "meterbook", "--config", str(config), "scheduler", "--once"]
    procs = [subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sorted(out.strip() for out, _ in outputs) == ["", "yearly: ok"]
    runs = _runs(store)
    assert [(r["trigger"], r["scheduled_for"], r["status"]) for r in runs[1:]] == [
        ("catch-up", datetime(this_year, 1, 1), "ok"),
    ]  # fmt: skip
    assert _locks(store) == []
