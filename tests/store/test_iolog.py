"""IO logs in the ledger, on every database: figures, idempotence, growth, rotation,
replacement, roles, and the analytics of the dashboard."""

from __future__ import annotations

import os
import time
from datetime import UTC, date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from meterbook.connectors.iolog import IoLogConnector
from meterbook.importing import ImportResult, run_import
from meterbook.periods import Period, parse_period
from meterbook.store.core import Store
from meterbook.store.queries import io as q
from meterbook.store.schema import users
from meterbook.store.schema_io import (
    BUCKETS,
    io_daily,
    io_sessions,
    io_sizes_daily,
    user_attributes,
)
from tests.conftest import DATA

SMALL = DATA / "nfsdiostats-small.log"
MARCH = Period(date(2025, 3, 1), date(2025, 4, 1), "2025-03")
K, M, T = 1 << 10, 1 << 20, 1 << 40


def load(store: Store, *paths: Path, **options: object) -> ImportResult:
    with store.engine.connect() as conn:
        known = q.file_states(conn)
    options.setdefault("settle", 0)
    connector = IoLogConnector([str(p) for p in paths], known=known, **options)  # type: ignore[arg-type]
    return run_import(store, connector, parallel=False)


def scope(store: Store, period: Period = MARCH) -> q.IoScope:
    return q.IoScope(period, store.zone)


def stats(store: Store) -> q.IoStats:
    with store.engine.connect() as conn:
        return q.io_stats(conn, scope(store))


def raw_and_daily_totals(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        raw = conn.execute(select(func.sum(io_sessions.c.ops))).scalar() or 0
        daily = conn.execute(select(func.sum(io_daily.c.ops))).scalar() or 0
    return int(raw), int(daily)


def test_the_small_log(store: Store) -> None:
    result = load(store, SMALL)
    assert (result.inserted, result.rejected) == (3, 2)
    s = stats(store)
    assert (s.blocks, s.users, s.machines, s.sessions) == (3, 4, 3, 6)
    assert (s.read_ops, s.write_ops) == (300_021, 129_650)
    assert s.read_bytes == 16 * K + 32 * K + 128 * K + 3 * M + 10 * 4 * K + 300_000 * M + 5 * 64 * K
    assert s.write_bytes == 2 + 19 * 2 + 129_624 * M + 8 * T
    assert raw_and_daily_totals(store) == (429_671, 429_671)


def test_importing_again_adds_nothing(store: Store, tmp_path: Path) -> None:
    copy = tmp_path / "nfsdiostats.log"
    copy.write_bytes(SMALL.read_bytes())
    load(store, copy)
    again = load(store, copy)
    assert (again.inserted, again.unchanged) == (0, 0)  # nothing new in the file: not read
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "nfsdiostats.log").write_bytes(SMALL.read_bytes())
    third = load(store, other / "nfsdiostats.log")  # the same blocks in another file
    assert (third.inserted, third.unchanged) == (0, 3)
    assert stats(store).read_ops == 300_021


def test_a_growing_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nfsdiostats.log"
    text = SMALL.read_bytes()
    cut = text.index(b"Log: 2025-03-07 02")
    path.write_bytes(text[:cut])
    assert load(store, path).inserted == 1
    path.write_bytes(text)
    second = load(store, path)
    assert (second.inserted, second.unchanged, second.rejected) == (2, 0, 2)
    assert stats(store).blocks == 3


