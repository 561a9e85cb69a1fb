"""E-mail delivery against a real SMTP server on loopback (aiosmtpd): SSL, STARTTLS, AUTH;
what it received is parsed back with the email package."""

from __future__ import annotations

import email
import logging
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from meterbook.delivery import Message, deliver
from meterbook.delivery.config import EmailRecipient, RetryConfig, SmtpConfig
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.schema_ops import deliveries
from tests.delivery.servers import PASSWORD, USER, smtp_server

# Implicit TLS (SSL) is TLS from the first byte, which aiosmtpd cannot tell when it warns.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3
TO = ["finance@example.org", "cto@example.org"]
CC = ["ops@example.org"]


def _settings(store: Store, port: int, security: str, ca: Path, attempts: int = 3) -> Settings:
    smtp = SmtpConfig.model_validate({
        "host": "127.0.0.1", "port": port, "security": security, "from": "meterbook@example.org",
        "username": USER if security != "none" else "", "password_env": "MB_TEST_SMTP_PW",
        "ca_file": str(ca), "timeout": 10,
    })  # fmt: skip
    mail = EmailRecipient(kind="email", name="finance", to=TO, cc=CC, team="ml",
                          subject="{title} — {period}")  # fmt: skip
    return Settings(
        database_url=str(store.engine.url.render_as_string(hide_password=False)),
        smtp=smtp,
        recipients={"finance": mail},
        delivery=RetryConfig(attempts=attempts, base_delay=0.01),
    )


def _message(tmp_path: Path) -> Message:
    csv = tmp_path / "spend-by-team.csv"
    csv.write_text("team,amount\nml,10.50\n")
    pdf = tmp_path / "monthly.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    xlsx = tmp_path / "monthly.xlsx"
    xlsx.write_bytes(b"PK\x03\x04not really a workbook")
    return Message(
        subject="Monthly spend",
        headline=[("Total", "1,234.50 EUR"), ("Over budget", "2 teams")],
        text="Spend of November <2026>.",
        html="<p class='extra'>More in the attachments.</p>",
        link="https://meterbook.example.org/reports/spend/2026-11",
        inline_png=PNG,
        attachments=[csv, pdf, xlsx],
        context={"period": "2026-11"},
    )


def _parts(mail: EmailMessage) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for part in mail.walk():
        found.setdefault(part.get_content_type(), []).append(part)  # type: ignore[arg-type]
    return found


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_with_inline_chart_and_attachments(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    monkeypatch.setenv("MB_TEST_SMTP_PW", PASSWORD)
    message = _message(tmp_path)
    with smtp_server(tmp_path, security) as server:
        settings = _settings(store, server.port, security, server.ca_file)
        result = deliver(store.engine, settings, "finance", message)
        received = list(server.handler.received)
    assert result.ok and result.attempts == 1, result.error
    assert len(received) == 1
    got = received[0]
    assert got.mail_from == "meterbook@example.org"
    assert sorted(got.rcpt_tos) == sorted(TO + CC)
    mail = email.message_from_bytes(got.content, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "Monthly spend — 2026-11"
    assert mail["To"] == ", ".join(TO) and mail["Cc"] == CC[0]
    assert "Bcc" not in mail
    parts = _parts(mail)
    assert mail.get_content_type() == "multipart/mixed"
    assert len(parts["multipart/alternative"]) == 1 and len(parts["multipart/related"]) == 1
    plain = parts["text/plain"][0].get_content()
    assert "Total" in plain and "1,234.50 EUR" in plain and message.link in plain
    html = parts["text/html"][0].get_content()
    # The headline is a table; user text is escaped; the extra block is kept as given.
    assert "<th" in html and "1,234.50 EUR" in html and "&lt;2026&gt;" in html
    assert "<p class='extra'>" in html and f'href="{message.link}"' in html
    image = parts["image/png"][0]
    assert image.get_content() == PNG
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    # Attachments: each file back byte for byte, with its MIME type.
    attached = {p.get_filename(): p for p in mail.iter_attachments()}
    assert set(attached) == {"spend-by-team.csv", "monthly.pdf", "monthly.xlsx"}
    assert attached["spend-by-team.csv"].get_content_type() == "text/csv"
    assert attached["monthly.pdf"].get_content_type() == "application/pdf"
    assert attached["monthly.xlsx"].get_content_type() == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    for path in message.attachments:
        assert attached[path.name].get_payload(decode=True) == path.read_bytes()
    with store.engine.connect() as conn:
        row = conn.execute(select(deliveries)).mappings().one()
    assert (row["recipient"], row["channel"], row["status"], row["attempts"]) == (
        "finance", "email", "sent", 1,
    )  # fmt: skip
    assert row["subject"] == "Monthly spend — 2026-11"


def test_wrong_password_fails_without_showing_it(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wr0ng-PASSWORD-x9"
    monkeypatch.setenv("MB_TEST_SMTP_PW", wrong)
    caplog.set_level(logging.DEBUG)
    with smtp_server(tmp_path, "starttls") as server:
        settings = _settings(store, server.port, "starttls", server.ca_file)
        result = deliver(store.engine, settings, "finance", Message(subject="x"))
        assert server.handler.received == []
    # Authentication failures are not retried: the password will not improve.
    assert not result.ok and result.attempts == 1
    assert result.error is not None and "authentication failed" in result.error
    with store.engine.connect() as conn:
        row = conn.execute(select(deliveries)).mappings().one()
    assert row["status"] == "failed" and row["attempts"] == 1
    for text in (result.error, str(row), caplog.text, repr(settings)):
        assert wrong not in text and PASSWORD not in text


def test_temporary_refusal_is_retried(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server(tmp_path, "none") as server:
        server.handler.replies = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
        settings = _settings(store, server.port, "none", server.ca_file, attempts=3)
        result = deliver(store.engine, settings, "finance", Message(subject="retry me"))
        received = list(server.handler.received)
    assert result.ok and result.attempts == 3
    assert len(received) == 1
    assert result.error is not None and "451" in result.error  # the last failure is kept
    with store.engine.connect() as conn:
        row = conn.execute(select(deliveries)).mappings().one()
    assert (row["status"], row["attempts"]) == ("sent", 3)


def test_permanent_refusal_is_not_retried(store: Store, tmp_path: Path) -> None:
    with smtp_server(tmp_path, "none") as server:
        server.handler.replies = ["554 5.7.1 rejected"]
        settings = _settings(store, server.port, "none", server.ca_file, attempts=3)
        result = deliver(store.engine, settings, "finance", Message(subject="no"))
    assert not result.ok and result.attempts == 1
    assert result.error is not None and "554" in result.error
