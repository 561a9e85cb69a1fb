"""Every total in every format equals the store query that ``meterbook usage``, ``spend``,
``io`` and ``metrics`` answer from, computed here directly through the query functions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meterbook.budgets import over_under
from meterbook.errors import ConfigError
from meterbook.periods import Period, day_start
from meterbook.reports.output import write_report
from meterbook.reports.types import build_report
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.queries import io as io_queries
from meterbook.store.queries.metrics import MetricScope, metric_summary
from meterbook.store.queries.spend import SpendFilters, spend_summary, unallocated
from meterbook.store.queries.usage import UsageFilters, usage_summary
from tests.reports import formats as f
from tests.reports import ledger

FORMATS = "csv,json,xlsx,html,pdf,docx,png,svg"
#: (table, column) -> the expected total of that column.
Expected = dict[tuple[str, str], Any]


def _usage(conn: Any, team: str | None) -> Expected:
    accounts: tuple[str, ...] = ()
    if team:
        from meterbook import org

        accounts = tuple(
            e.name for e in org.list_entries(conn, "projects") if e.values["team"] == team
        )
    total = usage_summary(conn, ledger.MONTH, (), UsageFilters(accounts=accounts)).total
    out: Expected = {}
    for table in ("by_user", "by_project", "by_team", "by_workload", "by_cluster", "by_day"):
        for column in ("cpu_hours", "gpu_hours", "mem_gb_hours", "jobs_started"):
            out[(table, column)] = getattr(total, column)
    return out


def _spend(conn: Any, team: str | None) -> Expected:
    """The totals of `meterbook spend --by ...` for each table's grouping."""
    filters = SpendFilters(teams=(team,) if team else ())
    out: Expected = {}
    for table, by in (
        ("monthly_by_provider", ("month", "provider")), ("daily_by_provider", ("day", "provider")),
        ("by_division", ("division",)), ("by_team", ("team",)), ("by_project", ("project",)),
        ("by_group", ("group",)),
    ):  # fmt: skip
        total = spend_summary(conn, ledger.MONTH, by, filters).total
        out[(table, "billed_cost")] = total.billed_cost
        out[(table, "effective_cost")] = total.effective_cost
        out[(table, "lines")] = total.lines
    if not team:
        rows = unallocated(conn, ledger.MONTH)
        out[("unallocated", "billed_cost")] = sum((r.billed_cost for r in rows), Decimal(0))
        out[("unallocated", "lines")] = sum(r.lines for r in rows)
    return out


def _io(conn: Any, settings: Settings) -> Expected:
    stats = io_queries.io_stats(conn, io_queries.IoScope(ledger.MONTH, settings.zone))
    out: Expected = {}
    for table in ("daily", "users", "machines"):
        out[(table, "read_ops")] = stats.read_ops
        out[(table, "write_ops")] = stats.write_ops
        out[(table, "ops")] = stats.read_ops + stats.write_ops
    return out


def _check_totals(folder: Path, slug: str, expected: Expected, tables: list[Any]) -> None:
    labels = {t.name: {c.name: c.label for c in t.columns} for t in tables}
    doc = f.json_doc(folder, slug)
    html = f.html_tables(folder, slug)
    pdf = f.pdf_text(folder, slug)
    printed_tables = [t for t in tables if not t.data_only and t.rows]
    docx_tables = f.docx_tables(folder, slug)
    assert len(docx_tables) == len(printed_tables)
    for (table, column), value in expected.items():
        label = labels[table][column]
        where = f"{slug} {table}.{column}"
        csv_total = f.csv_table(folder, slug, table)[-1]
        assert csv_total[next(iter(csv_total))] == "total", where
        json_total = f.json_table(doc, table)["total"]
        xlsx_total = f.xlsx_rows(folder, slug, table)[-1]
        if isinstance(value, Decimal):
            assert Decimal(csv_total[column]) == value, where
            assert Decimal(json_total[column]) == value, where
            assert xlsx_total[label] == pytest.approx(float(value), abs=1e-9), where
        elif isinstance(value, int):
            assert int(csv_total[column]) == value, where
            assert json_total[column] == value and xlsx_total[label] == value, where
        else:
            assert float(csv_total[column]) == pytest.approx(value, rel=1e-9, abs=1e-6), where
            assert json_total[column] == pytest.approx(value, rel=1e-12), where
            assert xlsx_total[label] == pytest.approx(value, rel=1e-12), where
        # The printed formats: the same figure with two decimals (integers as they are).
        shown = f.printed(value)
        head = html[table]["thead"][0]
        assert html[table]["tfoot"][0][head.index(label)] == shown, where
        assert shown in pdf, where
        grid = docx_tables[[t.name for t in printed_tables].index(table)]
        assert grid[-1][grid[0].index(label)] == shown, where


