"""Delivering a message to a configured recipient, with retries and a record of attempts."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from meterbook.delivery import email, webhooks
from meterbook.delivery.attempt import AttemptError, hide_in_logs, redact
from meterbook.delivery.config import EmailRecipient, RecipientConfig, WebhookRecipient
from meterbook.delivery.message import DeliveryResult, Message
from meterbook.errors import ConfigError
from meterbook.store.queries import deliveries as q

if TYPE_CHECKING:
    from meterbook.settings import Settings

log = logging.getLogger(__name__)


def recipients(settings: Settings) -> dict[str, RecipientConfig]:
    """The recipients of the configuration, by name."""
    return dict(settings.recipients)


def resolve(settings: Settings, recipient: str | RecipientConfig) -> RecipientConfig:
    if not isinstance(recipient, str):
        return recipient
    found = settings.recipients.get(recipient)
    if found is None:
        known = ", ".join(sorted(settings.recipients)) or "none configured"
        raise ConfigError(f"no recipient {recipient!r} in the configuration ({known})")
    return found


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _sender(
    settings: Settings, recipient: RecipientConfig, message: Message, env: Mapping[str, str]
) -> tuple[Callable[[], None], list[str | None]]:
    """A function making one attempt, and the secrets its errors must not show."""
    if isinstance(recipient, EmailRecipient):
        smtp = settings.smtp
        if smtp is None:
            raise ConfigError(f"recipient {recipient.name}: e-mail needs an [smtp] section")
        fallback = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        password = email.smtp_password(smtp, fallback, env)
        if smtp.username and not password:
            raise ConfigError(f"[smtp] username is set but {smtp.password_env} is not")
        mail = email.build_email(message, recipient, smtp.sender)
        to = email.all_recipients(recipient)
        return (lambda: email.send_email(smtp, password, mail, to)), [password]
    assert isinstance(recipient, WebhookRecipient)
    url = env.get(recipient.url_env, "")
    if not url:
        raise ConfigError(f"recipient {recipient.name}: set {recipient.url_env} to its URL")
    payload = webhooks.PAYLOADS[recipient.payload_kind](message)
    return (lambda: webhooks.post_json(url, payload, timeout=recipient.timeout)), [url]


def deliver(
    engine: Engine,
    settings: Settings,
    recipient: str | RecipientConfig,
    message: Message,
    *,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Send ``message`` to ``recipient`` (a configured name, or a recipient), trying again
    with doubling delays (``[delivery]``) while the failure may pass.

    The attempt count, status and last error (secrets masked) are kept in ``deliveries``
    after every attempt. A failure is returned, not raised: the caller decides (the CLI
    exits non-zero, the scheduler logs). A recipient that cannot be used at all (unknown, no
    URL, no SMTP section) raises :class:`ConfigError` before anything is sent.
    """
    env = os.environ if env is None else env
    target = resolve(settings, recipient)
    attempt, secrets = _sender(settings, target, message, env)
    hide_in_logs(secrets)
    subject = (
        email.render_subject(target.subject, message)
        if isinstance(target, EmailRecipient)
        else message.subject
    )
    delivery_id = q.start_delivery(engine, target.name, target.channel, subject, _now())
    retry = settings.delivery
    error: str | None = None
    tries = 0
    for tries in range(1, retry.attempts + 1):
        try:
            attempt()
        except AttemptError as exc:
            error = redact(str(exc), secrets)
            last = tries == retry.attempts or not exc.retry
            q.record_attempt(engine, delivery_id, attempts=tries,
                             status="failed" if last else "sending", last_error=error,
                             now=_now())  # fmt: skip
            log.warning("delivery to %s, attempt %d: %s", target.name, tries, error)
            if last:
                break
            sleep(retry.delay(tries))
            continue
        q.record_attempt(engine, delivery_id, attempts=tries, status="sent",
                         last_error=error, now=_now())  # fmt: skip
        log.info("delivered %r to %s after %d attempt(s)", subject, target.name, tries)
        return DeliveryResult(target.name, target.channel, "sent", tries, error, delivery_id)
    return DeliveryResult(target.name, target.channel, "failed", tries, error, delivery_id)
