"""Search over the API and the page: names in scope only, with links to their pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import Site

HTML = {"accept": "text/html"}


def _hits(client: TestClient, q: str, **params: str) -> list[tuple[str, str, str | None]]:
    response = client.get("/api/v1/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [(r["kind"], r["name"], r["link"]) for r in response.json()["rows"]]


def test_search_finds_only_what_each_role_may_read(site: Site) -> None:
    root, mia, alice = site.login("root"), site.login("mia"), site.login("alice")
    everything = [
        ("project", "astro", "/projects/astro"),
        ("project", "bio", "/projects/bio"),
        ("user", "bob", "/users/bob"),
        ("user", "carol", "/users/carol"),
    ]
    assert _hits(root, "O") == everything
    assert _hits(site.login("ana"), "o") == everything
    # mia manages ml: astro and bob are hers, bio and carol (team web) are not.
    assert _hits(mia, "o") == [
        ("project", "astro", "/projects/astro"),
        ("user", "bob", "/users/bob"),
    ]
    assert _hits(mia, "web") == []
    assert _hits(mia, "ml") == [("team", "ml", "/teams/ml")]
    assert _hits(alice, "a") == [("user", "alice", "/users/alice")]
    assert _hits(alice, "bob") == []


def test_search_ranks_exact_names_first_and_reads_patterns_literally(site: Site) -> None:
    root = site.login("root")
    assert _hits(root, "lab") == [("resource", "lab", "/explorer?by=user&cluster=lab")]
    assert _hits(root, "sci") == [("division", "science", "/divisions/science")]
    assert _hits(root, "b", kind="user") == [("user", "bob", "/users/bob")]
    ranked = [name for _, name, _ in _hits(root, "bi")]
    assert ranked == ["bio"]
    assert _hits(root, "%") == []
    assert _hits(root, "_") == []
    assert _hits(root, "a", limit="1") == [("user", "alice", "/users/alice")]
    csv_text = root.get("/api/v1/search", params={"q": "bob", "format": "csv"}).text
    assert csv_text.splitlines() == ["kind,name,detail,link", "user,bob,,/users/bob"]


def test_search_refuses_bad_parameters_naming_them(site: Site) -> None:
    root = site.login("root")
    empty = root.get("/api/v1/search", params={"q": ""})
    assert empty.status_code == 422 and "q" in empty.text
    blank = root.get("/api/v1/search", params={"q": "   "})
    assert blank.status_code == 422 and "q: give some text" in blank.text
    wrong = root.get("/api/v1/search", params={"q": "a", "kind": "planet"})
    assert wrong.status_code == 422 and "kind: 'planet'" in wrong.text
    assert TestClient(site.client.app).get("/api/v1/search", params={"q": "a"}).status_code == 401


def test_search_page_links_the_hits_in_scope(site: Site) -> None:
    page = site.login("mia").get("/search", params={"q": "b"}, headers=HTML)
    assert page.status_code == 200
    assert '<a href="/users/bob">bob</a>' in page.text
    assert "carol" not in page.text and "/projects/bio" not in page.text
    none = site.login("alice").get("/search", params={"q": "carol"}, headers=HTML)
    assert "Nothing you may read matches" in none.text
    assert 'action="/search"' in site.login("root").get("/", headers=HTML).text