def test_rotation_and_truncation(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nfsdiostats.log"
    path.write_bytes(SMALL.read_bytes())
    load(store, path)
    rotated = tmp_path / "nfsdiostats.log.1"
    path.rename(rotated)
    path.write_bytes(SMALL.read_bytes()[: SMALL.read_bytes().index(b"Log: 2025-03-07 02")])
    # A new file at the same path (another inode) holding an old block: nothing counted twice.
    result = load(store, path, rotated)
    assert (result.inserted, result.unchanged) == (0, 1)
    assert stats(store).read_ops == 300_021


def test_a_pending_block_is_imported_once_settled(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nfsdiostats.log"
    path.write_bytes(SMALL.read_bytes())
    assert load(store, path, settle=3600).inserted == 2
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert load(store, path, settle=3600).inserted == 1
    assert stats(store).blocks == 3


def test_a_changed_block_replaces_the_stored_one(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(SMALL.read_bytes())
    load(store, path)
    changed = tmp_path / "b.log"
    changed.write_bytes(SMALL.read_bytes().replace(b"300000 |", b"100000 |"))
    result = load(store, changed, source="a")
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    assert stats(store).read_ops == 100_021
    assert raw_and_daily_totals(store) == (229_671, 229_671)
    with store.engine.connect() as conn:
        sizes = q.io_sizes(conn, scope(store))
    assert next(s for s in sizes if s.bucket == "[1M, 2M)").read_ops == 100_003


def test_roles_change_and_are_kept_with_their_time(store: Store) -> None:
    load(store, SMALL)
    with store.engine.connect() as conn:
        role = conn.execute(select(users.c.role).where(users.c.name == "alice")).scalar_one()
        history = conn.execute(
            select(user_attributes.c.since_ts, user_attributes.c.role)
            .join(users, users.c.id == user_attributes.c.user_id)
            .where(users.c.name == "alice")
            .order_by(user_attributes.c.since_ts)
        ).all()
        by_role = {s.group: s for s in q.io_sizes(conn, scope(store), "role")}
    assert role == "staff"
    assert [tuple(h) for h in history] == [(1741305669, "guest"), (1741309270, "staff")]
    assert set(by_role) == {"guest", "staff", "stud", "ueb"}


def test_the_dashboard(store: Store) -> None:
    load(store, SMALL)
    s = scope(store)
    with store.engine.connect() as conn:
        people = {u.user: u for u in q.io_users(conn, s)}
        machines = {m.machine: m for m in q.io_machines(conn, s)}
        hours = q.io_timeseries(conn, s, "hour")
        days = q.io_timeseries(conn, s, "day")
        by_hour, by_day = q.io_patterns(conn, s)
        heavy = q.io_heavy(conn, s)
        history = q.io_history(conn, s, 1)
        top = q.io_top(conn, s, blocks=2, limit=2)
        alice = q.io_user(conn, s, "alice", "hour")
        gpu03 = q.io_machine(conn, s, "gpu03", "day")
        groups = {x.group for x in q.io_sizes(conn, s, "group")}
    assert people["dave"].read_ops == 300_000 and people["bob"].sessions == 2
    assert (people["bob"].machines, people["alice"].machines) == (2, 1)
    assert (machines["gpu03"].users, machines["gpu03"].sessions) == (2, 3)
    assert machines["gpu03"].group == "tik" and machines["login-a11"].group == "itet"
    assert [(p.users, p.machines) for p in hours] == [(3, 3), (2, 1), (1, 1)]
    assert days[6].time == "2025-03-07" and days[6].read_ops == 300_021 and days[0].read_ops == 0
    assert len(days) == 31
    assert [r.blocks for r in by_hour[:4]] == [1, 1, 1, 0] and by_day[4].blocks == 3  # Friday
    assert [(r.user, r.read_ops) for r in heavy] == [("dave", 300_000)]
    assert [r.user for r in history] == ["carol", "dave", "bob"]
    assert [r.user for r in top] == ["dave", "alice"] and top[0].machines == "gpu03"
    assert [p.read_ops + p.write_ops for p in alice.series] == [2, 11, 0]
    assert alice.peers[0].user == "gpu03" and alice.total.write_ops == 1
    assert {p.user for p in gpu03.peers} == {"alice", "dave"}
    assert groups == {"tik", "itet"}


def test_every_bucket_column_adds_up(store: Store, tmp_path: Path) -> None:
    from meterbook.samples.iolog import write_files

    write_files(tmp_path, 72, users=25, machines=6)
    load(store, tmp_path)
    with store.engine.connect() as conn:
        raw = conn.execute(select(*(func.sum(io_sessions.c[b]) for b in BUCKETS))).one()
        daily = conn.execute(select(*(func.sum(io_daily.c[b]) for b in BUCKETS))).one()
        sizes = conn.execute(select(*(func.sum(io_sizes_daily.c[b]) for b in BUCKETS))).one()
        s = q.io_stats(conn, q.IoScope(Period(date(2024, 12, 1), date(2025, 2, 1), ""), store.zone))
    assert [int(x or 0) for x in raw] == [int(x or 0) for x in daily]
    assert [int(x or 0) for x in raw] == [int(x or 0) for x in sizes]
    assert s.blocks == 72 and s.read_ops + s.write_ops == sum(int(x or 0) for x in raw)


def test_follow_stops_cleanly(store: Store, tmp_path: Path) -> None:
    import threading

    path = tmp_path / "nfsdiostats.log"
    path.write_bytes(SMALL.read_bytes()[: SMALL.read_bytes().index(b"Log: 2025-03-07 03")])
    stop = threading.Event()
    connector = IoLogConnector([str(path)], settle=0, follow=True, poll=0.05, stop=stop)
    result: list[ImportResult] = []
    worker = threading.Thread(
        target=lambda: result.append(run_import(store, connector, parallel=False))
    )
    worker.start()
    deadline = time.monotonic() + 20
    while stats(store).blocks < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    path.write_bytes(SMALL.read_bytes())  # the file grows while it is followed
    while stats(store).blocks < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(20)
    assert not worker.is_alive()
    assert result[0].inserted == 3 and stats(store).blocks == 3


def test_periods_cut_at_days(store: Store) -> None:
    load(store, SMALL)
    with store.engine.connect() as conn:
        before = q.io_stats(conn, q.IoScope(parse_period("2025-03-06"), store.zone))
        on = q.io_stats(conn, q.IoScope(parse_period("2025-03-07"), store.zone))
    assert (before.blocks, on.blocks) == (0, 3)
    with pytest.raises(Exception, match="no user 'zed'"), store.engine.connect() as conn:
        q.io_user(conn, scope(store), "zed")


def test_day_sums_are_exact_beyond_64_bits() -> None:
    import numpy as np

    from meterbook.store.io_ingest import IoLogWriter

    writer = IoLogWriter(1, UTC)
    key = ("2025-03-07", 1, 1, 1, "staff", "g", 0)
    other = ("2025-03-07", 1, 2, 1, "staff", "g", 0)
    buckets = np.array([[1] * 45, [2] * 45, [3] * 45], np.int64)
    writer._add([key, other, key], [(1, 5, 2**70), (0, 3, 4), (1, 2, 2**70)], buckets)
    writer._add([key], [(1, 1, 1)], np.array([[1] * 45], np.int64), sign=-1)
    assert writer._daily[key][:3] == [1, 6, 2**71 - 1] and writer._daily[key][3] == [3] * 45
    assert writer._daily[other] == [0, 3, 4, [2] * 45]
    assert writer._sizes[("2025-03-07", 1, "staff", "g", 0)] == [5] * 45


def test_an_io_import_connection_gets_a_bigger_page_cache(tmp_path: Path) -> None:
    from meterbook.importing import _for_bulk_writes
    from meterbook.settings import Settings
    from meterbook.store.core import upgrade_store
    from meterbook.store.ingest import LedgerWriter
    from meterbook.store.io_ingest import IoLogWriter

    store = upgrade_store(Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}"))[0]
    with store.engine.connect() as conn:
        _for_bulk_writes(conn, IoLogWriter(1, UTC))
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -32768
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10000
    with store.engine.connect() as conn:  # a new connection: the defaults again
        _for_bulk_writes(conn, LedgerWriter("slurm", 1, UTC))
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2000
    store.engine.dispose()
