"""The dashboard in a real browser (Playwright driving Debian's Chromium): sign in, charts
render, change the period, drill down, download CSV, an admin edits a budget and a manager
cannot."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.web.conftest import JOBS, PASSWORD, Site

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a test dependency")
BROWSER = (
    os.environ.get("MB_TEST_BROWSER")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
if BROWSER is None:  # .ci/run installs Debian's chromium; a bare machine must too
    pytest.fail("no Chromium found (apt-get install chromium, or set MB_TEST_BROWSER)")

RENDERED = "[...document.querySelectorAll('div.chart')].every(e => e.dataset.rendered === 'true')"


@pytest.fixture
def server(site: Site) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(site.client.app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        yield launched
        launched.close()


def _sign_in(browser: object, server: str, login: str) -> object:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(f"{server}/spend?period=2026-10")
    assert "/login" in page.url
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/spend?period=2026-10")
    return page


def test_sign_in_charts_period_drill_down_csv(
    site: Site, server: str, browser: object, tmp_path: Path
) -> None:
    page = _sign_in(browser, server, "root")
    page.goto(f"{server}/?period=2026-10")
    page.wait_for_function(RENDERED, timeout=20_000)
    assert page.locator("div.chart svg").count() >= 1
    total = sum(j.cpu_hours for j in JOBS)
    assert f"{total:,.2f}" in page.locator("section.block-cards").inner_text()
    page.fill("form.controls input[name=period]", "2026-09")
    page.click("form.controls button")
    page.wait_for_url(f"{server}/?period=2026-09")
    assert "2026-09-01 to 2026-09-30" in page.inner_text("main")
    page.goto(f"{server}/?period=2026-10")
    page.click("text=alice")
    page.wait_for_url(f"{server}/users/alice*")
    mine = sum(j.cpu_hours for j in JOBS if j.user == "alice")
    assert f"{mine:,.2f}" in page.inner_text("main")
    with page.expect_download() as info:
        page.click("a.download")
    saved = tmp_path / "records.csv"
    info.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("id,source,key") and len(lines) == 1 + 2


def test_admin_edits_a_budget_and_a_manager_cannot(
    site: Site, server: str, browser: object
) -> None:
    page = _sign_in(browser, server, "root")
    page.goto(f"{server}/admin")
    page.fill("form.budget input[name=month]", "2026-10")
    page.fill("form.budget input[name=provider]", "Acme")
    page.fill("form.budget input[name=team]", "web")
    page.fill("form.budget input[name=amount]", "777")
    page.click("form.budget button")
    page.wait_for_url(f"{server}/admin?done=*")
    assert "budget 2026-10 Acme/web: changed" in page.inner_text("main")
    manager = _sign_in(browser, server, "mia")
    assert manager.locator("nav a[href='/admin']").count() == 0
    response = manager.goto(f"{server}/admin")
    assert response is not None and response.status == 403
    manager.goto(f"{server}/spend?period=2026-10")
    forms = manager.locator("form.inline")
    assert forms.count() == 1  # only the budget of her team ml can be answered
    forms.locator("input[name=response]").fill("agreed with finance")
    forms.locator("button").click()
    manager.wait_for_url(f"{server}/spend?period=2026-10")
    assert "agreed with finance" in manager.content()
