"""Reports: a period's tables, charts and headline figures of one report type, written in any
of CSV, JSON, XLSX, HTML, PDF, DOCX, PNG and SVG (``docs/reports.md``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from meterbook.collecting import sprint_calendar
from meterbook.periods import Period, report_period, today_in
from meterbook.reports.model import Report
from meterbook.reports.output import write_report
from meterbook.reports.render import pdf
from meterbook.reports.types import build_report
from meterbook.settings import NamedReport, Settings
from meterbook.store.core import Store

DEFAULT_FORMATS = ("html", "pdf", "xlsx", "csv", "json")


def period_of(
    settings: Settings,
    text: str | None,
    *,
    days: int | None = None,
    start: str | None = None,
    end: str | None = None,
    now: datetime | None = None,
) -> Period:
    """A report period, "today" being the current day in the accounting time zone."""
    return report_period(
        text,
        days=days,
        start=start,
        end=end,
        today=today_in(settings.zone, now),
        sprints=sprint_calendar(settings),
    )


def produce(
    store: Store,
    settings: Settings,
    name: str,
    period: Period,
    formats: list[str] | tuple[str, ...] | str,
    *,
    team: str | None = None,
    base: Path | None = None,
    now: datetime | None = None,
) -> tuple[Report, Path]:
    """Build report type ``name`` for ``period`` and write it; returns it and its folder."""
    with store.engine.connect() as conn:
        report = build_report(conn, name, period, settings, team=team, now=now)
    pdf.browser_setting = settings.reports_browser
    folder = write_report(report, base or settings.reports_directory, formats, now=now)
    return report, folder


def produce_named(
    store: Store, settings: Settings, config: NamedReport, *, now: datetime | None = None,
    base: Path | None = None,
) -> tuple[Report, Path]:  # fmt: skip
    period = period_of(settings, config.period, days=config.days, now=now)
    return produce(store, settings, config.type, period, config.formats, team=config.team,
                   base=base or config.directory, now=now)  # fmt: skip
