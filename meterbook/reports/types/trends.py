"""The trends report (the ML workbench trend report): resource time series of workbenches per
series (CPU, memory, GPU in use) and combined, with per-series statistics, from ``meterbook
metrics`` queries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from meterbook.collecting import WORKBENCH
from meterbook.reports import charts
from meterbook.reports.model import Column, Section, Table
from meterbook.reports.types import Context, ReportType, register
from meterbook.reports.types.common import seconds
from meterbook.store.queries.metrics import MetricScope, SeriesPoint, metric_series, pairs


def _series(ctx: Context) -> list[SeriesPoint]:
    def run() -> list[SeriesPoint]:
        start, end = seconds(ctx)
        workbench = sorted(
            {p.source for p in pairs(ctx.conn, MetricScope()) if p.kind == WORKBENCH}
        )
        if not workbench:
            return []
        found = metric_series(ctx.conn, start, end, MetricScope(sources=tuple(workbench)),
                              grain="hour", zone=ctx.zone)  # fmt: skip
        ctx.rows_read += len(found)
        return [p for p in found if p.average is not None]

    return ctx.shared("trends", run)  # type: ignore[no-any-return]


def statistics(ctx: Context) -> Section:
    by: dict[tuple[str, str], list[SeriesPoint]] = defaultdict(list)
    for p in _series(ctx):
        by[(p.instance, p.metric)].append(p)
    rows = []
    for (instance, metric), points in sorted(by.items()):
        values = [p.average for p in points if p.average is not None]
        lows = [p.minimum if p.minimum is not None else p.average for p in points]
        highs = [p.maximum if p.maximum is not None else p.average for p in points]
        rows.append([
            instance, metric, sum(p.samples for p in points),
            min(v for v in lows if v is not None), max(v for v in highs if v is not None),
            sum(values) / len(values), points[0].time, points[-1].time,
        ])  # fmt: skip
    table = Table(
        "series_statistics", "Series statistics",
        [Column("workbench", "workbench"), Column("series", "series"),
         Column("points", "points", "int"), Column("minimum", "min", "float"),
         Column("maximum", "max", "float"), Column("average", "avg of hours", "float"),
         Column("first", "first", "datetime"), Column("last", "last", "datetime")],
        rows,
    )  # fmt: skip
    return Section(
        "statistics", "Series statistics",
        ["Amounts in use across each workbench (CPUs, memory, GPUs), averaged per hour."
         if rows else "No workbench time series in this period."],
        [table],
    )  # fmt: skip


def combined(ctx: Context) -> Section:
    points = _series(ctx)
    names = sorted({p.metric for p in points})
    grid: dict[tuple[datetime, str], dict[str, Any]] = {}
    for p in points:
        grid.setdefault((p.time, p.instance), {})[p.metric] = p.average
    rows = [
        [t, inst, *(values.get(n) for n in names)] for (t, inst), values in sorted(grid.items())
    ]
    table = Table(
        "combined", "Combined series by hour",
        [Column("time", "time", "datetime"), Column("workbench", "workbench"),
         *(Column(n, n, "float") for n in names)],
        rows, data_only=True,
        note="One row per hour and workbench (CSV, JSON and XLSX only).",
    )  # fmt: skip
    per_series = []
    for name in names:
        rows_ = [{"time": p.time, "workbench": p.instance, "value": p.average}
                 for p in points if p.metric == name]  # fmt: skip
        per_series.append(
            charts.line(
                f"series_{name}",
                f"{name} in use by hour",
                rows_,
                x="time",
                y="value",
                y_title=name,
                series="workbench",
            )
        )
    return Section("series", "Series", [], [table], per_series)


register(
    ReportType(
        "trends",
        "Resource trends report",
        "Workbench resource time series (CPU, memory, GPU) per series and combined",
        [statistics, combined],
        source_data=("metrics",),
        source_kinds=("cml",),
        team_scoped=False,
    )
)
