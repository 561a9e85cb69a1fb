"""Reading a written report back from every format: the total row (or the rows) of a table
as the format shows it, for comparing with the store queries."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pypdf


def csv_table(folder: Path, slug: str, table: str) -> list[dict[str, str]]:
    with (folder / f"{slug}-{table}.csv").open(encoding="utf-8", newline="") as read:
        return list(csv.DictReader(read))


def json_doc(folder: Path, slug: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / f"{slug}.json").read_text(encoding="utf-8"))
    return data


def json_table(doc: dict[str, Any], table: str) -> dict[str, Any]:
    for section in doc["sections"]:
        for t in section["tables"]:
            if t["name"] == table:
                return t  # type: ignore[no-any-return]
    raise KeyError(table)


def xlsx_rows(folder: Path, slug: str, table: str) -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(folder / f"{slug}.xlsx")
    sheet = book[table[:31]]
    values = list(sheet.iter_rows(values_only=True))
    assert sheet.freeze_panes == "A2"
    head = [str(v) for v in values[0]]
    return [dict(zip(head, row, strict=True)) for row in values[1:]]


class _Tables(HTMLParser):
    """Every ``<table data-table=NAME>``: its header, body rows and footer, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[list[str]]]] = {}
        self._name: str | None = None
        self._part = "thead"
        self._cell: list[str] | None = None
        self._row: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("data-table"):
            self._name = dict(attrs)["data-table"]
            self.tables[self._name] = {"thead": [], "tbody": [], "tfoot": []}
        elif self._name and tag in ("thead", "tbody", "tfoot"):
            self._part = tag
        elif self._name and tag == "tr":
            self._row = []
        elif self._name and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if not self._name:
            return
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self.tables[self._name][self._part].append(self._row)
        elif tag == "table":
            self._name = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(folder: Path, slug: str) -> dict[str, dict[str, list[list[str]]]]:
    parser = _Tables()
    parser.feed((folder / f"{slug}.html").read_text(encoding="utf-8"))
    return parser.tables


def pdf_text(folder: Path, slug: str) -> str:
    reader = pypdf.PdfReader(folder / f"{slug}.pdf")
    return "\n".join(page.extract_text() for page in reader.pages)


def docx_tables(folder: Path, slug: str) -> list[list[list[str]]]:
    document = docx.Document(str(folder / f"{slug}.docx"))
    return [[[c.text for c in row.cells] for row in t.rows] for t in document.tables]


def printed(value: Any) -> str:
    """How HTML, PDF and DOCX print a number: thousands separators, two decimals."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{Decimal(str(value)) if isinstance(value, float) else value:,.2f}"
