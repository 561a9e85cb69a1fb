"""Periods (months, quarters, years, days, custom ranges) and splitting intervals across days.

A :class:`Period` is a half-open range of whole days ``[start, end)`` in the accounting time
zone. Parsing accepts ``2017``, ``2017-Q1``, ``2017-01``, ``2017-01-05`` and inclusive
``--from``/``--to`` dates, as Open XDMoD's date pickers do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from meterbook.errors import ConfigError

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days ``[start, end)``; ``label`` names it in output."""

    start: date
    end: date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def months(self) -> list[date]:
        """First day of each month that the period touches."""
        first = self.start.replace(day=1)
        out = []
        while first < self.end:
            out.append(first)
            first = add_months(first, 1)
        return out


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after the month of ``day``."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_date(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from exc


def parse_period(text: str) -> Period:
    """Parse ``2017``, ``2017-Q1``, ``2017-01`` or ``2017-01-05``."""
    text = text.strip()
    if m := re.fullmatch(r"(\d{4})", text):
        year = int(m[1])
        return Period(date(year, 1, 1), date(year + 1, 1, 1), text)
    if m := re.fullmatch(r"(\d{4})-[Qq]([1-4])", text):
        first = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        return Period(first, add_months(first, 3), f"{m[1]}-Q{m[2]}")
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        try:
            first = date(int(m[1]), int(m[2]), 1)
        except ValueError as exc:
            raise ConfigError(f"--period: {text!r} is not a month") from exc
        return Period(first, add_months(first, 1), text)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = parse_date(text, "--period")
        return Period(day, day + _DAY, text)
    raise ConfigError(
        f"--period: {text!r} is not a period (use 2017, 2017-Q1, 2017-01 or 2017-01-05)"
    )


def resolve_period(
    period: str | None, start: str | None, end: str | None, *, today: date | None = None
) -> Period:
    """The period of ``--period`` or ``--from``/``--to`` (inclusive), default this month."""
    if period and (start or end):
        raise ConfigError("give either --period or --from/--to, not both")
    if period:
        return parse_period(period)
    if start or end:
        if not (start and end):
            raise ConfigError("--from and --to go together")
        first, last = parse_date(start, "--from"), parse_date(end, "--to")
        if last < first:
            raise ConfigError(f"--to {end} is before --from {start}")
        return Period(first, last + _DAY, f"{first.isoformat()}..{last.isoformat()}")
    today = today or date.today()
    first = today.replace(day=1)
    return Period(first, add_months(first, 1), first.strftime("%Y-%m"))


def previous_month(today: date | None = None) -> Period:
    """The calendar month before the one holding ``today``."""
    first = (today or date.today()).replace(day=1)
    previous = add_months(first, -1)
    return Period(previous, first, previous.strftime("%Y-%m"))


def zone_for(name: str) -> tzinfo:
    """The ``tzinfo`` for a zone name; UTC is :data:`datetime.UTC` (the fast path)."""
    from zoneinfo import ZoneInfo

    if name in {"UTC", "Etc/UTC", "Z"}:
        return UTC
    return ZoneInfo(name)


