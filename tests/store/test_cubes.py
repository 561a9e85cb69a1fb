"""The coarser usage rollups answer exactly what the day rollup answers, and stay so through
imports, updates, rebuilds and the migration that creates them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from meterbook.periods import Period
from meterbook.samples import slurm as sample
from meterbook.settings import Settings
from meterbook.store import cubes, migrate
from meterbook.store.core import Store, rebuild_rollups
from meterbook.store.cubes import CUBES, DAILY, choose
from meterbook.store.engine import open_engine
from meterbook.store.queries.usage import (
    MEASURES,
    UsageFilters,
    UsageReport,
    rollup_for,
    usage_summary,
)
from meterbook.store.schema import usage_daily
from tests.store.helpers import import_slurm

START = datetime(2026, 7, 1, tzinfo=UTC)
PERIODS = [
    Period(date(2026, 8, 1), date(2026, 9, 1), "2026-08"),
    Period(date(2026, 7, 1), date(2026, 10, 1), "2026-Q3"),
    Period(date(2026, 7, 20), date(2026, 8, 11), "odd"),
    Period(date(2026, 9, 30), date(2026, 10, 1), "one-day"),
]
GROUPINGS = [
    (),
    ("user",),
    ("account",),
    ("cluster",),
    ("day",),
    ("month",),
    ("month", "user"),
    ("account", "user"),
    ("day", "account"),
    ("partition",),
]


def _sample(path: Path, jobs: int = 2500) -> Path:
    with path.open("w") as out:
        sample.write(out, jobs, start=START, days=92, users=40, accounts=9)
    return path


def _moved(source: Path, target: Path) -> Path:
    """The same jobs with every 7th one charged to another account and user."""
    lines = source.read_text().splitlines()
    for i in range(0, len(lines), 7):
        fields = lines[i].split("|")
        fields[5], fields[8] = "acct-moved", "someone-else"
        lines[i] = "|".join(fields)
    target.write_text("\n".join(lines) + "\n")
    return target


def _answers(
    store: Store, period: Period, by: tuple[str, ...], filters: UsageFilters
) -> UsageReport:
    with store.engine.connect() as conn:
        return usage_summary(conn, period, by, filters)


def _same(a: UsageReport, b: UsageReport) -> None:
    assert [r.group for r in a.rows] == [r.group for r in b.rows]
    for x, y in [*zip(a.rows, b.rows, strict=True), (a.total, b.total)]:
        for m in MEASURES:
            got, want = getattr(x, m), getattr(y, m)
            if want is None or isinstance(want, int):
                assert got == want, (x.group, m)
            else:
                assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (x.group, m)


def _busiest(store: Store, dimension: str) -> str:
    report = _answers(store, PERIODS[1], (dimension,), UsageFilters())
    return report.rows[0].group[0]


def _check_against_daily(store: Store, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every grouping x period x filter, from the cubes and from usage_daily alone."""
    account, user = _busiest(store, "account"), _busiest(store, "user")
    filters = [UsageFilters(), UsageFilters(accounts=(account,)), UsageFilters(users=(user,))]
    checked = 0
    for period in PERIODS:
        for by in GROUPINGS:
            for f in filters:
                answer = _answers(store, period, by, f)
                with monkeypatch.context() as m:
                    m.setattr("meterbook.store.queries.usage.choose", lambda *a, **k: DAILY)
                    reference = _answers(store, period, by, f)
                _same(answer, reference)
                assert answer.rows or not reference.rows
                checked += 1
    return checked


