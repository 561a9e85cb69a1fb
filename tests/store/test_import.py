"""Imports into each database: idempotence, updates, rejects, strict mode, interruption."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from meterbook.errors import InputError, StrictImportError
from meterbook.importing import run_import
from meterbook.samples import slurm as sample
from meterbook.store.core import Store
from meterbook.store.queries.imports import list_rejects, list_runs
from meterbook.store.schema import projects, usage_records, users
from tests.conftest import DATA
from tests.store.helpers import count_records, import_slurm, raw_totals, rollup_totals


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    path = tmp_path / "gen.log"
    with path.open("w") as out:
        sample.write(out, 3000, days=20, seed=3)
    return path


def test_import_twice_changes_nothing(store: Store, generated: Path) -> None:
    first = import_slurm(store, generated, batch_size=700)
    assert (first.inserted, first.updated, first.unchanged, first.rejected) == (3000, 0, 0, 0)
    before = rollup_totals(store)
    second = import_slurm(store, generated, batch_size=700)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 3000)
    assert rollup_totals(store) == before
    assert count_records(store) == 3000


def test_rollups_equal_raw_records(store: Store, generated: Path) -> None:
    import_slurm(store, generated, batch_size=500)
    raw, rolled = raw_totals(store), rollup_totals(store)
    assert rolled["cpu_hours"] == pytest.approx(raw["cpu_hours"])
    assert rolled["wall_hours"] == pytest.approx(raw["wall_hours"])
    assert rolled["started"] == raw["started"]


def test_overlapping_files(store: Store, generated: Path, tmp_path: Path) -> None:
    lines = generated.read_text().splitlines(keepends=True)
    head, tail = tmp_path / "a.log", tmp_path / "b.log"
    head.write_text("".join(lines[:2000]))
    tail.write_text("".join(lines[1500:]))
    import_slurm(store, head)
    result = import_slurm(store, tail)
    assert (result.inserted, result.unchanged) == (1000, 500)
    whole = rollup_totals(store)
    assert count_records(store) == 3000
    assert whole["cpu_hours"] == pytest.approx(raw_totals(store)["cpu_hours"])


def test_changed_records_are_updated_and_rollups_follow(store: Store, tmp_path: Path) -> None:
    line = (DATA / "xdmod-quirks.log").read_text().splitlines()[0]
    path = tmp_path / "job.log"
    path.write_text(line + "\n")
    import_slurm(store, path)
    assert rollup_totals(store)["cpu_hours"] == 128.0
    # The same job, seen again after it was re-accounted with a later end.
    path.write_text(
        line.replace("2024-03-01T12:00:00|02:00:00", "2024-03-01T13:00:00|03:00:00") + "\n"
    )
    result = import_slurm(store, path)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 0)
    totals = rollup_totals(store)
    assert (totals["cpu_hours"], totals["started"], totals["ended"]) == (192.0, 1, 1)
    assert count_records(store) == 1


def test_same_job_twice_in_one_batch_last_wins(store: Store, tmp_path: Path) -> None:
    line = (DATA / "xdmod-quirks.log").read_text().splitlines()[0]
    later = line.replace("2024-03-01T12:00:00|02:00:00", "2024-03-01T13:00:00|03:00:00")
    path = tmp_path / "twice.log"
    path.write_text(f"{line}\n{later}\n")
    result = import_slurm(store, path)
    assert (result.inserted, result.updated) == (1, 1)
    assert rollup_totals(store)["cpu_hours"] == 192.0


def test_rejects_are_stored_and_listed(store: Store) -> None:
    result = import_slurm(store, DATA / "xdmod-quirks.log")
    assert (result.inserted, result.rejected) == (5, 3)
    with store.engine.connect() as conn:
        run = list_runs(conn, 1)[0]
        rejects = list_rejects(conn, result.run_id)
    assert (run.status, run.inserted, run.rejected, run.lines_read) == ("ok", 5, 3, 8)
    assert [r.line for r in rejects] == [6, 7, 8]
    assert rejects[1].reason == "Start: invalid time 'soon'"
    assert rejects[1].raw.startswith("9007|9007|aurora")


def test_strict_commits_nothing(store: Store, generated: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.log"
    bad.write_text(generated.read_text() + "not|a|job\n")
    with pytest.raises(StrictImportError, match=r"bad\.log: line 3001: expected 26 fields"):
        import_slurm(store, bad, strict=True, batch_size=500)
    assert count_records(store) == 0
    assert rollup_totals(store)["started"] == 0
    with store.engine.connect() as conn:
        assert list_runs(conn, 1)[0].status == "rolled back"


def test_users_and_projects_are_created_once(store: Store, generated: Path) -> None:
    import_slurm(store, generated, batch_size=400)
    with store.engine.connect() as conn:
        names = conn.execute(select(users.c.name, users.c.uid)).all()
        accounts = conn.execute(select(projects.c.name)).scalars().all()
    assert len(names) == len({n for n, _ in names}) and all(uid for _, uid in names)
    assert len(accounts) == len(set(accounts)) > 5


def test_failure_mid_import_keeps_whole_batches_and_a_rerun_completes(
    store: Store, generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meterbook.store import ingest

    real = ingest.LedgerWriter.write
    calls = {"n": 0}

    def failing(self: ingest.LedgerWriter, *args: object) -> ingest.BatchCounts:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest.LedgerWriter, "write", failing)
    monkeypatch.setattr("meterbook.importing.CHUNK", 500)
    with pytest.raises(KeyboardInterrupt):
        import_slurm(store, generated, batch_size=1000)
    # Chunks of 500, transactions of 1000: the first transaction (2 chunks) committed.
    assert count_records(store) == 1000
    assert rollup_totals(store)["cpu_hours"] == pytest.approx(raw_totals(store)["cpu_hours"])
    with store.engine.connect() as conn:
        assert list_runs(conn, 1)[0].status == "interrupted"
    monkeypatch.setattr(ingest.LedgerWriter, "write", real)
    again = import_slurm(store, generated, batch_size=1000)
    assert (again.inserted, again.unchanged) == (2000, 1000)
    assert rollup_totals(store)["cpu_hours"] == pytest.approx(raw_totals(store)["cpu_hours"])


def test_everything_rejected_still_records_the_run(store: Store, tmp_path: Path) -> None:
    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    result = import_slurm(store, junk)
    assert (result.records, result.rejected) == (0, 2)
    with store.engine.connect() as conn:
        run = list_runs(conn, 1)[0]
    assert run.status == "failed" and run.message and "every line was rejected" in run.message


def test_a_corrected_time_zone_updates_instead_of_duplicating(store: Store) -> None:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from meterbook.connectors.slurm import SlurmConnector

    path = str(DATA / "sacct-parsable2-local.txt")
    run_import(store, SlurmConnector([path], zone=UTC, cluster="lab"), parallel=False)
    wrong = rollup_totals(store)
    fixed = run_import(
        store, SlurmConnector([path], zone=ZoneInfo("Europe/Berlin"), cluster="lab"), parallel=False
    )
    assert (fixed.inserted, fixed.updated) == (0, 3)
    assert count_records(store) == 3
    # Both jobs span the hour skipped when summer time began: read as UTC, jobs 501 (4 CPUs)
    # and 503 (2 CPUs) each had one hour too many.
    assert wrong["cpu_hours"] - rollup_totals(store)["cpu_hours"] == pytest.approx(6.0)
    assert rollup_totals(store)["cpu_hours"] == pytest.approx(raw_totals(store)["cpu_hours"])


def test_database_errors_from_bulk_paths_are_mapped(
    store: Store, generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meterbook.errors import ConcurrentImportError
    from meterbook.store import ingest

    driver = store.engine.dialect.loaded_dbapi

    def clash(*_args: object) -> None:
        raise driver.IntegrityError("duplicate key")

    monkeypatch.setattr(ingest, "bulk_insert", clash)
    with pytest.raises(ConcurrentImportError, match="another import wrote the same records"):
        import_slurm(store, generated)
    with store.engine.connect() as conn:
        assert list_runs(conn, 1)[0].status == "failed"


def test_parallel_reader_gives_the_same_ledger(store: Store, generated: Path) -> None:
    result = import_slurm(store, generated, parallel=True, batch_size=800)
    assert result.inserted == 3000
    assert rollup_totals(store)["cpu_hours"] == pytest.approx(raw_totals(store)["cpu_hours"])


def test_reader_errors_reach_the_caller(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "headless.txt"
    path.write_text("JobID|User\n1|a\n")
    from datetime import UTC

    from meterbook.connectors.slurm import SlurmConnector

    with pytest.raises(InputError, match="header lacks"):
        run_import(store, SlurmConnector([str(path)], zone=UTC), parallel=True)


def test_swf_trace_keys(store: Store, tmp_path: Path) -> None:
    from meterbook.connectors.swf import SwfConnector

    path = tmp_path / "t.swf"
    path.write_text(
        "; UnixStartTime: 1000000000\n1 0 5 3600 2 -1 -1 2 -1 -1 1 1 1 -1 -1 -1 -1 -1\n"
    )
    assert run_import(store, SwfConnector([str(path)]), parallel=False).inserted == 1
    assert run_import(store, SwfConnector([str(path)]), parallel=False).unchanged == 1
    with store.engine.connect() as conn:
        key = conn.execute(select(usage_records.c.record_key)).scalar_one()
    assert key == "1"
    assert rollup_totals(store)["cpu_hours"] == 2.0


def test_killed_import_leaves_whole_batches_and_a_rerun_is_exact(tmp_path: Path) -> None:
    """SIGKILL a real import process mid-way, then import again: exact totals."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sqlalchemy import func

    from meterbook.settings import Settings
    from meterbook.store.core import open_store, upgrade_store
    from meterbook.store.schema import import_runs

    data = tmp_path / "big.log"
    with data.open("w") as out:
        sample.write(out, 60_000, seed=5)
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    upgrade_store(Settings(database_url=url))[0].engine.dispose()
    store = open_store(Settings(database_url=url))
    command = [
        sys.executable,
        "-m",
        "meterbook",
        "--db",
        url,
        "import",
        "slurm",
        str(data),
        "--batch-size",
        "2000",
    ]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            with store.engine.connect() as conn:
                done = conn.execute(select(func.coalesce(func.sum(import_runs.c.inserted), 0)))
                if done.scalar_one() >= 6000:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the import finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the importer and its reader process
    finally:
        proc.wait()
    partial = count_records(store)
    assert 0 < partial < 60_000 and partial % 2000 == 0  # whole transactions only
    assert rollup_totals(store)["cpu_hours"] == pytest.approx(raw_totals(store)["cpu_hours"])
    with store.engine.connect() as conn:
        assert conn.execute(select(import_runs.c.status)).scalar_one() == "running"
    again = import_slurm(store, data)
    assert (again.inserted, again.unchanged) == (60_000 - partial, partial)
    assert count_records(store) == 60_000
    assert rollup_totals(store)["cpu_hours"] == pytest.approx(raw_totals(store)["cpu_hours"])
    store.engine.dispose()
