"""Renderers: one module per format, each ``write(report, folder) -> [file names]``.

File names (stable; ``<slug>`` is ``<type>-<period>``, e.g. ``usage-2026-10``):

- ``<slug>.json``, ``<slug>.xlsx``, ``<slug>.html``, ``<slug>.pdf``, ``<slug>.docx``
- ``<slug>-<table>.csv``: one per table
- ``<slug>-<chart>.png`` and ``<slug>-<chart>.svg``: one per chart
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from meterbook.errors import ConfigError
from meterbook.reports.model import Report

Writer = Callable[[Report, Path], list[str]]
#: Format names in the order they are written (JSON last: it lists every file).
FORMATS = ("csv", "xlsx", "html", "pdf", "docx", "png", "svg", "json")


def writer(name: str) -> Writer:
    from meterbook.reports.render import csv, docx, html, images, json, pdf, xlsx

    writers: dict[str, Writer] = {
        "csv": csv.write,
        "json": json.write,
        "xlsx": xlsx.write,
        "html": html.write,
        "pdf": pdf.write,
        "docx": docx.write,
        "png": images.write_png,
        "svg": images.write_svg,
    }
    if name not in writers:
        raise ConfigError(f"--format: unknown format {name!r} (use {', '.join(FORMATS)})")
    return writers[name]


def parse_formats(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """``pdf,html`` (or a list) -> the formats in writing order, checked."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = {i.strip().lower() for i in items if i.strip()}
    unknown = sorted(names - set(FORMATS))
    if unknown:
        raise ConfigError(f"--format: unknown format {unknown[0]!r} (use {', '.join(FORMATS)})")
    if not names:
        raise ConfigError("--format: give at least one format")
    return [f for f in FORMATS if f in names]
