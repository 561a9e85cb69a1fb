"""Writing a report's files: ``<base>/<type>/<period>/`` (a team's report:
``<base>/teams/<team>/<type>/<period>/``), replaced atomically.

The files are written into a temporary folder beside the target; then the previous report of
the same type and period (if any) moves to ``<base>/archive/<type>/<period>/<timestamp>/`` and
the new folder takes its place. A failure while writing leaves the previous report untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

from meterbook.errors import MeterbookError
from meterbook.reports.model import Report
from meterbook.reports.render import parse_formats, writer

ARCHIVE = "archive"


TEAMS = "teams"


def scoped_base(base: Path, report: Report) -> Path:
    """``base``, or ``base/teams/<team>`` for a report scoped to one team (so that a team's
    report never replaces the whole organisation's of the same type and period)."""
    team = report.scope.get("team")
    return base / TEAMS / team if team else base


def report_folder(base: Path, report: Report) -> Path:
    return scoped_base(base, report) / report.type / report.period.label


def write_report(
    report: Report,
    base: Path,
    formats: list[str] | tuple[str, ...] | str,
    *,
    now: datetime | None = None,
) -> Path:
    """Write ``report`` in ``formats`` under ``base``; returns the report's folder."""
    names = parse_formats(formats)
    target = report_folder(base, report)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    try:
        report.files = []
        for name in names:
            written = writer(name)(report, tmp)
            if name != "json":
                report.files.extend(written)
        if target.exists():
            stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
            archived = (
                scoped_base(base / ARCHIVE, report) / report.type / report.period.label / stamp
            )
            archived.parent.mkdir(parents=True, exist_ok=True)
            if archived.exists():
                shutil.rmtree(archived)
            target.rename(archived)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def check_base(base: Path) -> Path:
    if base.exists() and not base.is_dir():
        raise MeterbookError(f"{base}: not a directory")
    return base


def _report_roots(base: Path, teams: Collection[str] | None) -> list[tuple[str, Path]]:
    """(team, folder) of the report trees under ``base`` that ``teams`` may read: the whole
    organisation's ("") and every team's for None, else only those teams'."""
    roots: list[tuple[str, Path]] = [] if teams is not None else [("", base)]
    team_root = base / TEAMS
    if team_root.is_dir():
        for folder in sorted(team_root.iterdir()):
            if folder.is_dir() and (teams is None or folder.name in teams):
                roots.append((folder.name, folder))
    return roots


def written_files(
    base: Path, *, newest_first: bool = False, teams: Collection[str] | None = None
) -> list[tuple[str, str, str, str, int]]:
    """The files of the reports under ``base`` (the archive left out), as (team, type, period,
    path relative to ``base``, bytes); team is "" for the whole organisation's reports. By team,
    type and period (``newest_first``: periods reversed). ``teams``: only those teams' reports
    (None: every report)."""
    found: list[tuple[str, str, str, str, int]] = []
    if not base.is_dir():
        return found
    for team, root in _report_roots(base, teams):
        for folder in sorted(root.glob("*/*/"), reverse=newest_first):
            kind = folder.parts[-2]
            if kind == ARCHIVE or (not team and kind == TEAMS) or not folder.is_dir():
                continue
            for item in sorted(folder.iterdir()):
                if item.is_file():
                    name = item.relative_to(base).as_posix()
                    found.append((team, kind, folder.parts[-1], name, item.stat().st_size))
    return found


def file_under(base: Path, relative: str, teams: Collection[str] | None = None) -> Path | None:
    """The report file ``relative`` names under ``base``, or None (missing, outside, or, with
    ``teams``, not a report of one of those teams)."""
    root = base.resolve()
    target = (root / relative).resolve()
    if root not in target.parents or not target.is_file():
        return None
    if teams is not None:
        parts = target.relative_to(root).parts
        if len(parts) < 3 or parts[0] != TEAMS or parts[1] not in teams:
            return None
    return target
