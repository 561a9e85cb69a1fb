"""Budgets on every database: exact amounts, clone without overwriting, over/under against the
spend rollup, errors naming the field, org removal refused while a budget refers to a row."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from meterbook import budgets, org
from meterbook.connectors.billing.connector import BillingReader
from meterbook.errors import ConfigError, ConflictError
from meterbook.periods import Period
from meterbook.spend import import_billing
from meterbook.store import migrate
from meterbook.store.core import Store
from meterbook.store.queries.spend import UNALLOCATED, SpendFilters, spend_summary
from tests.conftest import shared

SEPTEMBER = Period(date(2024, 9, 1), date(2024, 10, 1), "2024-09")
Q6 = Decimal("0.000001")


def _org(store: Store) -> None:
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "research")
        org.add(conn, "teams", "ml", division="research")
        org.add(conn, "teams", "web", division="research")
        org.add(conn, "providers", "Acme", currency="eur")
        org.add(conn, "providers", "Beta")


def test_set_keeps_exact_amounts_and_changes_in_place(store: Store) -> None:
    _org(store)
    with store.engine.begin() as conn:
        first, outcome = budgets.set_budget(
            conn, "2026-10", "Acme", "ml", "123456789.123456", comment="plan"
        )
        assert outcome == "added"
        assert first.amount == Decimal("123456789.123456")
        assert first.currency == "EUR"  # the provider's currency
        other, _ = budgets.set_budget(conn, "2026-10", "Beta", "ml", Decimal("0.000001"))
        assert (other.amount, other.currency) == (Decimal("0.000001"), "USD")
        _, outcome = budgets.set_budget(conn, "2026-10", "Acme", "ml", "123456789.123456")
        assert outcome == "unchanged"
        changed, outcome = budgets.set_budget(
            conn, "2026-10", "Acme", "ml", response="agreed", currency="chf"
        )
        assert outcome == "changed"
        assert (changed.amount, changed.comment, changed.response, changed.currency) == (
            Decimal("123456789.123456"), "plan", "agreed", "CHF",
        )  # fmt: skip
        cleared, _ = budgets.set_budget(conn, "2026-10", "Acme", "ml", comment="")
        assert cleared.comment is None
    with store.engine.connect() as conn:
        listed = budgets.list_budgets(conn)
        assert [(b.month, b.provider, b.team) for b in listed] == [
            ("2026-10", "Acme", "ml"),
            ("2026-10", "Beta", "ml"),
        ]
        assert sum(b.amount for b in listed) == Decimal("123456789.123457")
        assert budgets.list_budgets(conn, providers_=["Beta"])[0].amount == Decimal("0.000001")
        assert budgets.list_budgets(conn, teams_=["web"]) == []
        assert budgets.list_budgets(conn, months=["2026-11"]) == []
    with store.engine.begin() as conn:
        budgets.remove_budget(conn, "2026-10", "Beta", "ml")
        with pytest.raises(ConfigError, match="no budget for team 'ml' at provider 'Beta'"):
            budgets.remove_budget(conn, "2026-10", "Beta", "ml")
    with store.engine.connect() as conn:
        assert len(budgets.list_budgets(conn)) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2026-13", "Acme", "ml", "5"), "month: '2026-13' is not a month \\(YYYY-MM"),
        (("26-10", "Acme", "ml", "5"), "month: '26-10' is not a month"),
        (("2026-10", "Acme", "nobody", "5"), "team: team 'nobody' does not exist"),
        (("2026-10", "Nope", "ml", "5"), "provider: provider 'Nope' does not exist"),
        (("2026-10", "Acme", "ml", "-5"), r"amount: must not be negative \(-5\)"),
        (("2026-10", "Acme", "ml", "1.0000001"), "amount: at most 6 decimals"),
        (("2026-10", "Acme", "ml", "ten"), "amount: 'ten' is not an amount"),
        (("2026-10", "Acme", "ml", "NaN"), "amount: 'NaN' is not an amount"),
        (("2026-10", "Acme", "ml", None), "amount: required for a new budget"),
    ],
)
def test_set_errors_name_the_field(
    store: Store, args: tuple[str, str, str, str | None], message: str
) -> None:
    _org(store)
    with pytest.raises(ConfigError, match=message) as raised, store.engine.begin() as conn:
        budgets.set_budget(conn, *args)
    assert "\n" not in str(raised.value)
    with store.engine.connect() as conn:
        assert budgets.list_budgets(conn) == []


def test_clone_never_overwrites_and_counts_skips(store: Store) -> None:
    _org(store)
    with store.engine.begin() as conn:
        budgets.set_budget(conn, "2026-10", "Acme", "ml", "100.25", response="ok")
        budgets.set_budget(conn, "2026-10", "Acme", "web", "50")
        budgets.set_budget(conn, "2026-10", "Beta", "ml", "7.000001")
        budgets.set_budget(conn, "2026-11", "Acme", "web", "75", comment="raised")
        result = budgets.clone(conn, "2026-10", "2026-11")
    assert (result.created, result.skipped) == (2, 1)
    with store.engine.connect() as conn:
        october = {(b.provider, b.team): b for b in budgets.list_budgets(conn, months=["2026-10"])}
        november = {(b.provider, b.team): b for b in budgets.list_budgets(conn, months=["2026-11"])}
    assert november.keys() == october.keys()
    assert (november[("Acme", "web")].amount, november[("Acme", "web")].comment) == (
        Decimal(75), "raised",
    )  # fmt: skip
    for key in (("Acme", "ml"), ("Beta", "ml")):
        assert november[key].amount == october[key].amount
        assert november[key].currency == october[key].currency
        assert november[key].comment == "Cloned from 2026-10"
        assert november[key].response is None
    with store.engine.begin() as conn:
        again = budgets.clone(conn, "2026-10", "2026-11")
        assert (again.created, again.skipped) == (0, 3)
        empty = budgets.clone(conn, "2025-01", "2025-02")
        assert (empty.created, empty.skipped) == (0, 0)
        with pytest.raises(ConfigError, match="to month: the same month"):
            budgets.clone(conn, "2026-10", "2026-10")
        with pytest.raises(ConfigError, match="from month: 'October' is not a month"):
            budgets.clone(conn, "October", "2026-10")


def test_org_removal_refused_while_a_budget_refers(store: Store) -> None:
    _org(store)
    with store.engine.begin() as conn:
        budgets.set_budget(conn, "2026-10", "Beta", "web", "1")
    for kind, name in (("teams", "web"), ("providers", "Beta")):
        with pytest.raises(ConflictError) as raised, store.engine.begin() as conn:
            org.remove(conn, kind, name)
        assert "1 budget refers to it" in str(raised.value)
    with store.engine.begin() as conn:
        budgets.remove_budget(conn, "2026-10", "Beta", "web")
        org.remove(conn, "teams", "web")
        org.remove(conn, "providers", "Beta")


# Over/under ---------------------------------------------------------------------------------

FOCUS_COLUMNS = [
    "ProviderName", "SubAccountId", "SubAccountName", "ServiceName", "ChargeCategory",
    "BilledCost", "EffectiveCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
    "ChargeDescription",
]  # fmt: skip


def _focus(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Lines of (provider, project id, billed cost, day) one hour long."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FOCUS_COLUMNS)
        for provider, project, cost, day in rows:
            writer.writerow([provider, project, project, "Compute", "Usage", cost, cost, "USD",
                             f"{day} 00:00:00", f"{day} 01:00:00", "vm hours"])  # fmt: skip
    return path


def _expected_from_file(
    path: Path, owners: dict[tuple[str, str], str], tax: dict[str, Decimal]
) -> dict[tuple[str, str, str], Decimal]:
    """(month, provider, team) -> billed cost with the provider's tax, computed from the file."""
    out: dict[tuple[str, str, str], Decimal] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            provider = row["ProviderName"]
            team = owners.get((provider, row["SubAccountId"]), UNALLOCATED)
            month = row["ChargePeriodStart"][:7]
            cost = Decimal(row["BilledCost"]) * (1 + tax.get(provider, Decimal(0)) / 100)
            key = (month, provider, team)
            out[key] = out.get(key, Decimal(0)) + cost
    return out


