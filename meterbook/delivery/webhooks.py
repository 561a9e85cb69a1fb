"""Webhooks: Slack (incoming webhook, Block Kit), Microsoft Teams (message card) and a generic
JSON POST (subject, headline, link, text)."""

from __future__ import annotations

from typing import Any

import httpx

from meterbook.delivery.attempt import AttemptError
from meterbook.delivery.message import Message

#: Slack allows at most 10 fields in a section block.
_SLACK_FIELDS = 10


def slack_payload(message: Message) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}}
    ]
    if message.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": message.text}})
    for i in range(0, len(message.headline), _SLACK_FIELDS):
        fields = [
            {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
            for label, value in message.headline[i : i + _SLACK_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
    if message.link:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{message.link}|Open>"}}
        )
    return {"text": message.subject, "blocks": blocks}


def teams_payload(message: Message) -> dict[str, Any]:
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": message.subject,
        "title": message.subject,
        "sections": [
            {"facts": [{"name": label, "value": value} for label, value in message.headline]}
        ],
    }
    if message.text:
        card["text"] = message.text
    if message.link:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Open",
                "targets": [{"os": "default", "uri": message.link}],
            }
        ]
    return card


def teams_adaptive_payload(message: Message) -> dict[str, Any]:
    """An Adaptive Card in a message, as Teams workflow webhooks take it."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium",
         "wrap": True},
    ]  # fmt: skip
    if message.text:
        body.append({"type": "TextBlock", "text": message.text, "wrap": True})
    if message.headline:
        facts = [{"title": label, "value": value} for label, value in message.headline]
        body.append({"type": "FactSet", "facts": facts})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": message.link}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "attachments": [attachment]}


def generic_payload(message: Message) -> dict[str, Any]:
    return {
        "subject": message.subject,
        "headline": [{"label": label, "value": value} for label, value in message.headline],
        "link": message.link,
        "text": message.text,
    }


PAYLOADS = {
    "slack": slack_payload,
    "teams": teams_payload,
    "teams-adaptive": teams_adaptive_payload,
    "webhook": generic_payload,
}


def post_json(url: str, payload: dict[str, Any], *, timeout: float) -> None:
    """One POST; a status of 400 or more, or no answer, raises :class:`AttemptError` (worth
    retrying for 408, 429, 5xx and network failures). The URL is never in the message."""
    try:
        response = httpx.post(url, json=payload, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise AttemptError(f"webhook: {type(exc).__name__}: {exc}") from None
    if response.status_code >= 400:
        code = response.status_code
        reason = response.reason_phrase or ""
        raise AttemptError(
            f"webhook: HTTP {code} {reason}".rstrip(), retry=code >= 500 or code in (408, 429)
        )
    if response.status_code >= 300:
        raise AttemptError(f"webhook: HTTP {response.status_code} redirect", retry=False)
