"""The demo's finance and access set-up: cluster accounts attributed to teams, budgets and an
allocation, the alert rules evaluated, the dashboard's sign-in accounts, and serving it.

Everything here keeps what exists (running the demo again changes nothing it already set),
except the demo admin's password, which is new at each run and printed.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import click
from sqlalchemy import select

from meterbook import alerts, allocations, auth, budgets, org
from meterbook.alert_rules import (
    AlertRule,
    AllocationRule,
    AnomalyRule,
    BudgetRule,
    IoHeavyRule,
    UsageRule,
    UtilisationRule,
)
from meterbook.cli.output import print_table
from meterbook.periods import Period, parse_period
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.queries.spend import SpendFilters, spend_summary
from meterbook.store.queries.usage import usage_summary
from meterbook.store.schema import projects

#: Cluster accounts by prefix -> the team they belong to.
ACCOUNT_TEAMS = {
    "astro": "climate", "phys": "climate", "geo": "climate", "bio": "genomics",
    "med": "genomics", "chem": "ml-research", "math": "ml-research", "cs": "ml-research",
    "eng": "platform",
}  # fmt: skip
#: Budget of each team as a share of what it spent, per month (some over, some under).
BUDGET_SHARE = {
    "climate": Decimal("1.10"), "genomics": Decimal("0.85"), "it-ops": Decimal("1.25"),
    "ml-research": Decimal("0.95"), "platform": Decimal("1.05"), "web": Decimal("1.40"),
}  # fmt: skip
BUDGET_MONTHS = ("2026-08", "2026-09", "2026-10", "2026-11")
ALERTS_AS_OF = date(2026, 10, 31)
ALLOCATION = "climate-cpu-2026"
DEMO_MANAGER = ("mia", "genomics")
DEMO_PASSWORD_BYTES = 12


def demo_rules() -> dict[str, AlertRule]:
    """The built-in rules, with quick month-end forecasts (seasonal naive) for the budgets and
    a month of utilisation."""
    return {
        "budget": BudgetRule(type="budget", name="budget", forecast_method="naive"),
        "allocation": AllocationRule(type="allocation", name="allocation", within_days=60),
        "anomaly": AnomalyRule(type="anomaly", name="anomaly", min_severity="high"),
        "io-heavy": IoHeavyRule(type="io-heavy", name="io-heavy"),
        "gpu-per-user": UsageRule(type="usage", name="gpu-per-user"),
        # The demo's CloudMonitor samples are of 8-21 October: look back over the month.
        "utilisation": UtilisationRule(type="utilisation", name="utilisation", lookback_days=31),
    }


def attribute_accounts(store: Store) -> int:
    """Give the cluster accounts without a team the team of their prefix; returns how many."""
    changed = 0
    with store.engine.begin() as conn:
        known = {e.name for e in org.list_entries(conn, "teams")}
        rows = conn.execute(
            select(projects.c.name).where(projects.c.team_id.is_(None),
                                          projects.c.provider_id.is_(None))
        ).all()  # fmt: skip
        for (name,) in rows:
            team = ACCOUNT_TEAMS.get(name.split("-")[0])
            if team in known:
                org.edit(conn, "projects", name, team=team)
                changed += 1
    return changed


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal(10), rounding=ROUND_HALF_UP)


def set_budgets(store: Store) -> int:
    """Budgets per month, provider and team where none is set: a share of the spend of the
    month (November: of October's), so that the over/under and the alerts have something to
    say. Returns how many were added."""
    added = 0
    with store.engine.begin() as conn:
        for month in BUDGET_MONTHS:
            basis = "2026-10" if month == "2026-11" else month
            spend = spend_summary(conn, parse_period(basis), ("provider", "team"),
                                  SpendFilters())  # fmt: skip
            for row in spend.rows:
                provider, team = row.group
                share = BUDGET_SHARE.get(team)
                if share is None or budgets.get_budget(conn, month, provider, team) is not None:
                    continue
                budgets.set_budget(conn, month, provider, team, _round(row.billed_cost * share),
                                   comment="demo budget")  # fmt: skip
                added += 1
    return added


def set_allocation(store: Store) -> bool:
    """An allocation of CPU hours for the busiest climate account, sized to run out before
    the end of 2026 at the rate of August to October (a case for the allocation alert)."""
    with store.engine.begin() as conn:
        if any(a.name == ALLOCATION for a in allocations.list_allocations(conn)):
            return False
        period = Period(date(2026, 8, 1), date(2026, 11, 1), "2026-08..2026-10")
        used = usage_summary(conn, period, ("account",)).rows
        climate = [r for r in used if ACCOUNT_TEAMS.get(r.group[0].split("-")[0]) == "climate"]
        if not climate:
            return False
        top = climate[0]
        amount = _round(Decimal(repr(top.cpu_hours)) * Decimal("1.3"))
        allocations.add_allocation(
            conn, ALLOCATION, scope_kind="account", scope=top.group[0], quantity="cpu_hours",
            amount=str(amount), start="2026-08-01", end="2026-12-31",
            comment="demo: CPU hours of the climate team's largest account",
        )  # fmt: skip
    return True


def evaluate_alerts(store: Store, settings: Settings) -> None:
    context = alerts.Context(ALERTS_AS_OF, store.zone, settings.io_heavy_threshold)
    quiet = logging.getLogger("meterbook.alerts")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the rules name no recipient: each alert would be logged
    try:
        result = alerts.evaluate(store.engine, demo_rules(), context)
    finally:
        quiet.setLevel(level)
    with store.engine.connect() as conn:
        stored = alerts.list_alerts(conn)
    counts: dict[tuple[str, str], int] = {}
    for a in stored:
        counts[(a.rule, a.severity)] = counts.get((a.rule, a.severity), 0) + 1
    rows = [(rule, sev, n) for (rule, sev), n in sorted(counts.items())]
    print_table(("rule", "severity", "alerts"), rows, title=f"Alerts as of {ALERTS_AS_OF}",
                numeric_from=2)  # fmt: skip
    click.echo(f"{len(result.new)} new, {result.known} already raised "
               "(`meterbook alerts --open`)")  # fmt: skip
    top = [a for a in stored if a.severity == "high"][:5] or stored[:5]
    for a in top:
        click.echo(f"  [{a.severity}] {a.message}")
    for name, reason in result.failed.items():
        click.echo(f"  rule {name} could not be checked: {reason}")


@dataclass(frozen=True)
class DemoLogin:
    login: str
    password: str


def web_accounts(store: Store) -> DemoLogin:
    """The dashboard's accounts: an admin (a new password each run), a manager of genomics
    and a member (the busiest user), the latter two sharing the admin's password."""
    password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
    with store.engine.begin() as conn:
        if auth.find_account(conn, "admin") is None:
            auth.create_account(conn, "admin", password, "admin", display_name="Demo admin")
        else:
            auth.set_password(conn, "admin", password)
        login, team = DEMO_MANAGER
        if auth.find_account(conn, login) is None:
            auth.create_account(conn, login, password, "manager", teams_=[team])
        else:
            auth.set_password(conn, login, password)
        busiest = usage_summary(conn, parse_period("2026-10"), ("user",), top=1).rows
        if busiest:
            user = busiest[0].group[0]
            if auth.find_account(conn, user) is None:
                auth.create_account(conn, user, password, "member", ledger_user=user)
            else:
                auth.set_password(conn, user, password)
    return DemoLogin("admin", password)


def serve(settings: Settings, login: DemoLogin, port: int) -> None:
    """Serve the dashboard on the demo ledger until Ctrl-C (with pooled connections, as
    ``meterbook serve`` does)."""
    import uvicorn

    from meterbook.store.core import open_store
    from meterbook.web import create_app

    store = open_store(settings, pooled=True)
    app = create_app(settings, store)
    click.echo(
        f"\nDashboard: http://127.0.0.1:{port}/  sign in as {login.login} / {login.password}\n"
        f"(also {DEMO_MANAGER[0]}, manager of {DEMO_MANAGER[1]}, with the same password; "
        "API docs at /api/v1/docs; Ctrl-C stops)"
    )
    try:
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    finally:
        store.engine.dispose()
