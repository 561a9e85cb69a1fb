"""Webhooks (Slack, Teams, generic JSON) against a local HTTP receiver: the JSON sent,
retries with backoff, failures recorded, and the URL (a secret) never shown."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from meterbook.delivery import Message, deliver
from meterbook.delivery.config import RetryConfig, WebhookRecipient
from meterbook.errors import ConfigError
from meterbook.settings import Settings
from meterbook.store.core import Store
from meterbook.store.schema_ops import deliveries
from tests.delivery.servers import free_port, hook_server

TOKEN = "/services/T0K3N/B1234/XyZsecretPart"
MESSAGE = Message(
    subject="Spend 2026-11",
    headline=[("Total", "1,234.50 EUR"), ("Teams over budget", "2")],
    text="November spend is in.",
    link="https://meterbook.example.org/r/1",
)


def _settings(store: Store, kind: str, attempts: int = 3, card: str = "message") -> Settings:
    hook = WebhookRecipient.model_validate(
        {"kind": kind, "name": "chat", "url_env": "MB_TEST_HOOK_URL", "team": "ml", "card": card}
    )
    return Settings(
        database_url=store.engine.url.render_as_string(hide_password=False),
        recipients={"chat": hook},
        delivery=RetryConfig(attempts=attempts, base_delay=0.01, max_delay=0.03),
    )


def _row(store: Store) -> dict[str, object]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(deliveries)).mappings().one())


def test_slack_blocks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with hook_server() as hook:
        monkeypatch.setenv("MB_TEST_HOOK_URL", hook.url(TOKEN))
        result = deliver(store.engine, _settings(store, "slack"), "chat", MESSAGE)
    assert result.ok and result.channel == "slack"
    [(path, body)] = hook.requests
    assert path == TOKEN
    assert body["text"] == "Spend 2026-11"
    blocks = body["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Spend 2026-11"}}
    fields = [f["text"] for b in blocks for f in b.get("fields", [])]
    assert fields == ["*Total*\n1,234.50 EUR", "*Teams over budget*\n2"]
    texts = [b["text"]["text"] for b in blocks[1:] if "text" in b]
    assert "November spend is in." in texts and "<https://meterbook.example.org/r/1|Open>" in texts


def test_teams_message_card(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with hook_server() as hook:
        monkeypatch.setenv("MB_TEST_HOOK_URL", hook.url(TOKEN))
        result = deliver(store.engine, _settings(store, "teams"), "chat", MESSAGE)
    assert result.ok
    [(_, card)] = hook.requests
    assert card["@type"] == "MessageCard" and card["title"] == "Spend 2026-11"
    assert card["sections"][0]["facts"] == [
        {"name": "Total", "value": "1,234.50 EUR"},
        {"name": "Teams over budget", "value": "2"},
    ]
    assert card["potentialAction"][0]["targets"][0]["uri"] == MESSAGE.link
    assert card["text"] == MESSAGE.text


def test_teams_adaptive_card(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with hook_server() as hook:
        monkeypatch.setenv("MB_TEST_HOOK_URL", hook.url(TOKEN))
        result = deliver(store.engine, _settings(store, "teams", card="adaptive"), "chat", MESSAGE)
    assert result.ok
    [(_, body)] = hook.requests
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
    assert texts == ["Spend 2026-11", "November spend is in."]
    [facts] = [b["facts"] for b in card["body"] if b["type"] == "FactSet"]
    assert facts == [
        {"title": "Total", "value": "1,234.50 EUR"},
        {"title": "Teams over budget", "value": "2"},
    ]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": "https://meterbook.example.org/r/1"}
    ]


def test_generic_json_after_500_then_200(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    delays: list[float] = []
    with hook_server() as hook:
        hook.statuses = [500, 503]
        monkeypatch.setenv("MB_TEST_HOOK_URL", hook.url(TOKEN))
        result = deliver(store.engine, _settings(store, "webhook"), "chat", MESSAGE,
                         sleep=delays.append)  # fmt: skip
    assert result.ok and result.attempts == 3
    assert delays == [0.01, 0.02]  # doubling from base_delay
    assert len(hook.requests) == 3
    assert hook.requests[-1][1] == {
        "subject": "Spend 2026-11",
        "headline": [
            {"label": "Total", "value": "1,234.50 EUR"},
            {"label": "Teams over budget", "value": "2"},
        ],
        "link": "https://meterbook.example.org/r/1",
        "text": "November spend is in.",
    }
    row = _row(store)
    assert (row["status"], row["attempts"], row["channel"]) == ("sent", 3, "webhook")
    assert "HTTP 503" in str(row["last_error"])
    # The HTTP client logs every request: with the URL masked.
    assert "HTTP Request: POST" in caplog.text and "T0K3N" not in caplog.text


def test_client_error_is_not_retried(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with hook_server() as hook:
        hook.statuses = [404]
        monkeypatch.setenv("MB_TEST_HOOK_URL", hook.url(TOKEN))
        result = deliver(store.engine, _settings(store, "webhook"), "chat", MESSAGE)
    assert not result.ok and result.attempts == 1 and len(hook.requests) == 1
    assert result.error == "webhook: HTTP 404 Not Found"


def test_unreachable_is_recorded_without_the_url(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}{TOKEN}"
    monkeypatch.setenv("MB_TEST_HOOK_URL", url)
    caplog.set_level(logging.DEBUG)
    delays: list[float] = []
    result = deliver(store.engine, _settings(store, "slack", attempts=4), "chat", MESSAGE,
                     sleep=delays.append)  # fmt: skip
    assert not result.ok and result.attempts == 4
    assert delays == [0.01, 0.02, 0.03]  # doubling, capped at max_delay
    assert result.error is not None and "ConnectError" in result.error
    row = _row(store)
    assert (row["status"], row["attempts"]) == ("failed", 4)
    for text in (result.error, str(row), caplog.text):
        assert url not in text and "XyZsecretPart" not in text and "T0K3N" not in text


def test_redaction_masks_a_url_echoed_in_an_error() -> None:
    from meterbook.delivery.attempt import MASK, redact

    url = "https://hooks.example.com/services/T0K3N/B1234/XyZsecretPart"
    text = f"cannot POST {url}; path /services/T0K3N/B1234/XyZsecretPart refused"
    masked = redact(text, [url, None])
    assert "T0K3N" not in masked and "XyZsecretPart" not in masked
    assert masked == f"cannot POST {MASK}; path {MASK} refused"


def test_missing_url_or_unknown_recipient_is_a_config_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MB_TEST_HOOK_URL", raising=False)
    settings = _settings(store, "slack")
    with pytest.raises(ConfigError, match="recipient chat: set MB_TEST_HOOK_URL to its URL"):
        deliver(store.engine, settings, "chat", MESSAGE)
    with pytest.raises(ConfigError, match=r"no recipient 'nobody' in the configuration \(chat\)"):
        deliver(store.engine, settings, "nobody", MESSAGE)
    with store.engine.connect() as conn:
        assert conn.execute(select(deliveries)).first() is None
