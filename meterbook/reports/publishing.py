"""Sending reports: write a report, then deliver its headline figures, a chart and its files
to recipients (``meterbook report ... --send``, named reports' ``send_to``).

A recipient bound to a team (``[recipients.NAME] team = "ml"``) receives a report produced
for that team only (written under ``<base>/teams/<team>/``), never the organisation's; one
bound to a division receives one report per team of the division. A report type without team
data (io, utilisation, trends) cannot be sent to a scoped recipient: that is refused before
anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from meterbook.delivery import DeliveryResult, Message
from meterbook.delivery.config import RecipientConfig
from meterbook.errors import ConfigError
from meterbook.periods import Period
from meterbook.reports import produce
from meterbook.reports.model import Headline, Report
from meterbook.reports.types import report_type
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.schema import divisions, teams

#: Formats attached to e-mail, in this order, when the report has them.
ATTACH = (".pdf", ".xlsx", ".html", ".docx")


@dataclass(frozen=True)
class Sent:
    recipient: str
    team: str | None
    folder: Path
    result: DeliveryResult


def headline_text(item: Headline) -> str:
    value = item.value
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    elif isinstance(value, float | Decimal):
        text = f"{value:,.2f}"
    else:
        text = str(value)
    return f"{text} {item.unit}".strip()


def message_of(report: Report, folder: Path, link_base: str | None = None) -> Message:
    """The message of a written report: headline figures, its first chart inline, its PDF,
    XLSX, HTML and DOCX files attached, a link to the HTML when ``link_base`` is set."""
    from meterbook.reports.render.images import png

    team = report.scope.get("team")
    subject = report.title  # names the period and the team already
    attached = [folder / f for f in report.files if Path(f).suffix in ATTACH]
    attached.sort(key=lambda p: ATTACH.index(p.suffix))
    link = None
    html = next((f for f in report.files if f.endswith(".html")), None)
    if link_base and html:
        relative = (folder / html).as_posix().split("/reports/", 1)[-1]
        link = f"{link_base.rstrip('/')}/reports/file/{relative}"
    inline = png(report.charts[0], scale=1.5) if report.charts else None
    lines = [f"{h.label}: {headline_text(h)}" for h in report.headlines]
    return Message(
        subject=subject,
        headline=[(h.label, headline_text(h)) for h in report.headlines],
        text=f"{subject}\n" + "\n".join(lines),
        link=link,
        inline_png=inline,
        attachments=attached,
        context={"period": report.period.label, "type": report.type, "team": team or ""},
    )


def _teams_of_division(store: Store, name: str) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(teams.c.name)
            .join(divisions, divisions.c.id == teams.c.division_id)
            .where(divisions.c.name == name)
            .order_by(teams.c.name)
        )
        found = [r.name for r in rows]
    if not found:
        raise ConfigError(f"division {name!r} has no teams (see `meterbook org teams`)")
    return found


def plan(
    store: Store,
    settings: Settings,
    kind: str,
    names: Sequence[str],
    team: str | None,
) -> list[tuple[str, RecipientConfig, str | None]]:
    """(recipient name, recipient, team of the report it gets) for each delivery; checks
    every recipient before anything is written or sent."""
    from meterbook.delivery.send import resolve

    scoped = report_type(kind).team_scoped
    out: list[tuple[str, RecipientConfig, str | None]] = []
    for name in names:
        recipient = resolve(settings, name)
        scope = recipient.scope
        if scope is None:
            out.append((name, recipient, team))
            continue
        if not scoped:
            raise ConfigError(
                f"recipient {name} is bound to {scope.kind} {scope.name!r}, but the {kind} "
                "report has no team data to scope"
            )
        wanted = [scope.name] if scope.kind == "team" else _teams_of_division(store, scope.name)
        if team is not None and team not in wanted:
            raise ConfigError(
                f"recipient {name} is bound to {scope.kind} {scope.name!r}: it cannot receive "
                f"team {team!r}'s report"
            )
        out += [(name, recipient, t) for t in ([team] if team else wanted)]
    return out


def publish(
    store: Store,
    settings: Settings,
    kind: str,
    period: Period,
    formats: list[str] | tuple[str, ...] | str,
    recipients: Sequence[str],
    *,
    team: str | None = None,
    base: Path | None = None,
    now: datetime | None = None,
) -> tuple[list[tuple[Report, Path]], list[Sent]]:
    """Write the report (one per team the recipients need) and send it; returns what was
    written and what became of each delivery (failures are recorded, not raised)."""
    from meterbook.delivery import deliver

    deliveries = plan(store, settings, kind, recipients, team)
    needed: list[str | None] = []
    for _, _, t in deliveries:
        if t not in needed:
            needed.append(t)
    if not deliveries:
        needed = [team]
    written: dict[str | None, tuple[Report, Path]] = {}
    for t in needed:
        written[t] = produce(store, settings, kind, period, formats, team=t, base=base, now=now)
    sent = []
    for name, recipient, t in deliveries:
        made, folder = written[t]
        message = message_of(made, folder, settings.reports_link)
        result = deliver(store.engine, settings, recipient, message)
        sent.append(Sent(name, t, folder, result))
    return list(written.values()), sent


def summary(sent: Sequence[Sent]) -> list[dict[str, Any]]:
    return [
        {"recipient": s.recipient, "team": s.team, "status": s.result.status,
         "attempts": s.result.attempts, "error": s.result.error}
        for s in sent
    ]  # fmt: skip