def _check_documents(folder: Path, report: Any) -> None:
    """HTML self-contained with its charts; PDF charts as vector graphics; DOCX pictures."""
    import docx
    import pypdf

    page = (folder / f"{report.slug}.html").read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page and "vegaEmbed(" in page
    for chart in report.charts:
        assert chart.title in page
    reader = pypdf.PdfReader(folder / f"{report.slug}.pdf")
    assert sum(len(p.images) for p in reader.pages) == 0  # no raster: the charts are SVG
    text = "\n".join(p.extract_text() for p in reader.pages)
    for chart in report.charts:
        assert chart.title in text
    document = docx.Document(str(folder / f"{report.slug}.docx"))
    assert len(document.inline_shapes) == len(report.charts)


def _write(store: Store, settings: Settings, kind: str, folder: Path,
           team: str | None = None, formats: str = FORMATS) -> tuple[Path, Any]:  # fmt: skip
    with store.engine.connect() as conn:
        report = build_report(conn, kind, ledger.MONTH, settings, team=team)
    return write_report(report, folder, formats), report


@pytest.fixture
def built(store: Store, settings: Settings, tmp_path: Path) -> tuple[Store, Settings, Path]:
    ledger.build(store, settings, tmp_path / "data")
    return store, settings, tmp_path / "reports"


def test_every_total_in_every_format_equals_the_queries(
    built: tuple[Store, Settings, Path],
) -> None:
    store, settings, base = built
    with store.engine.connect() as conn:
        expected: dict[str, Callable[[], Expected]] = {
            "usage": lambda: _usage(conn, None),
            "spend": lambda: _spend(conn, None),
            "io": lambda: _io(conn, settings),
        }
        figures = {k: fn() for k, fn in expected.items()}
    assert figures["usage"][("by_user", "cpu_hours")] > 0
    assert figures["spend"][("by_team", "billed_cost")] > 0
    assert figures["spend"][("unallocated", "billed_cost")] > 0
    assert figures["io"][("users", "ops")] > 0
    with store.engine.connect() as conn:
        stats = io_queries.io_stats(conn, io_queries.IoScope(ledger.MONTH, settings.zone))
    for kind, want in figures.items():
        folder, report = _write(store, settings, kind, base)
        assert folder == base / kind / "2026-10"
        _check_totals(folder, report.slug, want, report.tables)
        for chart in report.charts:
            assert (folder / f"{report.slug}-{chart.name}.png").read_bytes()[:4] == b"\x89PNG"
            assert "<svg" in (folder / f"{report.slug}-{chart.name}.svg").read_text()
        _check_documents(folder, report)
        if kind == "usage":  # complete through the last day of each source's usage
            with store.engine.connect() as conn:
                everything = Period(date(2000, 1, 1), date(2100, 1, 1), "all")
                days = usage_summary(conn, everything, ("source", "day")).rows
            last: dict[str, str] = {}
            for r in days:
                last[r.group[0]] = max(last.get(r.group[0], ""), r.group[1])
            meta = f.json_doc(folder, report.slug)["sources"]
            assert {m["name"]: m["complete_through"] for m in meta} == last
            assert {m["data"] for m in meta} == {"usage"}
        if kind == "io":  # typed cells: times are datetimes in XLSX, ISO strings in JSON
            row = f.xlsx_rows(folder, report.slug, "totals")[0]
            assert row["first"] == stats.first.replace(tzinfo=None)
            assert row["last"] == stats.last.replace(tzinfo=None)
            assert row["log blocks"] == stats.blocks
        listed = f.json_doc(folder, report.slug)["files"]
        assert sorted(listed) == sorted(p.name for p in folder.iterdir())


