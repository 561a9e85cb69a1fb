"""The chargeback statement and the spend report's forecasts, checked against the query
functions and :func:`meterbook.forecast.forecast` called directly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meterbook import forecast as forecasting
from meterbook import org
from meterbook.cli import demo
from meterbook.fx import FxRate
from meterbook.reports.output import write_report
from meterbook.reports.types import build_report
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.queries.charges import ChargeFilters, charges_summary
from meterbook.store.queries.fx import store_rates
from meterbook.store.queries.spend import SpendFilters, spend_summary
from tests.reports import formats as f
from tests.reports import ledger

TEAM = ledger.BUDGET_TEAM
USD_EUR = Decimal("0.9")


@pytest.fixture
def built(store: Store, settings: Settings, tmp_path: Path) -> tuple[Store, Settings, Path]:
    demo._demo_rates(store)  # EUR prices for the cluster: the Slurm records get charges
    ledger.build(store, settings, tmp_path / "data")
    return store, settings, tmp_path / "reports"


def _accounts(conn: Any, team: str) -> tuple[str, ...]:
    return tuple(e.name for e in org.list_entries(conn, "projects") if e.values["team"] == team)


def test_chargeback_statement_totals_and_conversion(built: tuple[Store, Settings, Path]) -> None:
    store, settings, base = built
    with store.engine.begin() as conn:
        store_rates(conn, [FxRate(date(2026, 9, 30), "USD", "EUR", USD_EUR)])
    with store.engine.connect() as conn:
        accounts = _accounts(conn, TEAM)
        assert set(ledger.TEAM_ACCOUNTS) <= set(accounts)
        # Stored currencies: charges in EUR (the rate card), spend in USD (the bills).
        charged = charges_summary(conn, ledger.MONTH, (), ChargeFilters(accounts=accounts))
        spent = spend_summary(conn, ledger.MONTH, (), SpendFilters(teams=(TEAM,)))
        assert set(charged.totals) == {"EUR"} and spent.currencies == ["USD"]
        eur_charges = charged.totals["EUR"]
        usd_spend = spent.total.billed_cost
        assert eur_charges > 0 and usd_spend > 0
        converted = spend_summary(conn, ledger.MONTH, (), SpendFilters(teams=(TEAM,)),
                                  currency="EUR").total.billed_cost  # fmt: skip
        # One rate for the whole month: the day-by-day conversion is the total at 0.9.
        assert abs(converted - usd_spend * USD_EUR) < Decimal("0.00001")
        stored = build_report(conn, "chargeback", ledger.MONTH, settings, team=TEAM)
        report = build_report(conn, "chargeback", ledger.MONTH, settings, team=TEAM,
                              currency="EUR")  # fmt: skip
        everyone = build_report(conn, "chargeback", ledger.MONTH, settings)
    slug = TEAM.replace("-", "_")
    # As stored: one totals line per currency.
    totals = next(t for t in stored.tables if t.name == f"{slug}_totals")
    assert totals.records() == [
        {"currency": "EUR", "charges": eur_charges, "spend": 0, "total": eur_charges},
        {"currency": "USD", "charges": 0, "spend": usd_spend, "total": usd_spend},
    ]
    # In EUR, in every data format.
    want = {"charges": eur_charges, "spend": converted, "total": eur_charges + converted}
    assert report.scope == {"team": TEAM, "currency": "EUR"}
    folder = write_report(report, base, "csv,json,xlsx,html,pdf,docx")
    csv_rows = f.csv_table(folder, report.slug, f"{slug}_totals")
    assert [(r["currency"], *(Decimal(r[k]) for k in want)) for r in csv_rows] == [
        ("EUR", *want.values())
    ]
    doc = f.json_doc(folder, report.slug)
    assert doc["scope"]["currency"] == "EUR"
    json_rows = f.json_table(doc, f"{slug}_totals")["rows"]
    assert [{k: Decimal(r[k]) for k in want} for r in json_rows] == [want]
    xlsx = f.xlsx_rows(folder, report.slug, f"{slug}_totals")
    assert [r["total"] for r in xlsx] == [pytest.approx(float(want["total"]), abs=1e-9)]
    overview = f.csv_table(folder, report.slug, "statements")
    assert overview[-1]["team"] == "total"
    assert Decimal(overview[-1]["total"]) == want["total"]
    # The printed formats show the same total, to the cent.
    shown = f.printed(want["total"])
    html = f.html_tables(folder, report.slug)["statements"]
    assert html["tfoot"][0][html["thead"][0].index("total")] == shown
    assert shown in f.pdf_text(folder, report.slug)
    assert any(grid[-1][-1] == shown for grid in f.docx_tables(folder, report.slug))
    # The charges by account and quantity: the query's rows, with the demo card's prices.
    with store.engine.connect() as conn:
        by = charges_summary(conn, ledger.MONTH, ("account", "quantity"),
                             ChargeFilters(accounts=accounts), currency="EUR")  # fmt: skip
    lines = f.csv_table(folder, report.slug, f"{slug}_charges")
    assert {(r["account"], r["quantity"]): Decimal(r["amount"]) for r in lines[:-1]} == {
        row.group: row.amount for row in by.rows
    }
    prices = {q: Decimal(str(p)) for q, _model, p in demo.DEMO_RATES}
    for r in lines[:-1]:
        if r["price"]:
            assert Decimal(r["price"]) == prices[r["quantity"]] and r["price_currency"] == "EUR"
    assert Decimal(lines[-1]["amount"]) == eur_charges
    # Provider spend and its tax and derived lines add up to the same billed cost.
    for table in (f"{slug}_spend", f"{slug}_derived"):
        got = f.csv_table(folder, report.slug, table)
        assert Decimal(got[-1]["billed_cost"]) == converted
        assert sum(Decimal(r["billed_cost"]) for r in got[:-1]) == converted
    # Unscoped: one statement per team with figures; the team's is the same.
    names = [s.name for s in everyone.sections]
    assert names[0] == "overview" and f"team_{slug}" in names and len(names) > 2
    same = next(t for t in everyone.tables if t.name == f"{slug}_totals")
    assert same.rows == totals.rows


def test_spend_forecast_section_equals_the_forecasts(built: tuple[Store, Settings, Path]) -> None:
    store, settings, base = built
    with store.engine.connect() as conn:
        days = [r.group[0] for r in spend_summary(conn, ledger.MONTH, ("day",)).rows]
        report = build_report(conn, "spend", ledger.MONTH, settings, forecast_method="naive")
    last = date.fromisoformat(max(days))
    section = next(s for s in report.sections if s.name == "forecast")
    assert {c.name for c in section.charts} == {"forecast_team", "forecast_provider"}
    for by in ("team", "provider"):
        direct = forecasting.forecast(store.engine, by=by, metric="cost", months=1,
                                      method="naive", as_of=last)  # fmt: skip
        want = {
            (m.month, s.key): (m.forecast, m.lo80, m.hi80, m.lo95, m.hi95, m.actual_to_date)
            for s in direct
            for m in s.months
        }
        assert {m for m, _ in want} == {"2026-10", "2026-11"}
        table = next(t for t in section.tables if t.name == f"forecast_by_{by}")
        got = {
            (r["month"], r[by]): (r["forecast"], r["lo80"], r["hi80"], r["lo95"], r["hi95"],
                                  r["actual_to_date"])
            for r in table.records()
        }  # fmt: skip
        assert got == want
    teams = next(t for t in section.tables if t.name == "forecast_by_team").records()
    genomics = next(r for r in teams if r["team"] == TEAM and r["month"] == "2026-10")
    assert genomics["budget"] == Decimal("0.01")
    assert genomics["difference"] == genomics["forecast"] - Decimal("0.01")
    assert all(r["budget"] is None for r in teams if r["team"] != TEAM)
    # Scoped to the team: its own series only, as forecast() gives them with the team filter.
    with store.engine.connect() as conn:
        scoped = build_report(conn, "spend", ledger.MONTH, settings, team=TEAM,
                              forecast_method="naive")  # fmt: skip
    direct = forecasting.forecast(
        store.engine, by="provider", months=1, method="naive", as_of=last,
        filters={"teams": (TEAM,)},
    )  # fmt: skip
    table = next(t for t in scoped.tables if t.name == "forecast_by_provider")
    assert {(r["month"], r["provider"]): r["forecast"] for r in table.records()} == {
        (m.month, s.key): m.forecast for s in direct for m in s.months
    }
    team_table = next(t for t in scoped.tables if t.name == "forecast_by_team")
    assert {r["team"] for r in team_table.records()} == {TEAM}
    folder = write_report(report, base, "png,svg")  # the interval charts render
    for name in ("forecast_team", "forecast_provider"):
        assert (folder / f"{report.slug}-{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert "<svg" in (folder / f"{report.slug}-{name}.svg").read_text(encoding="utf-8")


def test_report_currency_and_method_settings(tmp_path: Path) -> None:
    from meterbook.errors import ConfigError
    from meterbook.settings import load_settings

    config = tmp_path / "meterbook.toml"
    config.write_text('[reports]\ncurrency = "EUR"\nforecast_method = "naive"\n')
    loaded = load_settings(config, env={})
    assert (loaded.reports_currency, loaded.reports_forecast_method) == ("EUR", "naive")
    assert load_settings(None, env={}, discover=False).reports_forecast_method == "dubweb"
    config.write_text('[reports]\ncurrency = "euro"\n')
    with pytest.raises(ConfigError, match="reports_currency: String should match pattern"):
        load_settings(config, env={})