def day_start(day: date, zone: tzinfo) -> datetime:
    """The UTC instant at which ``day`` begins in ``zone``."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DATES: dict[int, date] = {}


def _utc_date(day_index: int) -> date:
    found = _DATES.get(day_index)
    if found is None:
        found = _DATES[day_index] = date.fromordinal(day_index + _EPOCH_ORDINAL)
    return found


def local_day(ts: float, zone: tzinfo) -> date:
    """The day of ``zone`` holding the instant ``ts`` (Unix seconds)."""
    if zone is UTC:
        return _utc_date(int(ts // 86400))
    return datetime.fromtimestamp(ts, zone).date()


def split_seconds(t0: float, t1: float, zone: tzinfo) -> Iterator[tuple[date, float, bool]]:
    """Yield ``(day, seconds, starts_here)`` for each day of ``zone`` that ``[t0, t1)`` overlaps.

    ``t0`` and ``t1`` are Unix seconds. The seconds of all days add up to ``t1 - t0``;
    ``starts_here`` is true for the day holding ``t0``. An empty interval yields nothing.
    """
    if t1 <= t0:
        return
    if zone is UTC:
        day_index = int(t0 // 86400)
        first = True
        while t0 < t1:
            boundary = (day_index + 1) * 86400.0
            cut = boundary if boundary < t1 else t1
            yield _utc_date(day_index), cut - t0, first
            first = False
            t0 = cut
            day_index += 1
        return
    local = datetime.fromtimestamp(t0, zone).date()
    first = True
    while t0 < t1:
        boundary = day_start(local + _DAY, zone).timestamp()
        cut = boundary if boundary < t1 else t1
        yield local, cut - t0, first
        first = False
        t0 = cut
        local += _DAY


@dataclass(frozen=True, slots=True)
class SprintCalendar:
    """Sprints of ``days`` days; sprint ``anchor`` starts on ``anchor_start``."""

    anchor: int
    anchor_start: date
    days: int = 14

    def sprint(self, number: int) -> Period:
        start = self.anchor_start + timedelta(days=(number - self.anchor) * self.days)
        return Period(start, start + timedelta(days=self.days), f"sprint-{number}")

    def number_of(self, day: date) -> int:
        """The number of the sprint holding ``day``."""
        return self.anchor + (day - self.anchor_start).days // self.days

    def parse(self, text: str, *, today: date | None = None) -> Period:
        """``current``, ``previous`` or a sprint number."""
        text = text.strip().lower()
        today = today or date.today()
        if text == "current":
            return self.sprint(self.number_of(today))
        if text == "previous":
            return self.sprint(self.number_of(today) - 1)
        if not re.fullmatch(r"-?\d{1,6}", text):
            raise ConfigError(f"--sprint: {text!r} is not a sprint (a number, current or previous)")
        return self.sprint(int(text))


# Report periods --------------------------------------------------------------------------------

#: The report period names besides dates (``2024-07``, ``2024-Q3``, ``2024``, ``2024-07-05``).
REPORT_PERIODS = (
    "previous-month",
    "month-to-date",
    "last-Nd",
    "sprint-N",
    "current-sprint",
    "previous-sprint",
)


def today_in(zone: tzinfo, now: datetime | None = None) -> date:
    """The current day in ``zone`` (of ``now``, default the current instant)."""
    return (now or datetime.now(UTC)).astimezone(zone).date()


def utc_bounds(period: Period, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants at which ``period`` begins and ends in ``zone``."""
    return day_start(period.start, zone), day_start(period.end, zone)


def first_days(period: Period, days: int) -> Period:
    """The first ``days`` days of ``period`` (a month: ``--period 2024-07 --days 15``)."""
    if days < 1:
        raise ConfigError(f"--days: {days} must be at least 1")
    if days > period.days:
        raise ConfigError(f"--days: {period.label} has only {period.days} days, not {days}")
    end = period.start + timedelta(days=days)
    return Period(period.start, end, f"{period.label}-d{days:02d}")


def report_period(
    text: str | None,
    *,
    days: int | None = None,
    start: str | None = None,
    end: str | None = None,
    today: date,
    sprints: SprintCalendar | None = None,
) -> Period:
    """The period of a report.

    ``text`` is ``previous-month`` (the default), ``month-to-date`` (the 1st through today),
    ``last-30d`` (the 30 whole days before today), ``sprint-58``, ``current-sprint``,
    ``previous-sprint``, or a year, quarter, month or day as :func:`parse_period` reads them;
    ``start``/``end`` give an inclusive custom range instead. ``days`` keeps the first D days.
    ``today`` is the current day in the accounting time zone.
    """
    if start or end:
        if text:
            raise ConfigError("give either --period or --from/--to, not both")
        found = resolve_period(None, start, end)
    else:
        found = _named_period((text or "previous-month").strip().lower(), today, sprints)
    return first_days(found, days) if days is not None else found


def _named_period(text: str, today: date, sprints: SprintCalendar | None) -> Period:
    if text in {"previous-month", "last-month"}:
        return previous_month(today)
    if text in {"month-to-date", "mtd"}:
        first = today.replace(day=1)
        return Period(first, today + _DAY, f"{first.strftime('%Y-%m')}-mtd")
    if m := re.fullmatch(r"last-(\d{1,4})d", text):
        n = int(m[1])
        if n < 1:
            raise ConfigError(f"--period: {text!r}: at least one day")
        first = today - timedelta(days=n)
        return Period(first, today, f"last-{n}d-{(today - _DAY).isoformat()}")
    sprint = re.fullmatch(r"sprint-(\d{1,6})", text)
    if sprint or text in {"current-sprint", "previous-sprint"}:
        if sprints is None:
            raise ConfigError("--period: sprints need the [periods] sprint settings")
        if sprint:
            return sprints.sprint(int(sprint[1]))
        return sprints.parse(text.split("-")[0], today=today)
    if re.fullmatch(r"[\dq-]+", text):
        return parse_period(text)
    raise ConfigError(
        f"--period: {text!r} is not a period (use previous-month, month-to-date, last-30d, "
        "2024, 2024-Q3, 2024-07, 2024-07-05, sprint-58, current-sprint or previous-sprint)"
    )
