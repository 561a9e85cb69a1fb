"""What a report is, independent of any format: tables, charts, headline figures, metadata.

A :class:`Report` holds :class:`Section` objects, each with paragraphs, tables and charts; the
renderers (``meterbook.reports.render``) turn the same report into CSV, JSON, XLSX, HTML, PDF,
DOCX and images, so every format shows the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from meterbook.periods import Period

#: Column kinds: how a value is typed in XLSX and JSON and printed in HTML, PDF and DOCX.
KINDS = ("text", "int", "float", "money", "percent", "date", "datetime")


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: unknown kind {self.kind!r}")

    @property
    def numeric(self) -> bool:
        return self.kind in {"int", "float", "money", "percent"}


@dataclass
class Table:
    """Rows of values in column order; ``total`` is the footer row (None: no total)."""

    name: str
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    total: list[Any] | None = None
    #: Only in the data formats (CSV, JSON, XLSX): too long to print (detailed records).
    data_only: bool = False
    note: str = ""

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip((c.name for c in self.columns), row, strict=True)) for row in self.rows]

    def total_record(self) -> dict[str, Any] | None:
        if self.total is None:
            return None
        return dict(zip((c.name for c in self.columns), self.total, strict=True))


@dataclass
class Chart:
    """A Vega-Lite specification (data inlined) to render as PNG, SVG or in HTML."""

    name: str
    title: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Headline:
    label: str
    value: Any
    kind: str = "float"
    unit: str = ""


@dataclass
class Section:
    name: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass(frozen=True)
class Freshness:
    """A source's last day with data: the report is complete through that day for it."""

    kind: str
    name: str
    complete_through: date | None
    #: What the day is of: usage, io, metrics or billing.
    data: str = ""


@dataclass
class Report:
    type: str
    title: str
    period: Period
    generated_at: datetime
    timezone: str
    sections: list[Section] = field(default_factory=list)
    headlines: list[Headline] = field(default_factory=list)
    sources: list[Freshness] = field(default_factory=list)
    #: Processing statistics: query seconds, rows read, tables and charts.
    statistics: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, str] = field(default_factory=dict)
    #: Names of the files written (relative to the report's directory), filled when written.
    files: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    @property
    def charts(self) -> list[Chart]:
        return [c for s in self.sections for c in s.charts]

    @property
    def slug(self) -> str:
        """``<type>-<period>``: the stem of every file name."""
        return f"{self.type}-{self.period.label}"

    def metadata(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "period": {
                "label": self.period.label,
                "from": self.period.start.isoformat(),
                "to_exclusive": self.period.end.isoformat(),
                "timezone": self.timezone,
            },
            "scope": dict(self.scope),
            "sources": [
                {
                    "kind": s.kind,
                    "name": s.name,
                    "data": s.data,
                    "complete_through": s.complete_through.isoformat()
                    if s.complete_through
                    else None,
                }
                for s in self.sources
            ],
            "statistics": dict(self.statistics),
            "files": list(self.files),
        }


def plain(value: Any) -> Any:
    """A value for JSON: Decimal as a string (exact), dates in ISO form."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
