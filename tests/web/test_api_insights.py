"""Forecasts, anomalies, alerts, freshness, charges, rates and reports over the API, by role."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from meterbook import alerts
from meterbook.alert_rules import UsageRule
from meterbook.web import create_app
from tests.web.conftest import JOBS, PASSWORD, Site


def _as(app: object, login: str) -> TestClient:
    client = TestClient(app)  # type: ignore[arg-type]
    signed = client.post("/api/v1/session", json={"login": login, "password": PASSWORD})
    assert signed.status_code == 200
    client.headers["x-csrf-token"] = signed.json()["csrf_token"]
    return client


def test_forecasts_by_role(site: Site) -> None:
    params = {"by": "account", "metric": "cpu_hours", "method": "naive", "months": "0"}
    rows = site.login("root").get("/api/v1/forecasts", params=params).json()["rows"]
    assert {r["series"] for r in rows} == {"astro", "bio"}
    astro = next(r for r in rows if r["series"] == "astro")
    actual = sum(j.cpu_hours for j in JOBS if j.account == "astro")
    assert float(astro["actual_to_date"]) == pytest.approx(actual)
    assert float(astro["lo95"]) <= float(astro["forecast"]) <= float(astro["hi95"])
    mine = site.login("mia").get("/api/v1/forecasts", params=params).json()["rows"]
    assert {r["series"] for r in mine} == {"astro"}
    assert site.login("mia").get("/api/v1/forecasts", params={"by": "user"}).status_code == 403
    assert site.login("alice").get("/api/v1/forecasts", params=params).status_code == 403
    bad = site.login("root").get("/api/v1/forecasts", params={**params, "metric": "bananas"})
    assert bad.status_code == 422


def test_alerts_anomalies_and_freshness(site: Site) -> None:
    rule = UsageRule(type="usage", name="gpu", threshold=1)  # type: ignore[arg-type]
    result = alerts.evaluate(site.store.engine, {"gpu": rule},
                             alerts.Context(date(2026, 10, 7), site.store.zone))  # fmt: skip
    # GPU hours per user and day from the jobs: alice 2 on 10-01, bob 3 on 10-05.
    assert sorted((a.subject, a.period) for a in result.new) == [
        ("user alice", "2026-10-01"), ("user bob", "2026-10-05")]  # fmt: skip
    ana = site.login("ana")
    listed = ana.get("/api/v1/alerts").json()["rows"]
    assert len(listed) == 2
    assert ana.post(f"/api/v1/alerts/{listed[0]['id']}/ack").json()["acknowledged_by"] == "ana"
    assert len(ana.get("/api/v1/alerts", params={"open": "true"}).json()["rows"]) == 1
    assert {r["subject"] for r in site.login("mia").get("/api/v1/alerts").json()["rows"]} == {
        "user alice", "user bob"}  # fmt: skip
    assert site.login("alice").get("/api/v1/alerts").status_code == 403
    assert site.login("mia").post(f"/api/v1/alerts/{listed[0]['id']}/ack").status_code == 403
    anomalies = site.login("root").get("/api/v1/anomalies", params={"period": "2026-10"})
    assert anomalies.status_code == 200 and "rows" in anomalies.json()
    assert site.login("alice").get("/api/v1/anomalies").status_code == 403
    fresh = site.login("alice").get("/api/v1/freshness").json()["rows"]
    assert {"kind": "slurm", "source": "lab", "complete_through": "2026-10-07"} in fresh


def test_rates_and_charges(site: Site) -> None:
    body = {"quantity": "cpu_hours", "price": "0.5", "currency": "EUR",
            "effective_from": "2026-01-01", "scope": {"cluster": "lab"}}  # fmt: skip
    assert site.login("ana").post("/api/v1/rates", json=body).status_code == 403
    root = site.login("root")
    made = root.post("/api/v1/rates", json=body)
    assert made.status_code == 201, made.text
    assert root.get("/api/v1/rates").json()["rows"][0]["price"] == "0.5"
    bad = root.post("/api/v1/rates", json={**body, "quantity": "bananas"})
    assert bad.status_code == 422
    charges = root.get("/api/v1/charges", params={"period": "2026-10"}).json()
    assert charges["rows"] == []  # a new rate card prices nothing until re-rated
    assert site.login("mia").get("/api/v1/charges", params={"account": "bio"}).status_code == 403


def test_reports_run_list_download(site: Site, tmp_path: Path) -> None:
    settings = site.settings.model_copy(
        update={"reports_directory": tmp_path / "reports", "web_cookie_secure": False}
    )
    app = create_app(settings, site.store)
    root = _as(app, "root")
    made = root.post("/api/v1/reports", json={"type": "usage", "period": "2026-10",
                                              "formats": ["csv", "json"]})  # fmt: skip
    assert made.status_code == 201, made.text
    listed = _as(app, "ana").get("/api/v1/reports").json()["rows"]
    assert listed and all(r["type"] == "usage" and r["period"] == "2026-10" for r in listed)
    first = listed[0]["file"]
    assert root.get(f"/api/v1/reports/files/{first}").status_code == 200
    assert root.get("/api/v1/reports/files/../../etc/passwd").status_code == 404
    assert all(r["team"] == "" for r in listed)
    assert root.post("/api/v1/reports", json={"type": "nope"}).status_code == 422
    # A manager produces and reads their team's reports, and no one else's.
    mia = _as(app, "mia")
    assert mia.get("/api/v1/reports").json()["rows"] == []
    assert mia.get(f"/api/v1/reports/files/{first}").status_code == 404
    team = {"type": "usage", "period": "2026-10", "formats": ["csv"]}
    assert mia.post("/api/v1/reports", json=team).status_code == 403
    assert mia.post("/api/v1/reports", json={**team, "team": "web"}).status_code == 403
    assert mia.post("/api/v1/reports", json={**team, "team": "ml"}).status_code == 201
    assert root.post("/api/v1/reports", json={**team, "team": "web"}).status_code == 201
    theirs = mia.get("/api/v1/reports").json()["rows"]
    assert theirs and {r["team"] for r in theirs} == {"ml"}
    assert all(r["file"].startswith("teams/ml/usage/2026-10/") for r in theirs)
    assert mia.get(f"/api/v1/reports/files/{theirs[0]['file']}").status_code == 200
    web_file = theirs[0]["file"].replace("teams/ml/", "teams/web/")
    assert root.get(f"/api/v1/reports/files/{web_file}").status_code == 200
    assert mia.get(f"/api/v1/reports/files/{web_file}").status_code == 404
    everything = _as(app, "ana").get("/api/v1/reports").json()["rows"]
    assert {r["team"] for r in everything} == {"", "ml", "web"}
    csv_rows = _as(app, "ana").get("/api/v1/reports", params={"format": "csv"}).text
    assert csv_rows.splitlines()[0] == "team,type,period,file,bytes"
    assert _as(app, "alice").get("/api/v1/reports").status_code == 403
