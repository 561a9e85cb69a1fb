"""Vega-Lite specifications: one definition of each chart kind, used by every report type.

Values are inlined (``data.values``) so a specification renders on its own, offline. Series are
told apart by colour and also by dash pattern (lines) or by order and labels (bars), so charts
stay readable when printed without colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from meterbook.reports.model import Chart

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
WIDTH, HEIGHT = 640, 260
_FONT = "Helvetica, Arial, sans-serif"


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _values(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _value(v) for k, v in row.items()} for row in rows]


def _base(title: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 13},
        "width": WIDTH,
        "height": HEIGHT,
        "data": {"values": _values(rows)},
        "config": {
            "font": _FONT,
            "view": {"stroke": None},
            "axis": {"labelFontSize": 10, "titleFontSize": 11, "gridColor": "#e6e6e6"},
            "legend": {"orient": "bottom", "labelFontSize": 10},
            "range": {"category": {"scheme": "tableau10"}},
        },
    }


def _x(field: str, title: str, temporal: bool) -> dict[str, Any]:
    if temporal:  # times are UTC instants or local dates written as UTC: no browser shift
        return {"field": field, "type": "temporal", "title": title, "scale": {"type": "utc"}}
    return {"field": field, "type": "ordinal", "title": title, "sort": None}


def line(
    name: str,
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    x: str,
    y: str,
    y_title: str,
    series: str | None = None,
    temporal: bool = True,
    x_title: str = "",
) -> Chart:
    """One line per ``series`` value (dashed differently), with points and tooltips."""
    spec = _base(title, rows)
    encoding: dict[str, Any] = {
        "x": _x(x, x_title, temporal),
        "y": {"field": y, "type": "quantitative", "title": y_title},
        "tooltip": [{"field": x}, {"field": y, "format": ",.2f"}],
    }
    if series:
        encoding["color"] = {"field": series, "type": "nominal", "title": None}
        encoding["strokeDash"] = {"field": series, "type": "nominal", "title": None}
        encoding["tooltip"].insert(0, {"field": series})
    spec["mark"] = {"type": "line", "point": len(rows) <= 62, "strokeWidth": 1.8}
    spec["encoding"] = encoding
    return Chart(name, title, spec)


def bar(
    name: str,
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    category: str,
    value: str,
    value_title: str,
    horizontal: bool = True,
) -> Chart:
    """Bars by ``category``, largest first, each labelled with its value."""
    spec = _base(title, rows)
    spec["height"] = max(120, min(22 * len(rows), 520)) if horizontal else HEIGHT
    cat = {
        "field": category,
        "type": "nominal",
        "title": None,
        "sort": "-x" if horizontal else None,
    }
    val = {"field": value, "type": "quantitative", "title": value_title}
    tooltip = [{"field": category}, {"field": value, "format": ",.2f"}]
    enc = {"y": cat, "x": val} if horizontal else {"x": cat, "y": val}
    spec["layer"] = [
        {"mark": {"type": "bar", "color": "#4c78a8"}, "encoding": {**enc, "tooltip": tooltip}},
        {
            "mark": {"type": "text", "align": "left", "dx": 3, "fontSize": 9}
            if horizontal
            else {"type": "text", "dy": -6, "fontSize": 9},
            "encoding": {**enc, "text": {"field": value, "format": ",.0f"}},
        },
    ]
    return Chart(name, title, spec)


def stacked(
    name: str,
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    x: str,
    y: str,
    y_title: str,
    series: str,
    temporal: bool = True,
    x_title: str = "",
) -> Chart:
    """Bars over ``x`` stacked by ``series``."""
    spec = _base(title, rows)
    spec["mark"] = {"type": "bar", "stroke": "white", "strokeWidth": 0.5}
    spec["encoding"] = {
        "x": {**_x(x, x_title, temporal), **({"timeUnit": "utcyearmonthdate"} if temporal else {})},
        "y": {"field": y, "type": "quantitative", "title": y_title, "stack": "zero"},
        "color": {"field": series, "type": "nominal", "title": None},
        "order": {"field": series},
        "tooltip": [{"field": series}, {"field": x}, {"field": y, "format": ",.2f"}],
    }
    return Chart(name, title, spec)


def interval(
    name: str,
    title: str,
    rows: Sequence[dict[str, Any]],
    *,
    category: str,
    value: str,
    value_title: str,
    intervals: Sequence[tuple[str, str]],
    mark: str | None = None,
    facet: str | None = None,
) -> Chart:
    """Horizontal bars of ``value`` per ``category``, each interval ``(low, high)`` drawn over
    its bar as a rule (the first thickest), and ``mark`` (a budget, say) as a red tick; one
    panel per ``facet`` value."""
    spec = _base(title, rows)
    height = max(60, min(26 * len({r[category] for r in rows}), 400))
    y = {"field": category, "type": "nominal", "title": None}
    x = {"type": "quantitative", "title": value_title}
    tooltip = [{"field": category}, {"field": value, "format": ",.2f"}]
    tooltip += [{"field": f, "format": ",.2f"} for pair in intervals for f in pair]
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "bar", "color": "#9ecae9"},
         "encoding": {"y": y, "x": {"field": value, **x}, "tooltip": tooltip}},
    ]  # fmt: skip
    for i, (low, high) in enumerate(intervals):
        layers.append(
            {"mark": {"type": "rule", "color": "#333333", "strokeWidth": max(3 - i * 2, 1)},
             "encoding": {"y": y, "x": {"field": low, **x}, "x2": {"field": high}}}
        )  # fmt: skip
    if mark:
        layers.append(
            {"mark": {"type": "tick", "color": "#e45756", "thickness": 3},
             "encoding": {"y": y, "x": {"field": mark, **x},
                          "tooltip": [{"field": category}, {"field": mark, "format": ",.2f"}]}}
        )  # fmt: skip
    if facet:
        del spec["width"], spec["height"]
        spec["facet"] = {"column": {"field": facet, "type": "ordinal", "title": None}}
        spec["spec"] = {"width": WIDTH // 2 - 20, "height": height, "layer": layers}
    else:
        spec["height"] = height
        spec["layer"] = layers
    return Chart(name, title, spec)
