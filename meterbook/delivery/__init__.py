"""Delivery of messages (report summaries, alerts, job failures) by e-mail and webhooks.

The library API::

    from meterbook.delivery import Message, deliver, recipients
    result = deliver(engine, settings, "finance", Message(subject="Spend", headline=[...]))

Reports and alerts build a :class:`Message`; a recipient's :attr:`scope` (team or division)
tells them which part of the data it may receive. Nothing is imported from the store or the
network here until :func:`deliver` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meterbook.delivery.config import (
    EmailRecipient,
    RecipientConfig,
    RetryConfig,
    Scope,
    SmtpConfig,
    WebhookRecipient,
)
from meterbook.delivery.message import DeliveryResult, Message

if TYPE_CHECKING:
    from meterbook.delivery.send import deliver, recipients

#: A configured recipient (e-mail, Slack, Teams or generic webhook).
Recipient = RecipientConfig

__all__ = [
    "DeliveryResult",
    "EmailRecipient",
    "Message",
    "Recipient",
    "RetryConfig",
    "Scope",
    "SmtpConfig",
    "WebhookRecipient",
    "deliver",
    "recipients",
]


def __getattr__(name: str) -> Any:
    # deliver/recipients need the store; loaded on first use so that the settings module,
    # which imports the configuration models above, does not import the store.
    if name in ("deliver", "recipients"):
        from meterbook.delivery import send

        return getattr(send, name)
    raise AttributeError(name)
