"""The utilisation report's incidents and recommendations list the stored utilisation alerts."""

from __future__ import annotations

from datetime import date

from meterbook import alerts
from meterbook.alert_rules import UtilisationRule
from meterbook.periods import Period
from meterbook.reports.types import build_report
from meterbook.settings import Settings
from meterbook.store.core import Store
from tests.store.test_metrics import T0, batch, load
from tests.test_alert_utilisation import DAY, _samples

FEB = Period(date(2025, 2, 1), date(2025, 3, 1), "2025-02")


def test_incidents_and_recommendations_show_the_stored_alerts(
    store: Store, settings: Settings
) -> None:
    _samples(store)
    # dev-web-01 on 2025-02-15: 100 samples at 10 % then 3 at 90 %: an alert, yet its p95 over
    # the month is 10 % (the 97th of 103 sorted values) and its average 12.3 % with a
    # maximum of 91 %, so the computed rules recommend nothing for it.
    load(store, [batch("i-dev1", "CPUUtilization", [10.0] * 100 + [90.0] * 3, start=T0 + 2 * DAY)])
    rule = UtilisationRule(type="utilisation", name="util", lookback_days=3)
    raised = alerts.evaluate(store.engine, {"util": rule}, alerts.Context(date(2025, 2, 15),
                                                                          store.zone))  # fmt: skip
    assert len(raised.new) == 3
    db = next(a for a in raised.new if a.metric == "MemoryUsage")
    with store.engine.begin() as conn:
        alerts.acknowledge(conn, [db.id], "ops")
    with store.engine.connect() as conn:
        report = build_report(conn, "utilisation", FEB, settings)
        march = build_report(
            conn, "utilisation", Period(date(2025, 3, 1), date(2025, 4, 1), "2025-03"), settings
        )
    sections = {s.name: s for s in report.sections}
    table = next(t for t in sections["incidents"].tables if t.name == "incident_alerts")
    assert [(r["day"], r["subject"], r["metric"], r["severity"], r["peak"], r["status"])
            for r in table.records()] == [
        ("2025-02-13", "instance prod-web-01", "CPUUtilization", "high", 97.0, "open"),
        ("2025-02-14", "instance prod-db", "MemoryUsage", "medium", 93.0,
         "acknowledged by ops"),
        ("2025-02-15", "instance dev-web-01", "CPUUtilization", "medium", 90.0, "open"),
    ]  # fmt: skip
    assert "3 utilisation alert(s)" in " ".join(sections["incidents"].paragraphs)
    recs = {
        (r["instance"], r["metric"]): r["reason"]
        for r in sections["recommendations"].tables[0].records()
    }
    # The database's p95 over the month (4 samples: 91, 92, 93, 40) is above 80: the computed
    # rule recommends already. prod-web-01's p95 over 7 samples is 95.2 (> 80) too. Both come
    # from the computed rule, so no alert line repeats them.
    assert recs[("prod-db", "MemoryUsage")].startswith("p95")
    assert recs[("prod-web-01", "CPUUtilization")].startswith("p95")
    assert recs[("dev-web-01", "CPUUtilization")] == (
        "1 utilisation alert day(s), worst severity medium"
    )
    dev = next(r for r in sections["recommendations"].tables[0].records()
               if r["instance"] == "dev-web-01")  # fmt: skip
    assert (dev["environment"], dev["action"]) == ("DEV", "upsize or spread load")
    # Another month: no alert of its days.
    other = next(s for s in march.sections if s.name == "incidents")
    assert next(t for t in other.tables if t.name == "incident_alerts").rows == []
