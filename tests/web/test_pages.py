"""The dashboard pages for every role: sign-in with CSRF, scope on every page, figures equal
to those computed from the jobs, the forms (budget, response) with their checks."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import JOBS, PASSWORD, Site

PAGES = (
    "/",
    "/explorer",
    "/users",
    "/users/alice",
    "/projects",
    "/projects/astro",
    "/teams",
    "/teams/ml",
    "/divisions",
    "/divisions/science",
    "/machines",
    "/io",
    "/spend",
    "/reports",
    "/imports",
    "/imports/1",
    "/admin",
)
HTML = {"accept": "text/html"}


def browser(site: Site, login: str) -> TestClient:
    """A client that signs in through the sign-in form, as a browser does."""
    client = TestClient(site.client.app, follow_redirects=False)
    form = client.get("/login", headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    done = client.post(
        "/login",
        data={"login": login, "password": PASSWORD, "csrf_token": csrf.group(1), "next": "/"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    return client


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path, headers=HTML).text)
    assert found is not None
    return found.group(1)


def test_signed_out_pages_redirect_to_sign_in(site: Site) -> None:
    client = TestClient(site.client.app, follow_redirects=False)
    response = client.get("/spend", headers=HTML)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fspend"


def test_sign_in_form_needs_its_csrf_cookie(site: Site) -> None:
    client = TestClient(site.client.app, follow_redirects=False)
    refused = client.post(
        "/login", data={"login": "root", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert refused.status_code == 401 and "expired" in refused.text
    assert "mb_session" not in refused.cookies


def test_every_page_renders_for_an_admin(site: Site) -> None:
    client = browser(site, "root")
    for path in PAGES:
        response = client.get(path, headers=HTML, params={"period": "2026-10"})
        assert response.status_code == 200, (path, response.text[:300])
        assert "<h1>" in response.text
    total = sum(j.cpu_hours for j in JOBS)
    assert f"{total:,.2f}" in client.get("/", headers=HTML, params={"period": "2026-10"}).text


@pytest.mark.parametrize(
    ("login", "allowed", "refused"),
    [
        ("ana", ("/", "/spend", "/io", "/users/carol", "/teams/web"), ("/admin",)),
        (
            "mia",
            ("/", "/spend", "/teams/ml", "/users/bob", "/projects/astro", "/reports"),
            (
                "/teams/web",
                "/users/carol",
                "/projects/bio",
                "/io",
                "/machines",
                "/imports",
                "/admin",
                "/divisions",
            ),
        ),
        (
            "alice",
            ("/", "/explorer", "/users/alice"),
            (
                "/users/bob",
                "/spend",
                "/projects",
                "/teams",
                "/io",
                "/admin",
                "/imports",
                "/reports",
            ),
        ),
    ],
)
def test_pages_keep_to_the_scope(
    site: Site, login: str, allowed: tuple[str, ...], refused: tuple[str, ...]
) -> None:
    client = browser(site, login)
    for path in allowed:
        assert client.get(path, headers=HTML).status_code == 200, path
    for path in refused:
        response = client.get(path, headers=HTML)
        assert response.status_code == 403, path
        assert "Not allowed" in response.text


def test_member_overview_shows_only_their_figures(site: Site) -> None:
    text = browser(site, "alice").get("/", headers=HTML, params={"period": "2026-10"}).text
    mine = sum(j.cpu_hours for j in JOBS if j.user == "alice")
    assert f"{mine:,.2f}" in text
    assert "bob" not in text and "carol" not in text and "bio" not in text


def test_admin_sets_a_budget_and_a_manager_answers_for_their_team(site: Site) -> None:
    root = browser(site, "root")
    token = _csrf(root, "/admin")
    saved = root.post(
        "/admin/budget",
        data={
            "csrf_token": token,
            "month": "2026-10",
            "provider": "Acme",
            "team": "ml",
            "amount": "1234.5",
        },
    )
    assert saved.status_code == 303
    assert "1,234.50" in root.get("/admin", headers=HTML).text
    assert (
        root.post(
            "/admin/budget",
            data={"month": "2026-10", "provider": "Acme", "team": "ml", "amount": "1"},
        ).status_code
        == 403
    )
    mia = browser(site, "mia")
    token = _csrf(mia, "/spend")
    answer = {
        "csrf_token": token,
        "month": "2026-10",
        "provider": "Acme",
        "team": "ml",
        "response": "GPU trial, ends in November",
        "back": "/spend?period=2026-10",
    }
    done = mia.post("/spend/response", data=answer)
    assert done.status_code == 303 and done.headers["location"] == "/spend?period=2026-10"
    assert "GPU trial, ends in November" in mia.get("/spend?period=2026-10", headers=HTML).text
    assert mia.post("/spend/response", data={**answer, "team": "web"}).status_code == 403
    assert (
        mia.post(
            "/admin/budget",
            data={
                "csrf_token": token,
                "month": "2026-10",
                "provider": "Acme",
                "team": "ml",
                "amount": "1",
            },
        ).status_code
        == 403
    )


def test_bad_page_parameters_are_a_page_not_a_crash(site: Site) -> None:
    client = browser(site, "root")
    response = client.get("/explorer", headers=HTML, params={"metric": "bananas"})
    assert response.status_code == 422 and "metric" in response.text
    response = client.get("/", headers=HTML, params={"period": "2026-13"})
    assert response.status_code == 422


def test_static_files_and_the_vega_bundle(site: Site) -> None:
    assert "vegaEmbed" in site.client.get("/static/app.js").text
    bundle = site.client.get("/static/vega.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert site.client.get("/static/../auth.py").status_code == 404
