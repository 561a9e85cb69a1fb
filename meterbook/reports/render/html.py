"""HTML: one self-contained file (a Jinja2 template) with the tables and interactive charts.

The Vega, Vega-Lite and Vega-Embed libraries are inlined from ``vl-convert-python``'s bundle,
so the file works offline; the bundle is cached under the user cache directory. The print
variant (for PDF) has no script: its charts are inline SVG rendered by vl-convert.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
import platformdirs
import vl_convert

from meterbook import __version__
from meterbook.reports.model import Report
from meterbook.reports.render import text

_TEMPLATE = "report.html.j2"
#: The bundle's snippet: the libraries as globals for the page's script.
_GLOBALS = "window.vegaEmbed = vegaEmbed; window.vegaLite = vegaLite; window.vega = vega;"


def vega_bundle() -> str:
    """The JavaScript bundle of Vega-Embed, Vega-Lite and Vega (cached per version)."""
    version = "-".join(
        [vl_convert.get_vega_embed_version(), vl_convert.get_vega_version(), str(len(_GLOBALS))]
    )
    cache = Path(platformdirs.user_cache_dir("meterbook")) / f"vega-bundle-{version}.js"
    try:
        return cache.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle: str = vl_convert.javascript_bundle(_GLOBALS)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(bundle, encoding="utf-8")
        tmp.replace(cache)
    except OSError:
        pass  # no cache: built again next time
    return bundle


def svg(spec: dict[str, Any]) -> str:
    rendered: str = vl_convert.vegalite_to_svg(spec)
    return rendered


def render(report: Report, *, print_version: bool = False) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("meterbook.reports.render", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    sections = []
    specs: dict[str, Any] = {}
    for s in report.sections:
        tables = [
            {
                "name": t.name,
                "title": t.title,
                "note": t.note,
                "columns": t.columns,
                "rows": [text.row(r, t.columns) for r in t.rows],
                "total": text.row(t.total, t.columns) if t.total is not None else None,
            }
            for t in s.tables
            if not t.data_only
        ]
        tables += [
            {"name": t.name, "title": t.title, "note": t.note or "In the data formats only.",
             "columns": t.columns, "rows": [], "total": None}
            for t in s.tables if t.data_only
        ]  # fmt: skip
        chart_items = []
        for c in s.charts:
            chart_items.append({"name": c.name, "svg": svg(c.spec) if print_version else ""})
            specs[f"chart-{s.name}-{c.name}"] = c.spec
        sections.append(
            {"name": s.name, "title": s.title, "paragraphs": s.paragraphs,
             "tables": tables, "charts": chart_items}
        )  # fmt: skip
    stats = report.statistics
    return env.get_template(_TEMPLATE).render(
        report=report,
        print=print_version,
        bundle="" if print_version else vega_bundle().replace("</script", "<\\/script"),
        specs=json.dumps(specs).replace("</", "<\\/"),
        sections=sections,
        headlines=[
            {"label": h.label, "text": text.headline(h.value, h.kind, h.unit)}
            for h in report.headlines
        ],
        last_day=(report.period.end - timedelta(days=1)).isoformat(),
        generated=report.generated_at.strftime("%Y-%m-%d %H:%M"),
        version=__version__,
        stats=f"{stats.get('rows_read', 0):,} rows read in {stats.get('query_seconds', 0)} s",
    )


def write(report: Report, folder: Path) -> list[str]:
    name = f"{report.slug}.html"
    (folder / name).write_text(render(report), encoding="utf-8")
    return [name]
