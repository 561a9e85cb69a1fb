"""DOCX (python-docx): title, headline figures, a heading per section, its paragraphs, charts
as PNG pictures and tables (header row, total row in bold)."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt

from meterbook.reports.model import Report, Table
from meterbook.reports.render import images, text


def _table(doc: object, table: Table) -> None:
    rows = [text.row(r, table.columns) for r in table.rows]
    total = text.row(table.total, table.columns) if table.total is not None else None
    grid = doc.add_table(rows=1, cols=len(table.columns))  # type: ignore[attr-defined]
    grid.style = "Light Grid Accent 1"
    grid.alignment = WD_TABLE_ALIGNMENT.LEFT
    for cell, column in zip(grid.rows[0].cells, table.columns, strict=True):
        cell.text = column.label
    for values in [*rows, *([total] if total else [])]:
        cells = grid.add_row().cells
        for cell, value, column in zip(cells, values, table.columns, strict=True):
            cell.text = value
            if column.numeric:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    if total:
        for cell in grid.rows[-1].cells:
            for run in cell.paragraphs[0].runs:
                run.bold = True
    for row in grid.rows:
        for cell in row.cells:
            for run in cell.paragraphs[0].runs:
                run.font.size = Pt(8)


def write(report: Report, folder: Path) -> list[str]:
    name = f"{report.slug}.docx"
    doc = Document()
    section = doc.sections[0]
    section.left_margin = section.right_margin = Cm(1.8)
    doc.add_heading(report.title, level=0)
    last = (report.period.end - timedelta(days=1)).isoformat()
    doc.add_paragraph(
        f"Period {report.period.start.isoformat()} to {last} ({report.timezone}); generated "
        f"{report.generated_at.strftime('%Y-%m-%d %H:%M')} UTC."
    )
    for h in report.headlines:
        p = doc.add_paragraph(style="List Bullet")
        p.add_run(f"{h.label}: ").bold = True
        p.add_run(text.headline(h.value, h.kind, h.unit))
    for s in report.sections:
        doc.add_heading(s.title, level=1)
        for paragraph in s.paragraphs:
            doc.add_paragraph(paragraph)
        for chart in s.charts:
            doc.add_picture(io.BytesIO(images.png(chart, scale=1.5)), width=Cm(17))
        for table in s.tables:
            doc.add_heading(table.title, level=2)
            if table.data_only:
                doc.add_paragraph(table.note or "In the data formats only.")
            elif table.rows:
                _table(doc, table)
            else:
                doc.add_paragraph("None in this period.")
    doc.add_heading("Sources", level=1)
    for src in report.sources:
        through = src.complete_through.isoformat() if src.complete_through else "no data"
        doc.add_paragraph(f"{src.name} ({src.kind}): complete through {through}",
                          style="List Bullet")  # fmt: skip
    doc.save(str(folder / name))
    return [name]