def test_cubes_answer_what_the_day_rollup_answers(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _sample(tmp_path / "jobs.log")
    import_slurm(store, log, cluster="aurora")
    assert _check_against_daily(store, monkeypatch) == len(PERIODS) * len(GROUPINGS) * 3
    # Records that move to another account and user: the cubes move with them.
    result = import_slurm(store, _moved(log, tmp_path / "moved.log"), cluster="aurora")
    assert result.updated > 300
    _check_against_daily(store, monkeypatch)
    moved = _answers(store, PERIODS[1], ("account",), UsageFilters(accounts=("acct-moved",)))
    assert moved.rows and moved.total.cpu_hours > 0


def test_rebuild_and_migration_recompute_the_cubes(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    import_slurm(store, _sample(tmp_path / "jobs.log", 1200), cluster="aurora")

    def contents() -> dict[str, list[tuple[object, ...]]]:
        with store.engine.connect() as conn:
            return {
                c.table.name: sorted(
                    tuple(round(v, 6) if isinstance(v, float) else str(v) for v in row)
                    for row in conn.execute(select(c.table))
                )
                for c in CUBES
            }

    kept = contents()
    assert all(kept.values())
    rebuild_rollups(settings)[0].engine.dispose()
    assert contents() == kept
    with store.engine.begin() as conn:
        for c in CUBES:
            conn.execute(c.table.delete())
        cubes.rebuild_cubes(conn)
    assert contents() == kept


def test_the_smallest_rollup_that_fits_is_chosen() -> None:
    month, odd = PERIODS[0], PERIODS[2]
    names = {
        (month, ("user",), UsageFilters()): "usage_monthly_users",
        (odd, ("user",), UsageFilters()): "usage_daily",
        (month, ("day",), UsageFilters()): "usage_daily_clusters",
        (month, ("day",), UsageFilters(accounts=("a",))): "usage_daily_projects",
        (month, ("day", "user"), UsageFilters()): "usage_daily",
        (month, ("account",), UsageFilters(clusters=("c",))): "usage_monthly_users",
        (odd, ("account",), UsageFilters()): "usage_daily_projects",
        (month, ("partition",), UsageFilters()): "usage_daily",
        (month, (), UsageFilters(states=("failed",))): "usage_daily",
        (odd, (), UsageFilters()): "usage_daily_clusters",
    }
    for (period, by, filters), name in names.items():
        assert rollup_for(period, by, filters).table.name == name, (period.label, by, filters)
    assert choose(set(), month, by_day=False) is CUBES[0]


def _daily_row(day: str, user_id: int, state: str, measures: str) -> dict[str, object]:
    """A usage_daily row: keys, then the measures as in ROLLUP_MEASURES (space-separated)."""
    keys = (date.fromisoformat(day), 1, 1, user_id, 3, "p", "q", state, "job")
    values = [float(v) if "." in v else int(v) for v in measures.split()]
    names = [c.name for c in usage_daily.columns]
    return dict(zip(names, (*keys, *values), strict=True))


def test_the_migration_fills_the_cubes_from_the_day_rollup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = open_engine(Settings(database_url=url), create=True)
    migrate.upgrade(engine, "0011")
    # wall, cpu, gpu, node, mem and wait hours; io ops; started, ended, carried, waited
    rows = [
        _daily_row("2026-08-01", 2, "COMPLETED", "1.0 4.0 0.0 1.0 8.0 0.5 0 1 1 2 1"),
        _daily_row("2026-08-02", 2, "FAILED", "2.0 8.0 1.0 1.0 8.0 0.0 0 0 1 1 0"),
        _daily_row("2026-09-01", 5, "COMPLETED", "3.0 6.0 0.0 2.0 4.0 0.0 0 2 0 3 2"),
    ]
    with engine.begin() as conn:
        conn.execute(usage_daily.insert(), rows)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        month = conn.execute(
            text(
                "SELECT day, user_id, cpu_hours, jobs_started, jobs_carried "
                "FROM usage_monthly_users ORDER BY day, user_id"
            )
        ).all()
        daily = conn.execute(
            text("SELECT day, cpu_hours FROM usage_daily_clusters ORDER BY day")
        ).all()
    engine.dispose()
    # August: both days summed, but only the carried jobs of the 1st (2, not 2 + 1).
    assert [tuple(r) for r in month] == [
        ("2026-08-01", 2, 12.0, 1, 2),
        ("2026-09-01", 5, 6.0, 2, 3),
    ]
    assert [tuple(r) for r in daily] == [
        ("2026-08-01", 4.0),
        ("2026-08-02", 8.0),
        ("2026-09-01", 6.0),
    ]
