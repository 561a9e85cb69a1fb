"""Values as people read them (HTML, PDF, DOCX): one formatting for every printed format."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from meterbook.reports.model import Column


def cell(value: Any, kind: str) -> str:
    if value is None or value == "":
        return ""
    if kind == "percent" and isinstance(value, int | float | Decimal):
        return f"{float(value) * 100:.1f} %"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def row(values: list[Any], columns: list[Column]) -> list[str]:
    return [cell(v, c.kind) for v, c in zip(values, columns, strict=True)]


def headline(value: Any, kind: str, unit: str) -> str:
    text = cell(value, kind)
    return f"{text} {unit}".strip()
