"""CSV: one file per table, a header row, the rows, then the total row (first cell ``total``).
Numbers are plain (no separators); money is exact; times ISO 8601."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

from meterbook.reports.model import Report, plain


def _value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 6))
    if isinstance(value, Decimal):
        return str(value)
    return plain(value)


def write(report: Report, folder: Path) -> list[str]:
    names = []
    for table in report.tables:
        name = f"{report.slug}-{table.name}.csv"
        with (folder / name).open("w", encoding="utf-8", newline="") as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow([c.name for c in table.columns])
            for row in table.rows:
                w.writerow([_value(v) for v in row])
            if table.total is not None:
                w.writerow([_value(v) for v in table.total])
        names.append(name)
    return names
