"""Sending reports: a real SMTP server and a webhook receiver on loopback; a team-bound
recipient gets its team's figures only; a scope that cannot be honoured is refused before
anything is written; a failed delivery is recorded and the report kept."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from meterbook import org
from meterbook.delivery.config import EmailRecipient, RetryConfig, SmtpConfig, WebhookRecipient
from meterbook.errors import ConfigError
from meterbook.periods import parse_period
from meterbook.reports import publishing
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.schema import projects
from meterbook.store.schema_ops import deliveries
from tests.delivery.servers import hook_server, smtp_server
from tests.store.helpers import import_slurm
from tests.web.conftest import JOBS, write_jobs

OCTOBER = parse_period("2026-10")


def _ledger(store: Store, tmp_path: Path) -> None:
    import_slurm(store, write_jobs(tmp_path / "jobs.log", JOBS))
    with store.engine.begin() as conn:
        org.add(conn, "divisions", "science")
        org.add(conn, "teams", "ml", division="science")
        ml = org.get(conn, "teams", "ml").id
        conn.execute(update(projects).where(projects.c.name == "astro").values(team_id=ml))


def _settings(store: Store, tmp_path: Path, port: int, hook_url_env: str) -> Settings:
    smtp = SmtpConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from": "meterbook@example.org",
            "timeout": 10,
        }
    )
    return Settings(
        database_url=str(store.engine.url.render_as_string(hide_password=False)),
        smtp=smtp,
        recipients={
            "finance": EmailRecipient(kind="email", name="finance", to=["fin@example.org"]),
            "ml-lead": EmailRecipient(
                kind="email",
                name="ml-lead",
                to=["lead@example.org"],
                team="ml",
                subject="{title} for {team}",
            ),
            "science": WebhookRecipient(
                kind="webhook", name="science", url_env=hook_url_env, division="science"
            ),
        },
        delivery=RetryConfig(attempts=2, base_delay=0.01),
        reports_directory=tmp_path / "reports",
    )


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_each_recipient_gets_its_scope(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ledger(store, tmp_path)
    with smtp_server(tmp_path, "none") as smtp, hook_server() as hook:
        monkeypatch.setenv("MB_TEST_HOOK", hook.url("/science"))
        settings = _settings(store, tmp_path, smtp.port, "MB_TEST_HOOK")
        written, sent = publishing.publish(
            store, settings, "usage", OCTOBER, "html,xlsx,json", ["finance", "ml-lead", "science"]
        )
    assert [(s.recipient, s.team, s.result.status) for s in sent] == [
        ("finance", None, "sent"),
        ("ml-lead", "ml", "sent"),
        ("science", "ml", "sent"),
    ]
    folders = sorted(str(f.relative_to(tmp_path / "reports")) for _, f in written)
    assert folders == ["teams/ml/usage/2026-10", "usage/2026-10"]
    everything = sum(j.cpu_hours for j in JOBS)
    team_ml = sum(j.cpu_hours for j in JOBS if j.account == "astro")
    mails = {tuple(r.rcpt_tos): _parsed(r.content) for r in smtp.handler.received}
    finance, lead = mails[("fin@example.org",)], mails[("lead@example.org",)]
    assert f"{everything:,.2f}" in finance.get_body(("html",)).get_content()  # type: ignore[union-attr]
    lead_html = lead.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"{team_ml:,.2f}" in lead_html and f"{everything:,.2f}" not in lead_html
    assert lead["subject"] == "Usage report, 2026-10, team ml for ml"
    names = sorted(p.get_filename() for p in lead.iter_attachments() if p.get_filename())
    assert names == ["usage-2026-10.html", "usage-2026-10.xlsx"]
    assert "cid:" in lead_html
    assert any(p.get_content_type() == "image/png" for p in lead.walk())
    ((path, body),) = hook.requests
    assert path == "/science" and "team ml" in body["subject"]


def test_scope_that_cannot_be_honoured_is_refused_first(store: Store, tmp_path: Path) -> None:
    _ledger(store, tmp_path)
    settings = _settings(store, tmp_path, 1, "MB_TEST_HOOK_UNSET")
    with pytest.raises(ConfigError, match="bound to team 'ml', but the io report has no team"):
        publishing.publish(store, settings, "io", OCTOBER, "json", ["finance", "ml-lead"])
    with pytest.raises(ConfigError, match="cannot receive team 'web'"):
        publishing.publish(store, settings, "usage", OCTOBER, "json", ["ml-lead"], team="web")
    assert not (tmp_path / "reports").exists()


def test_a_failed_delivery_is_recorded_and_the_report_kept(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ledger(store, tmp_path)
    with hook_server() as hook:
        hook.statuses = [500, 500]
        monkeypatch.setenv("MB_TEST_HOOK", hook.url("/down"))
        settings = _settings(store, tmp_path, 1, "MB_TEST_HOOK")
        written, sent = publishing.publish(store, settings, "usage", OCTOBER, "json", ["science"])
    assert [(s.result.status, s.result.attempts) for s in sent] == [("failed", 2)]
    assert (written[0][1] / "usage-2026-10.json").is_file()
    with store.engine.connect() as conn:
        row = conn.execute(select(deliveries.c.status, deliveries.c.attempts)).one()
    assert tuple(row) == ("failed", 2)
