"""The report types: a registry of name -> :class:`ReportType`, each a list of section functions.

A section function takes the :class:`Context` and returns a :class:`~meterbook.reports.model.
Section`, a list of them (one per team, say) or None to leave it out. New sections (a forecast
for spend, say) are added by appending to a type's ``sections``; new types by :func:`register`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection

from meterbook.errors import ConfigError
from meterbook.periods import Period
from meterbook.reports.model import Freshness, Headline, Report, Section
from meterbook.settings import Settings
from meterbook.store.queries.freshness import freshness


@dataclass
class Context:
    """What a section reads: the connection, period, zone, settings and scope."""

    conn: Connection
    period: Period
    settings: Settings
    zone: tzinfo
    team: str | None = None
    #: Money in this currency, each day at its rate (None: as stored).
    currency: str | None = None
    #: How month ends are projected (``meterbook forecast --method``).
    forecast_method: str = "dubweb"
    #: Headline figures the sections add, in order.
    headlines: list[Headline] = field(default_factory=list)
    #: Rows read from queries (processing statistics).
    rows_read: int = 0
    #: Values sections share (one query used by several sections).
    cache: dict[str, Any] = field(default_factory=dict)

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


#: A section function returns one section, several (one per team, say) or None.
SectionFn = Callable[[Context], Section | list[Section] | None]


@dataclass
class ReportType:
    name: str
    title: str
    description: str
    sections: list[SectionFn]
    #: The data whose freshness the report states (usage, io, metrics, billing; empty: all)
    #: and of which source kinds (empty: any).
    source_data: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    #: Whether ``--team`` can scope it (its data belong to projects of teams).
    team_scoped: bool = True


REPORT_TYPES: dict[str, ReportType] = {}


def register(report_type: ReportType) -> ReportType:
    REPORT_TYPES[report_type.name] = report_type
    return report_type


def report_type(name: str) -> ReportType:
    _load()
    found = REPORT_TYPES.get(name)
    if found is None:
        raise ConfigError(f"unknown report type {name!r} (use {', '.join(sorted(REPORT_TYPES))})")
    return found


def all_types() -> list[ReportType]:
    _load()
    return [REPORT_TYPES[n] for n in sorted(REPORT_TYPES)]


def _load() -> None:
    from meterbook.reports.types import (  # noqa: F401
        chargeback,
        io,
        spend,
        trends,
        usage,
        utilisation,
    )


def build_report(
    conn: Connection,
    name: str,
    period: Period,
    settings: Settings,
    *,
    team: str | None = None,
    now: datetime | None = None,
    currency: str | None = None,
    forecast_method: str | None = None,
) -> Report:
    """Run every section of report type ``name`` over ``period``; ``currency`` and
    ``forecast_method`` default to ``[reports] currency`` and ``forecast_method``."""
    kind = report_type(name)
    if team and not kind.team_scoped:
        raise ConfigError(f"--team: the {kind.name} report has no team data to scope")
    started = time.perf_counter()
    ctx = Context(
        conn,
        period,
        settings,
        settings.zone,
        team,
        currency=currency or settings.reports_currency,
        forecast_method=forecast_method or settings.reports_forecast_method,
    )
    sections: list[Section] = []
    for fn in kind.sections:
        made = fn(ctx)
        sections += made if isinstance(made, list) else [] if made is None else [made]
    for section in sections:  # a chart without data draws nothing (and cannot be rendered)
        section.charts = [c for c in section.charts if c.spec.get("data", {}).get("values")]
    title = f"{kind.title}, {period.label}" + (f", team {team}" if team else "")
    report = Report(
        type=kind.name,
        title=title,
        period=period,
        generated_at=(now or datetime.now(UTC)).replace(microsecond=0),
        timezone=settings.timezone,
        sections=sections,
        headlines=ctx.headlines,
        scope={
            **({"team": team} if team else {}),
            **({"currency": ctx.currency} if ctx.currency else {}),
        },
    )
    report.sources = [
        Freshness(f.kind, f.name, f.last_day, f.data)
        for f in freshness(conn, settings.zone)
        if (not kind.source_data or f.data in kind.source_data)
        and (not kind.source_kinds or f.kind in kind.source_kinds)
    ]
    report.statistics = {
        "query_seconds": round(time.perf_counter() - started, 3),
        "rows_read": ctx.rows_read,
        "tables": len(report.tables),
        "charts": len(report.charts),
    }
    return report
