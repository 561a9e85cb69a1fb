"""Each chart as PNG and SVG, rendered by vl-convert."""

from __future__ import annotations

from pathlib import Path

import vl_convert

from meterbook.reports.model import Chart, Report


def png(chart: Chart, scale: float = 2.0) -> bytes:
    data: bytes = vl_convert.vegalite_to_png(chart.spec, scale=scale)
    return data


def write_png(report: Report, folder: Path) -> list[str]:
    names = []
    for chart in report.charts:
        name = f"{report.slug}-{chart.name}.png"
        (folder / name).write_bytes(png(chart))
        names.append(name)
    return names


def write_svg(report: Report, folder: Path) -> list[str]:
    names = []
    for chart in report.charts:
        name = f"{report.slug}-{chart.name}.svg"
        (folder / name).write_text(vl_convert.vegalite_to_svg(chart.spec), encoding="utf-8")
        names.append(name)
    return names
