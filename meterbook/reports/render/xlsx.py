"""XLSX: a summary sheet (headlines, metadata), then a sheet per table with typed cells
(numbers as numbers, dates as dates), a frozen header, an autofilter and column widths."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from meterbook.reports.model import Report, Table

_FORMATS = {
    "int": "#,##0",
    "float": "#,##0.00",
    "money": "#,##0.00",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}


def _sheet_name(name: str, used: set[str]) -> str:
    base = name[:31]
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f"~{n}"
        candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(candidate.lower())
    return candidate


def _write(ws: Any, r: int, c: int, value: Any, fmt: Any) -> None:
    if value is None or value == "":
        ws.write_blank(r, c, None, fmt)
    elif isinstance(value, Decimal):
        ws.write_number(r, c, float(value), fmt)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value)
    elif isinstance(value, int | float):
        ws.write_number(r, c, value, fmt)
    elif isinstance(value, datetime):
        ws.write_datetime(r, c, value.replace(tzinfo=None), fmt)
    elif isinstance(value, date):
        ws.write_datetime(r, c, datetime(value.year, value.month, value.day), fmt)
    else:
        ws.write_string(r, c, str(value))


def _table(book: Any, ws: Any, table: Table, formats: dict[Any, Any]) -> None:
    head = formats["head"]
    widths = [max(len(c.label), 6) for c in table.columns]
    for c, column in enumerate(table.columns):
        ws.write_string(0, c, column.label, head)
    rows = [*table.rows, *([table.total] if table.total is not None else [])]
    for r, row in enumerate(rows, start=1):
        is_total = table.total is not None and r == len(rows)
        for c, (value, column) in enumerate(zip(row, table.columns, strict=True)):
            key = (column.kind, is_total)
            _write(ws, r, c, value, formats.get(key))
            shown = len(f"{value:,.2f}") if isinstance(value, float | Decimal) else len(str(value))
            widths[c] = max(widths[c], min(shown + 2, 60))
    for c, width in enumerate(widths):
        ws.set_column(c, c, width)
    ws.freeze_panes(1, 0)
    if table.rows:
        ws.autofilter(0, 0, len(table.rows), len(table.columns) - 1)


def write(report: Report, folder: Path) -> list[str]:
    name = f"{report.slug}.xlsx"
    book = xlsxwriter.Workbook(str(folder / name), {"strings_to_numbers": False})
    formats: dict[Any, Any] = {
        "head": book.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
    }
    for kind in ("text", *_FORMATS):
        for total in (False, True):
            spec: dict[str, Any] = {"bold": total, "top": 1 if total else 0}
            if kind in _FORMATS:
                spec["num_format"] = _FORMATS[kind]
            formats[(kind, total)] = book.add_format(spec)
    summary = book.add_worksheet("Summary")
    bold = book.add_format({"bold": True, "font_size": 14})
    summary.write_string(0, 0, report.title, bold)
    meta = report.metadata()
    lines: list[tuple[str, Any, str]] = [
        (
            "Period",
            f"{meta['period']['from']} to {report.period.end.isoformat()} (exclusive)",
            "text",
        ),
        ("Time zone", report.timezone, "text"),
        ("Generated at (UTC)", report.generated_at.replace(tzinfo=None), "datetime"),
    ]
    lines += [
        (h.label + (f" ({h.unit})" if h.unit else ""), h.value, h.kind) for h in report.headlines
    ]
    lines += [
        (f"{s.name} ({s.kind}) complete through", s.complete_through or "", "date")
        for s in report.sources
    ]
    for r, (label, value, kind) in enumerate(lines, start=2):
        summary.write_string(r, 0, label)
        _write(summary, r, 1, value, formats[(kind, False)])
    summary.set_column(0, 0, 40)
    summary.set_column(1, 1, 36)
    used = {"summary"}
    for table in report.tables:
        ws = book.add_worksheet(_sheet_name(table.name, used))
        _table(book, ws, table, formats)
    book.close()
    return [name]
