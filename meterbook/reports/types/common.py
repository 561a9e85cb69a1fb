"""Helpers the report types share: periods in UTC seconds, team scoping, total rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from meterbook import org
from meterbook.periods import utc_bounds
from meterbook.reports.types import Context

#: A name no project has: scoping to a team without projects matches nothing.
NO_PROJECT = "\x00no project"


def seconds(ctx: Context) -> tuple[float, float]:
    """The period as UTC Unix seconds ``[start, end)`` (day boundaries in the zone)."""
    start, end = utc_bounds(ctx.period, ctx.zone)
    return start.timestamp(), end.timestamp()


def team_of_projects(ctx: Context) -> dict[str, str]:
    """Project name -> team name, from the org model."""
    found: dict[str, str] = ctx.shared(
        "project_teams",
        lambda: {
            e.name: e.values.get("team") or "" for e in org.list_entries(ctx.conn, "projects")
        },
    )
    return found


def team_projects(ctx: Context) -> tuple[str, ...]:
    """The projects of the report's team (empty when the report is not scoped)."""
    if not ctx.team:
        return ()
    names = tuple(sorted(p for p, t in team_of_projects(ctx).items() if t == ctx.team))
    return names or (NO_PROJECT,)


def total_row(label: str, width: int, values: Sequence[Any]) -> list[Any]:
    """A footer: ``label`` then blanks up to ``width`` label columns, then ``values``."""
    return [label, *([""] * (width - 1)), *values]
