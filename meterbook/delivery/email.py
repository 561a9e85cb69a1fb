"""E-mail: a short HTML body (headline table, inline chart, link) with a plain-text
alternative and attachments, sent through an SMTP relay over SSL, STARTTLS or plain SMTP."""

from __future__ import annotations

import html
import mimetypes
import smtplib
import ssl
import string
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from meterbook.delivery.attempt import AttemptError
from meterbook.delivery.config import EmailRecipient, SmtpConfig
from meterbook.delivery.message import Message
from meterbook.errors import ConfigError


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render_subject(template: str, message: Message) -> str:
    """The recipient's subject template filled: ``{title}`` and the message's context; an
    unknown name becomes empty."""
    values = _Blank({**message.context, "title": message.subject})
    try:
        rendered = string.Formatter().vformat(template, (), values)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"subject template {template!r}: {exc}") from None
    return " ".join(rendered.split())


def _plain(message: Message) -> str:
    lines = [message.subject, ""]
    if message.text:
        lines += [message.text, ""]
    width = max((len(label) for label, _ in message.headline), default=0)
    lines += [f"{label.ljust(width)}  {value}" for label, value in message.headline]
    if message.link:
        lines += ["", message.link]
    return "\n".join(lines).rstrip() + "\n"


def _html(message: Message, cid: str | None) -> str:
    e = html.escape
    parts = [
        '<!DOCTYPE html><html><body style="font-family:sans-serif">',
        f"<h2>{e(message.subject)}</h2>",
    ]
    if message.text:
        parts.append(f"<p>{e(message.text)}</p>")
    if message.headline:
        rows = "".join(
            f'<tr><th style="text-align:left;padding-right:1em">{e(label)}</th>'
            f'<td style="text-align:right">{e(value)}</td></tr>'
            for label, value in message.headline
        )
        parts.append(f"<table>{rows}</table>")
    if cid is not None:
        parts.append(f'<p><img src="cid:{cid[1:-1]}" alt="chart"></p>')
    if message.html:
        parts.append(message.html)
    if message.link:
        parts.append(f'<p><a href="{e(message.link)}">{e(message.link)}</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def build_email(
    message: Message, recipient: EmailRecipient, sender: str, *, domain: str = "meterbook"
) -> EmailMessage:
    """The MIME message: multipart/alternative (plain, HTML with the related inline PNG),
    inside multipart/mixed when there are attachments."""
    mail = EmailMessage()
    mail["Subject"] = render_subject(recipient.subject, message)
    mail["From"] = sender
    mail["To"] = ", ".join(recipient.to)
    if recipient.cc:
        mail["Cc"] = ", ".join(recipient.cc)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=domain)
    mail.set_content(_plain(message))
    cid = make_msgid(domain=domain) if message.inline_png is not None else None
    mail.add_alternative(_html(message, cid), subtype="html")
    if message.inline_png is not None and cid is not None:
        html_part = next(p for p in mail.iter_parts() if p.get_content_type() == "text/html")
        html_part.add_related(
            message.inline_png, maintype="image", subtype="png", cid=cid, filename="chart.png"
        )
    for path in message.attachments:
        _attach(mail, path)
    return mail


def _attach(mail: EmailMessage, path: Path) -> None:
    kind, encoding = mimetypes.guess_type(path.name)
    if kind is None or encoding is not None:
        kind = "application/octet-stream"
    maintype, subtype = kind.split("/", 1)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot attach: {exc.strerror}") from None
    mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)


def _context(smtp: SmtpConfig) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=smtp.ca_file or None)


def send_email(
    smtp: SmtpConfig, password: str | None, mail: EmailMessage, recipients: list[str]
) -> None:
    """One attempt to hand ``mail`` to the relay; failures raise :class:`AttemptError`."""
    host, port = smtp.host, smtp.effective_port
    try:
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=smtp.timeout, context=_context(smtp))
        else:
            client = smtplib.SMTP(host, port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=_context(smtp))
            if smtp.username:
                client.login(smtp.username, password or "")
            client.send_message(mail, from_addr=smtp.sender, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise AttemptError(f"SMTP {host}:{port}: authentication failed ({exc.smtp_code})",
                           retry=False) from None  # fmt: skip
    except smtplib.SMTPRecipientsRefused as exc:
        raise AttemptError(
            f"SMTP {host}:{port}: recipients refused: {', '.join(sorted(exc.recipients))}",
            retry=False,
        ) from None
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)  # fmt: skip
        raise AttemptError(f"SMTP {host}:{port}: {exc.smtp_code} {reply}",
                           retry=exc.smtp_code < 500) from None  # fmt: skip
    except (smtplib.SMTPException, OSError) as exc:
        raise AttemptError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from None


def all_recipients(recipient: EmailRecipient) -> list[str]:
    return [*recipient.to, *recipient.cc]


def smtp_password(smtp: SmtpConfig, fallback: str | None, env: Mapping[str, str]) -> str | None:
    """The password from ``password_env``, else the secrets file's ``smtp_password``."""
    return env.get(smtp.password_env) or fallback