def test_team_scope_and_budgets(built: tuple[Store, Settings, Path]) -> None:
    store, settings, base = built
    team = ledger.BUDGET_TEAM
    with store.engine.connect() as conn:
        want = _spend(conn, team)
        budget_rows = over_under(conn, ledger.MONTH, teams_=(team,)).rows
        everything = spend_summary(conn, ledger.MONTH).total.billed_cost
    assert 0 < want[("by_team", "billed_cost")] < everything
    folder, report = _write(store, settings, "spend", base, team)
    _check_totals(folder, report.slug, want, report.tables)
    teams = {r["team"] for r in f.csv_table(folder, report.slug, "by_team")[:-1]}
    assert teams == {team}
    rows = f.json_table(f.json_doc(folder, report.slug), "budget_vs_actual")["rows"]
    assert [(r["team"], Decimal(r["actual"]), Decimal(r["budget"]), r["status"],
             r["response"]) for r in rows] == [
        (b.team, b.actual, b.budget, b.status, b.response) for b in budget_rows
    ]  # fmt: skip
    assert rows[0]["status"] == "over" and rows[0]["response"] == "reviewing the cluster sizes"
    with store.engine.connect() as conn:
        usage_want = _usage(conn, team)
        all_cpu = usage_summary(conn, ledger.MONTH).total.cpu_hours
    assert 0 < usage_want[("by_user", "cpu_hours")] < all_cpu
    folder, report = _write(store, settings, "usage", base, team)
    _check_totals(folder, report.slug, usage_want, report.tables)


def test_utilisation_and_trends_match_the_metric_queries(
    built: tuple[Store, Settings, Path],
) -> None:
    store, settings, base = built
    start, end = (day_start(d, settings.zone).timestamp()
                  for d in (ledger.MONTH.start, ledger.MONTH.end))  # fmt: skip
    with store.engine.connect() as conn:
        envs = metric_summary(conn, start, end, MetricScope(sources=("ali",)),
                              level="environment")  # fmt: skip
        workbench = metric_summary(conn, start, end, MetricScope(sources=("ml",)))
    assert envs and workbench
    with store.engine.connect() as conn, pytest.raises(ConfigError, match="no team data"):
        build_report(conn, "utilisation", ledger.MONTH, settings, team=ledger.BUDGET_TEAM)
    folder, report = _write(store, settings, "utilisation", base, formats="csv,json,html")
    rows = f.csv_table(folder, report.slug, "by_environment")
    assert len(rows) == len(envs)
    by_key = {(r["environment"], r["metric"]): r for r in rows}
    html = f.html_tables(folder, report.slug)["by_environment"]
    shown = {(r[0], r[2]): r for r in html["tbody"]}
    for m in envs:
        row = by_key[(m.environment, m.metric)]
        assert int(row["samples"]) == m.samples and int(row["above"]) == m.above
        assert float(row["average"]) == pytest.approx(m.average)
        assert float(row["maximum"]) == pytest.approx(m.maximum)
        assert shown[(m.environment, m.metric)][6] == f.printed(m.average)
    pairs = {(m.environment, m.metric) for m in envs}
    assert len(report.charts) == len(pairs)
    incidents = f.json_table(f.json_doc(folder, report.slug), "incidents")["rows"]
    assert sum(r["above"] for r in incidents) == sum(m.above for m in envs)

    folder, report = _write(store, settings, "trends", base, formats="csv,json")
    stats = f.csv_table(folder, report.slug, "series_statistics")
    assert {r["series"] for r in stats} == {m.metric for m in workbench}
    for m in workbench:
        row = next(r for r in stats if r["series"] == m.metric)
        assert float(row["minimum"]) == pytest.approx(m.minimum)
        assert float(row["maximum"]) == pytest.approx(m.maximum)