def test_over_under_matches_the_spend_rollup(store: Store, tmp_path: Path) -> None:
    path = _focus(tmp_path / "f.csv", [
        ("Acme", "p-ml", "100.125", "2024-09-03"),
        ("Acme", "p-ml", "20.000001", "2024-10-30"),
        ("Acme", "p-web", "40.5", "2024-09-10"),
        ("Acme", "p-none", "3.75", "2024-09-11"),
        ("Beta", "b-ml", "9.99", "2024-09-28"),
    ])  # fmt: skip
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "research")
        org.add(conn, "teams", "ml", division="research")
        org.add(conn, "teams", "web", division="research")
        org.add(conn, "teams", "ops", division="research")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-ml")
        org.add(conn, "projects", "orion", provider="Acme", team="web", external_id="p-web")
        org.add(conn, "projects", "nimbus", provider="Beta", team="ml", external_id="b-ml")
        org.edit(conn, "providers", "Acme", tax_rate="10")  # derived tax lines count as actual
        budgets.set_budget(conn, "2024-09", "Acme", "ml", "100", response="training run")
        budgets.set_budget(conn, "2024-09", "Beta", "ml", "20")
        budgets.set_budget(conn, "2024-09", "Acme", "web", "44.55")
        budgets.set_budget(conn, "2024-09", "Acme", "ops", "10")
        budgets.set_budget(conn, "2024-10", "Acme", "ml", "5")
    owners = {("Acme", "p-ml"): "ml", ("Acme", "p-web"): "web", ("Beta", "b-ml"): "ml"}
    expected = _expected_from_file(path, owners, {"Acme": Decimal(10)})
    period = Period(date(2024, 9, 15), date(2024, 10, 2), "Sep-Oct")  # whole months count

    with store.engine.connect() as conn:
        by_team = budgets.over_under(conn, period)
        by_provider = budgets.over_under(conn, period, by_provider=True)
        rollup = spend_summary(
            conn, Period(date(2024, 9, 1), date(2024, 11, 1), "x"), ("month", "team")
        )
        ml_only = budgets.over_under(conn, period, teams_=["ml"], providers_=["Acme"])
        listed = budgets.list_budgets(conn)
    assert (by_team.period.start, by_team.period.end) == (date(2024, 9, 1), date(2024, 11, 1))

    planned: dict[tuple[str, str, str], Decimal] = {
        (b.month, b.provider, b.team): b.amount for b in listed
    }
    # Per provider, team and month: the file's own sums (tax included) against the budgets.
    keys = sorted(expected.keys() | planned.keys())
    assert [(r.month, r.provider, r.team) for r in by_provider.rows] == keys
    for row in by_provider.rows:
        key = (row.month, row.provider or "", row.team)
        assert row.actual.quantize(Q6) == expected.get(key, Decimal(0)).quantize(Q6)
        assert row.budget == planned.get(key, Decimal(0))
        assert row.difference == row.actual - row.budget
        if key not in planned:
            assert row.status == budgets.NO_BUDGET
        elif row.actual.quantize(Q6) == row.budget:
            assert row.status == budgets.ON_BUDGET
        else:
            want = budgets.OVER if row.actual > row.budget else budgets.UNDER
            assert row.status == want

    # Per team and month: exactly spend_summary's figures, budgets summed over providers.
    actual = {r.group: r.billed_cost for r in rollup.rows}
    team_budget: dict[tuple[str, str], Decimal] = {}
    for (month, _provider, team), amount in planned.items():
        team_budget[(month, team)] = team_budget.get((month, team), Decimal(0)) + amount
    team_keys = sorted(actual.keys() | team_budget.keys())
    assert [(r.month, r.team) for r in by_team.rows] == team_keys
    rows = {(r.month, r.team): r for r in by_team.rows}
    for key in team_keys:
        assert rows[key].actual == actual.get(key, Decimal(0))
        assert rows[key].budget == team_budget.get(key, Decimal(0))
    assert rows[("2024-09", UNALLOCATED)].status == budgets.NO_BUDGET
    assert rows[("2024-09", UNALLOCATED)].budget == 0
    assert rows[("2024-09", "ops")].actual == 0  # a budget without spend
    assert rows[("2024-09", "ops")].status == budgets.UNDER
    assert rows[("2024-09", "ml")].response == "Acme: training run"

    assert {(r.month, r.provider, r.team) for r in ml_only.rows} == {
        ("2024-09", None, "ml"),
        ("2024-10", None, "ml"),
    }
    with store.engine.connect() as conn:
        acme_ml = spend_summary(
            conn, Period(date(2024, 9, 1), date(2024, 11, 1), "x"), ("month",),
            SpendFilters(providers=("Acme",), teams=("ml",)),
        )  # fmt: skip
    assert {r.month: r.actual for r in ml_only.rows} == {
        r.group[0]: r.billed_cost for r in acme_ml.rows
    }


def test_over_under_on_the_shared_focus_sample(store: Store) -> None:
    path = shared("billing", "focus-1.0-sample.csv")
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "research")
        org.add(conn, "teams", "ml", division="research")
        org.add(conn, "projects", "atlas", provider="AWS", team="ml", external_id="11353890204")
        budgets.set_budget(conn, "2024-09", "AWS", "ml", "10")
        report = budgets.over_under(conn, SEPTEMBER)
        rollup = spend_summary(conn, SEPTEMBER, ("month", "team"))
    assert {(r.month, r.team): r.actual for r in report.rows} == {
        r.group: r.billed_cost for r in rollup.rows
    }
    ml = next(r for r in report.rows if r.team == "ml")
    assert ml.budget == Decimal(10)
    assert ml.status == (budgets.OVER if ml.actual > 10 else budgets.UNDER)


def test_migration_0005_downgrades_and_upgrades(store: Store) -> None:
    config = migrate._config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    assert "budgets" not in inspect(store.engine).get_table_names()
    migrate.upgrade(store.engine)
    assert "budgets" in inspect(store.engine).get_table_names()
