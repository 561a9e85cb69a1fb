"""The REST API for every role: figures equal to those computed here from the jobs, scope
enforced on aggregates, drill-downs and CSV downloads, CSRF, tokens, sign-in rate limit,
422 naming the field."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from meterbook import auth
from tests.web.conftest import JOBS, PASSWORD, Site

OCTOBER = {"period": "2026-10"}


def _cpu(**where: str) -> float:
    return sum(j.cpu_hours for j in JOBS if all(getattr(j, k) == v for k, v in where.items()))


def test_signed_out_gets_401_and_openapi_is_public(site: Site) -> None:
    response = site.client.get("/api/v1/usage", params=OCTOBER)
    assert response.status_code == 401
    assert response.json()["message"].startswith("sign in first")
    spec = site.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/usage" in spec["paths"] and "/api/v1/io/usage/user/{name}" in spec["paths"]


def test_session_cookie_is_http_only_and_secure_by_default(site: Site) -> None:
    from meterbook.web import create_app

    app = create_app(site.settings.model_copy(update={"web_cookie_secure": True}), site.store)
    with TestClient(app) as client:
        response = client.post("/api/v1/session", json={"login": "root", "password": PASSWORD})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie


def test_admin_and_analyst_read_everything(site: Site) -> None:
    for login in ("root", "ana"):
        body = site.login(login).get("/api/v1/usage", params={**OCTOBER, "by": "account"}).json()
        got = {r["account"]: r["cpu_hours"] for r in body["rows"]}
        assert got == pytest.approx({"astro": _cpu(account="astro"), "bio": _cpu(account="bio")})
        assert body["total"]["cpu_hours"] == pytest.approx(sum(j.cpu_hours for j in JOBS))


def test_a_manager_reads_only_their_teams(site: Site) -> None:
    mia = site.login("mia")
    body = mia.get("/api/v1/usage", params={**OCTOBER, "by": "account"}).json()
    assert [r["account"] for r in body["rows"]] == ["astro"]
    assert body["total"]["cpu_hours"] == pytest.approx(_cpu(account="astro"))
    assert mia.get("/api/v1/usage", params={**OCTOBER, "account": "bio"}).status_code == 403
    text = mia.get("/api/v1/usage", params={**OCTOBER, "by": "user", "format": "csv"}).text
    assert {r["user"] for r in csv.DictReader(io.StringIO(text))} == {"alice", "bob"}
    records = mia.get("/api/v1/usage/records", params=OCTOBER).json()
    assert records["total"] == 3 and {r["account"] for r in records["rows"]} == {"astro"}
    spend = mia.get("/api/v1/budgets", params={"month": "2026-10"}).json()
    assert [r["team"] for r in spend["rows"]] == ["ml"]
    assert mia.get("/api/v1/budgets", params={"team": "web"}).status_code == 403
    assert mia.get("/api/v1/io/users", params=OCTOBER).status_code == 403
    assert mia.get("/api/v1/io/usage/user/carol", params=OCTOBER).status_code == 403
    assert mia.get("/api/v1/io/usage/user/bob", params=OCTOBER).status_code == 200


def test_a_member_reads_only_their_own_usage(site: Site) -> None:
    alice = site.login("alice")
    body = alice.get("/api/v1/usage", params={**OCTOBER, "by": "user"}).json()
    assert [r["user"] for r in body["rows"]] == ["alice"]
    assert body["total"]["cpu_hours"] == pytest.approx(_cpu(user="alice"))
    for params in ({"user": "bob"}, {"user": "alice", "account": "astro"}):
        response = alice.get("/api/v1/usage", params={**OCTOBER, **params})
        if "account" in params:  # narrowing her own usage is fine
            assert response.status_code == 200
            assert response.json()["total"]["cpu_hours"] == pytest.approx(_cpu(user="alice"))
        else:
            assert response.status_code == 403
            assert "bob" not in response.text or "own usage" in response.text
    records = alice.get("/api/v1/usage/records", params={**OCTOBER, "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(records)))
    assert len(rows) == 2 and {r["user"] for r in rows} == {"alice"}
    assert alice.get("/api/v1/usage/records", params={"user": "bob"}).status_code == 403
    for path in (
        "/api/v1/spend",
        "/api/v1/budgets",
        "/api/v1/allocations",
        "/api/v1/imports",
        "/api/v1/utilisation",
        "/api/v1/admin/users",
        "/api/v1/io/stats",
    ):
        assert alice.get(path).status_code == 403, path
    assert alice.get("/api/v1/io/usage/user/bob").status_code == 403
    assert alice.get("/api/v1/me").json()["ledger_user"] == "alice"


def test_budget_writes_by_role_and_csrf(site: Site) -> None:
    mia = site.login("mia")
    answer = {"month": "2026-10", "provider": "Acme", "team": "ml", "response": "on track"}
    assert mia.put("/api/v1/budgets/response", json=answer).status_code == 200
    assert mia.put("/api/v1/budgets/response", json={**answer, "team": "web"}).status_code == 403
    change = {"month": "2026-10", "provider": "Acme", "team": "ml", "amount": "2000"}
    assert mia.put("/api/v1/budgets", json=change).status_code == 403
    no_csrf = site.login("root")
    del no_csrf.headers["x-csrf-token"]
    refused = no_csrf.put("/api/v1/budgets", json=change)
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    root = site.login("root")
    assert root.put("/api/v1/budgets", json=change).json()["outcome"] == "changed"
    rows = root.get("/api/v1/budgets", params={"team": "ml"}).json()["rows"]
    assert (rows[0]["amount"], rows[0]["response"]) == ("2000.000000", "on track")
    cloned = root.post("/api/v1/budgets/clone", json={"from": "2026-10", "to": "2026-11"})
    assert cloned.json() == {"created": 2, "skipped": 0}


def test_tokens_work_until_revoked_or_expired(site: Site) -> None:
    with site.store.engine.begin() as conn:
        token, secret = auth.create_token(conn, "ana", "script")
        old, old_secret = auth.create_token(conn, "ana", "old", expires_days=1)
    bearer = {"authorization": f"Bearer {secret}"}
    assert site.client.get("/api/v1/me", headers=bearer).json()["via"] == "token"
    # A token needs no CSRF token, but keeps its account's role.
    change = {"month": "2026-10", "provider": "Acme", "team": "ml", "amount": "1"}
    assert site.client.put("/api/v1/budgets", json=change, headers=bearer).status_code == 403
    with site.store.engine.begin() as conn:
        auth.revoke_token(conn, token.id)
        from sqlalchemy import update

        from meterbook.store.schema_web import api_tokens

        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == old.id)
            .values(expires_at=old.created_at - timedelta(seconds=1))
        )
    assert site.client.get("/api/v1/me", headers=bearer).status_code == 401
    expired = {"authorization": f"Bearer {old_secret}"}
    assert site.client.get("/api/v1/me", headers=expired).status_code == 401


def test_sign_in_is_rate_limited(site: Site) -> None:
    client = site.client
    for _ in range(auth.MAX_FAILURES):
        wrong = client.post("/api/v1/session", json={"login": "ana", "password": "nope nope 1"})
        assert wrong.status_code == 401
    right = client.post("/api/v1/session", json={"login": "ana", "password": PASSWORD})
    assert right.status_code == 429
    assert site.login("root").get("/api/v1/me").status_code == 200  # others are not locked out


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "2026-13"}, "period"),
        ({"by": "colour"}, "by"),
        ({"from": "2026-10-05"}, "from"),
        ({"top": "0"}, "top"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    site: Site, params: dict[str, str], field: str
) -> None:
    response = site.login("root").get("/api/v1/usage", params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in body["message"] or field in str(body["detail"])


def test_metrics_are_prometheus_text(site: Site) -> None:
    site.login("root").get("/api/v1/usage", params=OCTOBER)
    text = site.client.get("/metrics").text
    assert 'meterbook_import_runs_total{kind="slurm",status="ok"} 1.0' in text
    assert f'meterbook_rows_inserted_total{{kind="slurm"}} {float(len(JOBS))}' in text
    assert (
        'meterbook_http_requests_total{method="GET",route="/api/v1/usage",status="200"}'
    ) in text, [x for x in text.splitlines() if "http_requests_total{" in x]
    assert "meterbook_ingest_lag_seconds" in text


def test_allocations_and_spend_for_readers(site: Site) -> None:
    root = site.login("root")
    with site.store.engine.begin() as conn:
        from meterbook import allocations

        allocations.add_allocation(
            conn,
            "astro-q4",
            scope_kind="account",
            scope="astro",
            quantity="cpu_hours",
            amount="500",
            start="2026-10-01",
            end="2026-12-31",
        )
    body = root.get("/api/v1/allocations", params={"as_of": "2026-10-31"}).json()
    assert body["rows"][0]["used"] == f"{_cpu(account='astro'):.6f}"
    detail = root.get("/api/v1/allocations/astro-q4", params={"as_of": "2026-10-31"}).json()
    assert detail["series"][-1]["day"] == date(2026, 10, 31).isoformat()
    assert site.login("mia").get("/api/v1/allocations").json()["rows"][0]["name"] == "astro-q4"
    assert root.get("/api/v1/allocations/nope").status_code == 404


def test_a_trusted_proxy_header_signs_in_only_when_configured(site: Site) -> None:
    from meterbook.web import create_app

    asked = {"x-remote-user": "ana"}
    assert site.client.get("/api/v1/me", headers=asked).status_code == 401  # off by default
    trusting = site.settings.model_copy(
        update={"web_trust_user_header": "X-Remote-User", "web_trusted_proxies": ("testclient",)}
    )
    with TestClient(create_app(trusting, site.store)) as client:
        me = client.get("/api/v1/me", headers=asked).json()
        assert (me["login"], me["via"]) == ("ana", "proxy")
        assert client.get("/api/v1/me", headers={"x-remote-user": "nobody"}).status_code == 401
    elsewhere = trusting.model_copy(update={"web_trusted_proxies": ("10.0.0.1",)})
    with TestClient(create_app(elsewhere, site.store)) as client:
        assert client.get("/api/v1/me", headers=asked).status_code == 401
