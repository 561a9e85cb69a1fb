"""Match rules and API sources over the API: admins write, analysts read, others are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from meterbook.connectors.billing.connector import BillingReader
from meterbook.samples.cml_server import CmlServer, sample_workloads
from meterbook.sources import CmlSource
from meterbook.spend import import_billing
from meterbook.web import create_app
from tests.web.conftest import PASSWORD, Site

FOCUS = """ProviderName,SubAccountId,SubAccountName,ServiceName,ChargeCategory,BilledCost,\
BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeDescription
Acme,p-1,One,Compute,Usage,10.5,EUR,2026-10-01 00:00:00,2026-10-01 01:00:00,vm hours
Acme,p-2,Two,Storage,Usage,4,EUR,2026-10-02 00:00:00,2026-10-02 01:00:00,disk GB
"""


def _groups(client: TestClient) -> list[tuple[str, Decimal]]:
    """(group, billed cost) per line group; the decimal's scale is the database's own."""
    rows = client.get("/api/v1/spend", params={"period": "2026-10", "by": "group"}).json()
    return sorted((r["group"], Decimal(r["billed_cost"])) for r in rows["rows"])


def test_match_rules_are_written_by_admins_and_regroup_the_lines(
    site: Site, tmp_path: Path
) -> None:
    bill = tmp_path / "acme.csv"
    bill.write_text(FOCUS)
    import_billing(site.store, BillingReader("focus"), [str(bill)])
    root, ana, mia = site.login("root"), site.login("ana"), site.login("mia")
    assert root.get("/api/v1/match-rules").json()["rows"] == []
    rules = {"rules": [{"rank": 1, "groupname": "VMs", "textmatch": "^vm"},
                       {"rank": 9, "groupname": "Rest", "textmatch": "."}]}  # fmt: skip
    done = root.put("/api/v1/match-rules", json=rules)
    assert done.status_code == 200, done.text
    assert done.json() == {"rules": 2, "lines_moved": 2}
    assert _groups(root) == [("Rest", Decimal("4")), ("VMs", Decimal("10.5"))]
    listed = ana.get("/api/v1/match-rules").json()["rows"]
    assert [(r["ruleid"], r["groupname"], r["field"]) for r in listed] == [
        (1, "VMs", "metric"),
        (2, "Rest", "metric"),
    ]
    csv_text = ana.get("/api/v1/match-rules", params={"format": "csv"}).text
    assert csv_text.splitlines()[1].startswith("1,1,VMs,^vm,")
    # One more rule, ranked first, by service: the disk line moves to it.
    added = root.post(
        "/api/v1/match-rules",
        json={"rank": 0, "groupname": "Storage", "textmatch": "^Storage$", "field": "service"},
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"rules": 3, "lines_moved": 1}
    assert _groups(root) == [("Storage", Decimal("4")), ("VMs", Decimal("10.5"))]
    assert root.delete("/api/v1/match-rules/3").json() == {"rules": 2, "lines_moved": 1}
    assert root.delete("/api/v1/match-rules/3").status_code == 404
    # A bad rule changes nothing and names itself.
    bad = root.put("/api/v1/match-rules", json={"rules": [
        {"rank": 1, "groupname": "A", "textmatch": "("},
        {"rank": 2, "groupname": "B", "textmatch": ".", "prvid": "Nobody"},
    ]})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][-1] == "rules[0]"
    assert "textmatch" in bad.json()["detail"][0]["msg"]
    assert root.put("/api/v1/match-rules", json={"rules": [{"rank": "x"}]}).status_code == 422
    assert _groups(root) == [("Rest", Decimal("4")), ("VMs", Decimal("10.5"))]
    for refused in (ana, mia):
        assert refused.put("/api/v1/match-rules", json=rules).status_code == 403
        assert refused.delete("/api/v1/match-rules/1").status_code == 403
    assert mia.get("/api/v1/match-rules").status_code == 403


def test_sources_are_listed_checked_and_collected(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    with CmlServer(sample_workloads(40, start, end, seed=3)) as cml:
        monkeypatch.setenv("TEST_CML_KEY", cml.api_key)
        source = CmlSource(name="ml", type="cml", url=cml.url, api_key_env="TEST_CML_KEY")
        settings = site.settings.model_copy(
            update={"web_cookie_secure": False, "sources": {"ml": source}}
        )
        with TestClient(create_app(settings, site.store)) as app:
            root = _signed_in(app, "root")
            listed = root.get("/api/v1/sources").json()["rows"]
            assert [(r["name"], r["type"]) for r in listed] == [("ml", "cml")]
            assert root.post("/api/v1/sources/ml/check").json()["ok"] is True
            assert root.post("/api/v1/sources/nope/check").status_code == 404
            got = root.post("/api/v1/sources/ml/collect", json={"period": "2026-09"})
            assert got.status_code == 200, got.text
            first = got.json()["workloads"]
            assert first["inserted"] == 40 and first["rejected"] == 0
            again = root.post("/api/v1/sources/ml/collect", json={"period": "2026-09"})
            assert again.json()["workloads"]["unchanged"] == 40
            wrong = root.post("/api/v1/sources/ml/collect", json={"period": "2026-13"})
            assert wrong.status_code == 422
            ana = _signed_in(app, "ana")
            assert ana.get("/api/v1/sources").status_code == 200
            assert ana.post("/api/v1/sources/ml/collect").status_code == 403
            assert _signed_in(app, "mia").get("/api/v1/sources").status_code == 403
            monkeypatch.setenv("TEST_CML_KEY", "wrong")
            refused = root.post("/api/v1/sources/ml/check")
            assert refused.status_code == 502 and refused.json()["ok"] is False


def _signed_in(app: TestClient, login: str) -> TestClient:
    client = TestClient(app.app)
    signed = client.post("/api/v1/session", json={"login": login, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    client.headers["x-csrf-token"] = signed.json()["csrf_token"]
    return client
