"""JSON: the metadata (generated_at, period, sources with "complete through", processing
statistics, files written), the headline figures and every section's tables and charts.
Money is a string (exact decimal); other numbers are JSON numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meterbook.reports.model import Report, Table, plain


def _table(table: Table) -> dict[str, Any]:
    return {
        "name": table.name,
        "title": table.title,
        "columns": [{"name": c.name, "label": c.label, "kind": c.kind} for c in table.columns],
        "rows": [{k: plain(v) for k, v in r.items()} for r in table.records()],
        "total": {k: plain(v) for k, v in (table.total_record() or {}).items()} or None,
    }


def document(report: Report) -> dict[str, Any]:
    return {
        **report.metadata(),
        "headlines": [
            {"label": h.label, "value": plain(h.value), "unit": h.unit} for h in report.headlines
        ],
        "sections": [
            {
                "name": s.name,
                "title": s.title,
                "paragraphs": s.paragraphs,
                "tables": [_table(t) for t in s.tables],
                "charts": [{"name": c.name, "title": c.title, "spec": c.spec} for c in s.charts],
            }
            for s in report.sections
        ],
    }


def write(report: Report, folder: Path) -> list[str]:
    name = f"{report.slug}.json"
    report.files.append(name)
    text = json.dumps(document(report), indent=1, default=str, ensure_ascii=False)
    (folder / name).write_text(text + "\n", encoding="utf-8")
    return [name]
