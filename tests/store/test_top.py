"""``--top N`` ranked in the database gives the groups the ranking rule gives: most CPU hours
first, ties broken by the groups' names, all-zero groups left out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meterbook.periods import Period
from meterbook.samples import slurm as sample
from meterbook.store.core import Store
from meterbook.store.queries import usage
from meterbook.store.queries.usage import UsageFilters, UsageRow, usage_summary
from tests.store.helpers import import_slurm
from tests.web.conftest import Job, write_jobs

QUARTER = Period(date(2026, 7, 1), date(2026, 10, 1), "2026-Q3")
AUGUST = Period(date(2026, 8, 1), date(2026, 9, 1), "2026-08")


def _expected(rows: list[UsageRow], top: int) -> list[UsageRow]:
    """The ranking rule over every group, the rows kept in the order of the full answer."""
    chosen = {r.group for r in sorted(rows, key=lambda r: (-r.cpu_hours, r.group))[:top]}
    return [r for r in rows if r.group in chosen]


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each ranking was answered by the database (True) or fell back (False)."""
    answered: list[bool] = []
    real = usage._top_groups

    def spy(*args: Any) -> Any:
        found = real(*args)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(usage, "_top_groups", spy)
    return answered


def test_top_in_the_database_matches_the_ranking_rule(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "jobs.log"
    with path.open("w") as out:
        sample.write(out, 2000, start=datetime(2026, 7, 1, tzinfo=UTC), days=92, users=30,
                     accounts=7)  # fmt: skip
    import_slurm(store, path)
    answered = _spy(monkeypatch)
    with store.engine.connect() as conn:
        for period in (QUARTER, AUGUST):
            for by in (("user",), ("account",), ("account", "user"), ("partition",)):
                full = usage_summary(conn, period, by).rows
                for top in (1, 3, 10, 1000):
                    ranked = usage_summary(conn, period, by, top=top).rows
                    assert ranked == _expected(full, top), (period.label, by, top)
            busiest = usage_summary(conn, period, ("account",)).rows[0].group[0]
            one = UsageFilters(accounts=(busiest,))
            every = usage_summary(conn, period, ("user",), one).rows
            assert len(every) > 2
            assert usage_summary(conn, period, ("user",), one, 2).rows == _expected(every, 2)
    assert answered and all(answered)


def test_a_tie_at_the_cut_is_broken_by_name(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 8, 3, 9, tzinfo=UTC)
    jobs = [Job(user, "astro", start + timedelta(hours=i), 1.0, 8) for i, user in
            enumerate(["dora", "bert", "cleo", "axel"])]  # fmt: skip
    jobs.append(Job("zed", "bio", start, 2.0, 8))
    import_slurm(store, write_jobs(tmp_path / "ties.log", jobs))
    answered = _spy(monkeypatch)
    with store.engine.connect() as conn:
        groups = [r.group for r in usage_summary(conn, AUGUST, ("user",), top=2).rows]
        assert groups == [("zed",), ("axel",)]
        assert answered == [False]  # four users tie for second place
        assert [r.group for r in usage_summary(conn, AUGUST, ("user",), top=1).rows] == [("zed",)]
        assert [r.group for r in usage_summary(conn, AUGUST, ("user",), top=5).rows] == [
            ("zed",), ("axel",), ("bert",), ("cleo",), ("dora",)
        ]  # fmt: skip
    assert answered == [False, True, True]
