"""Alerts on every database: each rule type against figures computed here from the files the
tests write, each condition stored once, notifications after the commit, rule errors naming
the field."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from meterbook import alerts, allocations, budgets, org
from meterbook.alert_rules import (
    AllocationRule,
    AnomalyRule,
    BudgetRule,
    IoHeavyRule,
    UsageRule,
    builtin_rules,
    parse_alert_rules,
)
from meterbook.connectors.billing.connector import BillingReader
from meterbook.errors import ConfigError
from meterbook.settings import load_settings
from meterbook.spend import import_billing
from meterbook.store.core import Store
from meterbook.store.schema_billing import alerts as alerts_table
from tests.store.helpers import import_slurm
from tests.store.test_iolog import load
from tests.test_allocations import FOCUS_COLUMNS, JOBS, expected, per_day, write_slurm


def _ctx(store: Store, day: date) -> alerts.Context:
    return alerts.Context(day, store.zone)


# Budgets ------------------------------------------------------------------------------------

SPEND = [
    ("p-1", "100", "2024-09-01"),
    ("p-1", "300", "2024-09-03"),
    ("p-1", "500", "2024-09-10"),
    ("p-2", "80", "2024-09-02"),
]


def _spend(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "focus.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FOCUS_COLUMNS)
        for project, cost, day in SPEND:
            writer.writerow(
                [
                    "Acme",
                    project,
                    project,
                    "Compute",
                    "Usage",
                    cost,
                    cost,
                    "USD",
                    f"{day} 00:00:00",
                    f"{day} 01:00:00",
                    "vm hours",
                ]
            )
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.begin() as conn:
        org.add(conn, "teams", "ml")
        org.add(conn, "teams", "web")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-1")
        org.add(conn, "projects", "site", provider="Acme", team="web", external_id="p-2")
        budgets.set_budget(conn, "2024-09", "Acme", "ml", "1000")
        budgets.set_budget(conn, "2024-09", "Acme", "web", "400")


def _actual(team_projects: set[str], upto: date) -> Decimal:
    return sum(
        (Decimal(c) for p, c, d in SPEND if p in team_projects and date.fromisoformat(d) <= upto),
        Decimal(0),
    )


def test_budget_thresholds_on_actuals_are_raised_once(store: Store, tmp_path: Path) -> None:
    _spend(store, tmp_path)
    rule = BudgetRule(type="budget", name="budgets", basis=("actual",))
    rules = {"budgets": rule}
    early = alerts.evaluate(store.engine, rules, _ctx(store, date(2024, 9, 5)))
    # ml: 400 of 1000 (40%: nothing); web: 80 of 400 (20%: nothing).
    assert _actual({"p-1"}, date(2024, 9, 5)) == 400 and early.findings == []
    late = alerts.evaluate(store.engine, rules, _ctx(store, date(2024, 9, 12)))
    spent = _actual({"p-1"}, date(2024, 9, 12))
    assert spent == 900
    assert [(a.subject, a.threshold, a.severity, a.value) for a in late.new] == [
        ("team ml", Decimal(50), "low", Decimal(90)),
        ("team ml", Decimal(75), "low", Decimal(90)),
        ("team ml", Decimal(90), "medium", Decimal(90)),
    ]
    assert "900.00 USD spent by 2024-09-12 is 90.00% of its 2024-09 budget" in late.new[0].message
    again = alerts.evaluate(store.engine, rules, _ctx(store, date(2024, 9, 30)))
    assert (len(again.new), again.known) == (0, 3)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts_table)).scalar() == 3


def test_budget_forecast_basis_uses_the_month_end_projection(store: Store, tmp_path: Path) -> None:
    _spend(store, tmp_path)
    rule = BudgetRule(type="budget", name="b", basis=("forecast",), thresholds=(Decimal(100),))
    seen: list[date] = []

    def projection(ctx: alerts.Context, r: BudgetRule) -> dict[str, Decimal]:
        seen.append(ctx.as_of)
        return {"ml": Decimal("999.99"), "web": Decimal("401")}

    result = alerts.evaluate(
        store.engine, {"b": rule}, _ctx(store, date(2024, 9, 5)), forecast=projection
    )
    assert seen == [date(2024, 9, 5)]
    assert [(a.subject, a.metric, a.value, a.severity) for a in result.new] == [
        ("team web", "forecast % of budget", Decimal("100.25"), "high"),
    ]
    assert "projected for the month end" in result.new[0].message


# Allocations and usage ----------------------------------------------------------------------


def test_allocation_running_out_and_used_up(store: Store, tmp_path: Path) -> None:
    import_slurm(store, write_slurm(tmp_path / "jobs.log", JOBS))
    days = per_day(JOBS, "astro", "cpu_hours")
    as_of = date(2024, 3, 5)
    soon = expected(days, Decimal(500), date(2024, 3, 1), date(2024, 3, 31), as_of)
    assert soon["exhaustion"] == date(2024, 3, 7)  # 372 CPU hours in 5 days, 128 left
    with store.engine.begin() as conn:
        for name, amount in (("soon", "500"), ("gone", "300"), ("plenty", "100000")):
            allocations.add_allocation(
                conn,
                name,
                scope_kind="account",
                scope="astro",
                quantity="cpu_hours",
                amount=amount,
                start="2024-03-01",
                end="2024-03-31",
            )
    rule = AllocationRule(type="allocation", name="alloc", within_days=7)
    result = alerts.evaluate(store.engine, {"alloc": rule}, _ctx(store, as_of))
    found = {a.subject: a for a in result.new}
    assert set(found) == {"allocation soon", "allocation gone"}
    assert (found["allocation soon"].severity, found["allocation soon"].value) == ("medium", 2)
    assert "run out on 2024-03-07, 2 days after 2024-03-05" in found["allocation soon"].message
    assert found["allocation gone"].severity == "high"
    assert "used up" in found["allocation gone"].message
    narrow = AllocationRule(type="allocation", name="narrow", within_days=1)
    assert alerts.evaluate(store.engine, {"narrow": narrow}, _ctx(store, as_of)).new[0].subject == (
        "allocation gone"
    )


def test_gpu_hours_per_user_and_day_above_the_threshold(store: Store, tmp_path: Path) -> None:
    import_slurm(store, write_slurm(tmp_path / "jobs.log", JOBS))
    # Every job belongs to alice: her GPU hours per day, from the jobs of both accounts.
    daily: dict[date, Decimal] = {}
    for account in ("astro", "bio"):
        for day, hours in per_day(JOBS, account, "gpu_hours").items():
            daily[day] = daily.get(day, Decimal(0)) + hours
    as_of = date(2024, 3, 5)
    window = {d: v for d, v in daily.items() if date(2024, 2, 28) <= d <= as_of}
    over = {d: v for d, v in window.items() if v > 4}
    assert window[date(2024, 2, 29)] == 4  # exactly the threshold: not above it
    rule = UsageRule(type="usage", name="gpu")
    result = alerts.evaluate(store.engine, {"gpu": rule}, _ctx(store, as_of))
    got = {a.period: (a.value, a.severity) for a in result.new}
    want = {}
    for day, value in over.items():
        severity = "high" if value >= 16 else "medium" if value >= 8 else "low"
        want[day.isoformat()] = (value, severity)
    assert got == want and len(got) == 3
    assert all(a.subject == "user alice" for a in result.new)


# IO -----------------------------------------------------------------------------------------


def _io_block(epoch: int, sections: list[tuple[str, str, str, int]]) -> str:
    moment = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"Log: {moment} ({epoch})"]
    for direction, machine, user, count in sections:
        lines.append(f"@{direction}_client({machine},lab)[{user}(staff/lab)]:")
        lines.append(f"[1M, 2M)          {count} |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|")
    return "\n".join(lines) + "\n"


def test_io_operations_per_hour_above_the_threshold(store: Store, tmp_path: Path) -> None:
    first = int(datetime(2025, 3, 7, 10, tzinfo=UTC).timestamp())
    text = _io_block(
        first,
        [
            ("rd", "gpu01", "bob", 200_000),
            ("wr", "gpu01", "bob", 60_000),
            ("rd", "gpu02", "eve", 1_000),
        ],
    )
    text += _io_block(first + 3600, [("rd", "gpu01", "bob", 1_100_000)])
    text += _io_block(first + 7200, [("rd", "gpu01", "bob", 10)])
    path = tmp_path / "nfs.log"
    path.write_text(text)
    load(store, path)
    rule = IoHeavyRule(type="io-heavy", name="io")
    result = alerts.evaluate(store.engine, {"io": rule}, _ctx(store, date(2025, 3, 7)))
    assert [(a.subject, a.period, a.value, a.severity) for a in result.new] == [
        ("user bob", "2025-03-07 10:00", Decimal(260_000), "low"),
        ("user bob", "2025-03-07 11:00", Decimal(1_100_000), "high"),
    ]
    stricter = IoHeavyRule(type="io-heavy", name="io2", threshold=2_000_000)
    assert alerts.evaluate(store.engine, {"io2": stricter}, _ctx(store, date(2025, 3, 7))).new == []


# Notifications, listing, acknowledging ------------------------------------------------------


def test_notifications_follow_the_commit_and_failures_are_kept(
    store: Store, tmp_path: Path
) -> None:
    import_slurm(store, write_slurm(tmp_path / "jobs.log", JOBS))
    told: list[tuple[int, tuple[str, ...]]] = []

    def notifier(alert: alerts.Alert, recipients: object) -> None:
        with store.engine.connect() as conn:  # the alert is committed before anyone is told
            stored = conn.execute(
                select(alerts_table.c.id).where(alerts_table.c.id == alert.id)
            ).scalar()
        assert stored == alert.id
        told.append((alert.id, tuple(recipients)))  # type: ignore[arg-type]
        if alert.period == "2024-03-02":
            raise ConnectionError("relay refused")

    rule = UsageRule(type="usage", name="gpu", notify=("ops",))
    result = alerts.evaluate(
        store.engine, {"gpu": rule}, _ctx(store, date(2024, 3, 5)), notifier=notifier
    )
    assert len(told) == 3 and all(r == ("ops",) for _, r in told)
    assert (result.notified, result.notify_failed) == (2, 1)
    with store.engine.connect() as conn:
        stored = {a.period: a for a in alerts.list_alerts(conn)}
    assert stored["2024-03-02"].notify_error == "ConnectionError: relay refused"
    assert stored["2024-03-02"].notified_at is None
    assert (
        stored["2024-03-01"].notified_at is not None and stored["2024-03-01"].notify_error is None
    )


def test_list_filters_and_acknowledge(store: Store, tmp_path: Path) -> None:
    import_slurm(store, write_slurm(tmp_path / "jobs.log", JOBS))
    alerts.evaluate(
        store.engine, {"gpu": UsageRule(type="usage", name="gpu")}, _ctx(store, date(2024, 3, 5))
    )
    with store.engine.begin() as conn:
        listed = alerts.list_alerts(conn)
        assert [a.id for a in listed] == sorted((a.id for a in listed), reverse=True)
        assert len(alerts.list_alerts(conn, min_severity="high")) == 1
        done = alerts.acknowledge(conn, [listed[0].id], "alice")
        assert done[0].acknowledged_by == "alice" and not done[0].open
        assert len(alerts.list_alerts(conn, open_only=True)) == 2
        with pytest.raises(ConfigError, match="no alert 999"):
            alerts.acknowledge(conn, [999], "alice")


def test_dry_run_stores_nothing(store: Store, tmp_path: Path) -> None:
    import_slurm(store, write_slurm(tmp_path / "jobs.log", JOBS))
    rules = {"gpu": UsageRule(type="usage", name="gpu")}
    result = alerts.evaluate(store.engine, rules, _ctx(store, date(2024, 3, 5)), dry_run=True)
    assert len(result.findings) == 3 and result.new == []
    with store.engine.connect() as conn:
        assert alerts.list_alerts(conn) == []


# Rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x": {"type": "nope"}}, r"\[alerts.x\] type: 'nope' is not an alert type"),
        ({"x": {"type": "budget", "thresholds": [-5]}}, r"\[alerts.x\] thresholds: .*above 0"),
        ({"x": {"type": "usage", "metric": "bananas"}}, r"\[alerts.x\] metric: "),
        ({"x": {"type": "allocation", "within": 3}}, r"\[alerts.x\] within: "),
        ({"x": "budget"}, r"\[alerts.x\] must be a table"),
    ],
)
def test_rule_errors_name_the_rule_and_field(body: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_alert_rules(body, "meterbook.toml")
    assert "\n" not in str(raised.value)


def test_rules_from_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "meterbook.toml"
    path.write_text(
        '[alerts.team-budgets]\ntype = "budget"\nthresholds = [90, 50]\nnotify = ["ops"]\n'
        '[alerts.gpu]\ntype = "usage"\nthreshold = 2.5\nper = "account"\n'
    )
    settings = load_settings(path, env={})
    budget = settings.alert_rules["team-budgets"]
    assert isinstance(budget, BudgetRule)
    assert budget.thresholds == (Decimal(50), Decimal(90)) and budget.notify == ("ops",)
    gpu = settings.alert_rules["gpu"]
    assert isinstance(gpu, UsageRule) and gpu.threshold == Decimal("2.5") and gpu.per == "account"
    assert set(builtin_rules()) == {
        "budget",
        "allocation",
        "anomaly",
        "io-heavy",
        "gpu-per-user",
        "utilisation",
    }


# Forecast basis and anomalies, from the store ----------------------------------------------


def _daily_spend(store: Store, tmp_path: Path, spike: str | None = None) -> None:
    """Team ml spends 100 a day from 2024-08-01 to 2024-09-05; ``spike`` costs 1000."""
    path = tmp_path / "daily.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FOCUS_COLUMNS)
        day = date(2024, 8, 1)
        while day <= date(2024, 9, 5):
            cost = "1000" if spike == day.isoformat() else "100"
            writer.writerow(
                [
                    "Acme",
                    "p-1",
                    "p-1",
                    "Compute",
                    "Usage",
                    cost,
                    cost,
                    "USD",
                    f"{day} 00:00:00",
                    f"{day} 01:00:00",
                    "vm hours",
                ]
            )
            day = date.fromordinal(day.toordinal() + 1)
    import_billing(store, BillingReader("focus"), [str(path)])
    with store.engine.begin() as conn:
        org.add(conn, "teams", "ml")
        org.add(conn, "projects", "atlas", provider="Acme", team="ml", external_id="p-1")
        budgets.set_budget(conn, "2024-09", "Acme", "ml", "2500")


def test_budget_forecast_from_the_forecasts(store: Store, tmp_path: Path) -> None:
    _daily_spend(store, tmp_path)
    rule = BudgetRule(type="budget", name="b", forecast_method="naive")
    result = alerts.evaluate(store.engine, {"b": rule}, _ctx(store, date(2024, 9, 5)))
    assert result.failed == {}
    # Actual: 5 days x 100 = 500 (20%: nothing). Seasonal naive carries 100 a day to the
    # month end: 30 x 100 = 3000, 120% of 2500: every threshold.
    got = [(a.metric, a.threshold, a.value) for a in result.new]
    assert got == [("forecast % of budget", Decimal(t), Decimal(120)) for t in (50, 75, 90, 100)]


def test_anomaly_rule_stores_the_detector_findings(store: Store, tmp_path: Path) -> None:
    _daily_spend(store, tmp_path, spike="2024-09-05")
    rule = AnomalyRule(
        type="anomaly",
        name="a",
        kinds=("spend",),
        by=("team",),
        lookback_days=3,
        min_severity="medium",
    )
    result = alerts.evaluate(store.engine, {"a": rule}, _ctx(store, date(2024, 9, 5)))
    assert result.failed == {}
    assert [(a.subject, a.period, a.value, a.expected) for a in result.new] == [
        ("team ml", "2024-09-05", Decimal(1000), Decimal(100))
    ]
    assert result.new[0].severity == "high"
    again = alerts.evaluate(store.engine, {"a": rule}, _ctx(store, date(2024, 9, 6)))
    assert again.new == [] and again.known == 1


def test_alerts_reach_their_recipients_within_scope(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import update

    from meterbook.delivery.config import RetryConfig, WebhookRecipient
    from meterbook.settings import Settings
    from meterbook.store.schema import users
    from tests.delivery.servers import hook_server
    from tests.web.conftest import JOBS as WEB_JOBS
    from tests.web.conftest import write_jobs

    import_slurm(store, write_jobs(tmp_path / "jobs.log", WEB_JOBS))
    with store.engine.begin() as conn:
        org.add(conn, "teams", "ml")
        org.add(conn, "teams", "web")
        ids = {e.name: e.id for e in org.list_entries(conn, "teams")}
        conn.execute(
            update(users).where(users.c.name.in_(["alice", "bob"])).values(team_id=ids["ml"])
        )
        conn.execute(update(users).where(users.c.name == "carol").values(team_id=ids["web"]))
    with hook_server() as hook:
        monkeypatch.setenv("MB_TEST_HOOK_OPS", hook.url("/ops"))
        monkeypatch.setenv("MB_TEST_HOOK_WEB", hook.url("/web"))
        monkeypatch.setenv("MB_TEST_HOOK_ML", hook.url("/ml"))
        settings = Settings(
            database_url=str(store.engine.url.render_as_string(hide_password=False)),
            recipients={
                name: WebhookRecipient(kind="webhook", name=name, url_env=env, team=team)
                for name, env, team in (
                    ("ops", "MB_TEST_HOOK_OPS", None),
                    ("web-lead", "MB_TEST_HOOK_WEB", "web"),
                    ("ml-lead", "MB_TEST_HOOK_ML", "ml"),
                )
            },
            delivery=RetryConfig(attempts=1, base_delay=0),
        )
        rule = UsageRule(
            type="usage", name="gpu", threshold=Decimal(1), notify=("ops", "web-lead", "ml-lead")
        )
        result = alerts.evaluate(
            store.engine,
            {"gpu": rule},
            _ctx(store, date(2026, 10, 7)),
            notifier=alerts.delivery_notifier(store.engine, settings),
        )
    # GPU hours a day from the jobs: alice 2 on 10-01, bob 3 on 10-05 (both of team ml).
    assert sorted(a.subject for a in result.new) == ["user alice", "user bob"]
    paths = sorted(path for path, _ in hook.requests)
    assert paths == ["/ml", "/ml", "/ops", "/ops"]
    assert result.notified == 2 and result.notify_failed == 0
    assert any("user alice" in body["subject"] for _, body in hook.requests)
