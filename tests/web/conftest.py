"""A small ledger served by the app, with one account of each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from meterbook import auth, budgets, org
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.schema import projects, users
from meterbook.web import create_app
from tests.store.helpers import import_slurm

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Job:
    user: str
    account: str
    start: datetime
    hours: float
    cpus: int
    gpus: int = 0

    @property
    def cpu_hours(self) -> float:
        return self.hours * self.cpus


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


JOBS = [
    Job("alice", "astro", _utc("2026-10-01T08:00:00"), 2.0, 16, 1),
    Job("alice", "astro", _utc("2026-10-03T22:00:00"), 4.0, 8),  # over midnight
    Job("bob", "astro", _utc("2026-10-05T10:00:00"), 1.5, 32, 2),
    Job("bob", "bio", _utc("2026-10-06T09:00:00"), 3.0, 64),
    Job("carol", "bio", _utc("2026-10-07T12:00:00"), 10.0, 4),
]


def write_jobs(path: Path, jobs: list[Job]) -> Path:
    """The jobs in the Open XDMoD 26-field sacct layout."""

    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S")

    lines = []
    for number, job in enumerate(jobs, start=9001):
        end = job.start + timedelta(hours=job.hours)
        seconds = round(job.hours * 3600)
        elapsed = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        tres = f"billing={job.cpus},cpu={job.cpus},mem=1000M,node=1"
        if job.gpus:
            tres += f",gres/gpu={job.gpus}"
        lines.append(
            "|".join(
                [
                    str(number),
                    str(number),
                    "lab",
                    "main",
                    "normal",
                    job.account,
                    job.account,
                    "5000",
                    job.user,
                    "2001",
                    stamp(job.start),
                    stamp(job.start),
                    stamp(job.start),
                    stamp(end),
                    elapsed,
                    "0:0",
                    "COMPLETED",
                    "1",
                    str(job.cpus),
                    str(job.cpus),
                    "1000Mn",
                    f"cpu={job.cpus},node=1",
                    tres,
                    "1-00:00:00",
                    "node01",
                    "work",
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Site:
    store: Store
    settings: Settings
    client: TestClient

    def login(self, login: str, password: str = PASSWORD) -> TestClient:
        """A client signed in as ``login`` (its own cookie jar)."""
        client = TestClient(self.client.app)
        response = client.post("/api/v1/session", json={"login": login, "password": password})
        assert response.status_code == 200, response.text
        client.headers["x-csrf-token"] = response.json()["csrf_token"]
        return client


@pytest.fixture
def site(store: Store, settings: Settings, tmp_path: Path) -> Iterator[Site]:
    with TestClient(build_site(store, tmp_path, settings)) as client:
        yield Site(store, settings, client)


def build_site(store: Store, tmp_path: Path, settings: Settings) -> FastAPI:
    """The app over a ledger of :data:`JOBS`, teams, budgets and one account per role."""
    import_slurm(store, write_jobs(tmp_path / "jobs.log", JOBS))
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "science")
        org.add(conn, "teams", "ml", division="science")
        org.add(conn, "teams", "web", division="science")
        org.add(conn, "providers", "Acme")
        team_ids = {e.name: e.id for e in org.list_entries(conn, "teams")}
        # The usage accounts and users of the ledger, assigned to teams by the org model.
        conn.execute(
            update(projects).where(projects.c.name == "astro").values(team_id=team_ids["ml"])
        )
        conn.execute(
            update(projects).where(projects.c.name == "bio").values(team_id=team_ids["web"])
        )
        conn.execute(
            update(users).where(users.c.name.in_(["alice", "bob"])).values(team_id=team_ids["ml"])
        )
        conn.execute(update(users).where(users.c.name == "carol").values(team_id=team_ids["web"]))
        budgets.set_budget(conn, "2026-10", "Acme", "ml", "1000")
        budgets.set_budget(conn, "2026-10", "Acme", "web", "500")
        auth.create_account(conn, "root", PASSWORD, "admin")
        auth.create_account(conn, "ana", PASSWORD, "analyst")
        auth.create_account(conn, "mia", PASSWORD, "manager", teams_=["ml"])
        auth.create_account(conn, "alice", PASSWORD, "member", ledger_user="alice")
    return create_app(settings.model_copy(update={"web_cookie_secure": False}), store)


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheaper argon2 parameters for the tests (production keeps argon2-cffi's defaults)."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(
        auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
