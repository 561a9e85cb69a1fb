"""The report registry takes new types and sections; the PDF browser is found or named."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from meterbook.errors import ConfigError
from meterbook.periods import Period
from meterbook.reports.model import Column, Headline, Section, Table
from meterbook.reports.output import write_report
from meterbook.reports.render import parse_formats, pdf
from meterbook.reports.types import REPORT_TYPES, Context, ReportType, build_report, register
from meterbook.settings import Settings
from meterbook.store.core import Store

MONTH = Period(date(2026, 10, 1), date(2026, 11, 1), "2026-10")


def _section(ctx: Context) -> Section:
    ctx.headlines.append(Headline("Days", ctx.period.days, "int"))
    return Section("days", "Days", [], [Table("days", "Days", [Column("n", "n", "int")],
                                              [[ctx.period.days]], ["total"])])  # fmt: skip


def test_a_registered_type_and_section_reach_every_format(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(REPORT_TYPES, "probe", None)  # removed again after the test
    register(ReportType("probe", "Probe", "a test", [_section]))
    now = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    with store.engine.connect() as conn:
        report = build_report(conn, "probe", MONTH, settings, now=now)
    folder = write_report(report, tmp_path, "json,csv", now=now)
    doc = json.loads((folder / "probe-2026-10.json").read_text())
    assert doc["generated_at"] == "2026-11-02T08:30:00+00:00"
    assert doc["headlines"] == [{"label": "Days", "value": 31, "unit": ""}]
    assert doc["sections"][0]["tables"][0]["rows"] == [{"n": 31}]
    assert (folder / "probe-2026-10-days.csv").read_text() == "n\n31\ntotal\n"
    # A section added to the type later (a forecast, say) is in the next report.
    REPORT_TYPES["probe"].sections.append(lambda ctx: None)
    with store.engine.connect() as conn:
        assert len(build_report(conn, "probe", MONTH, settings).sections) == 1
    with store.engine.connect() as conn, pytest.raises(ConfigError, match="unknown report type"):
        build_report(conn, "nope", MONTH, settings)


def test_formats_are_checked_and_ordered() -> None:
    assert parse_formats("json, pdf,CSV") == ["csv", "pdf", "json"]
    with pytest.raises(ConfigError, match="unknown format 'gif'"):
        parse_formats("csv,gif")


def test_the_browser_for_pdf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "chromium-browser"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert pdf.find_browser(None) == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="none of chromium, chromium-browser, google-chrome"):
        pdf.find_browser(None)
    assert pdf.find_browser(str(fake)) == str(fake)
    with pytest.raises(ConfigError, match="'nope' is not an executable"):
        pdf.find_browser("nope")
