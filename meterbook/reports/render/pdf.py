"""PDF: the print variant of the HTML (charts as inline SVG, so vector graphics) printed by a
headless Chromium. The browser is ``[reports] browser`` or the first of chromium,
chromium-browser, google-chrome on the PATH."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from meterbook.errors import ConfigError, MeterbookError
from meterbook.reports.model import Report
from meterbook.reports.render import html

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: The browser chosen by the configuration (set by the caller; None: search the PATH).
browser_setting: str | None = None
TIMEOUT = 180


def find_browser(setting: str | None = None) -> str:
    chosen = setting or browser_setting
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise ConfigError(f"[reports] browser: {chosen!r} is not an executable")
        return found
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(
        "PDF needs a Chromium browser: none of " + ", ".join(BROWSERS) + " is on the PATH "
        "(install chromium or set [reports] browser)"
    )


def print_pdf(source: Path, target: Path, browser: str | None = None) -> None:
    exe = find_browser(browser)
    with tempfile.TemporaryDirectory(prefix="meterbook-chromium-") as profile:
        command = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--user-data-dir={profile}", "--run-all-compositor-stages-before-draw",
            f"--print-to-pdf={target}", source.resolve().as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise MeterbookError(f"{exe}: printing the PDF took over {TIMEOUT} s") from exc
    if done.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        detail = (done.stderr or "").strip().splitlines()
        raise MeterbookError(
            f"{exe}: printing the PDF failed (exit {done.returncode})"
            + (f": {detail[-1]}" if detail else "")
        )


def write(report: Report, folder: Path) -> list[str]:
    name = f"{report.slug}.pdf"
    with tempfile.TemporaryDirectory(prefix="meterbook-print-") as tmp:
        page = Path(tmp) / f"{report.slug}-print.html"
        page.write_text(html.render(report, print_version=True), encoding="utf-8")
        print_pdf(page, folder / name)
    return [name]
