"""What is delivered: a :class:`Message`, and what became of it: a :class:`DeliveryResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Message:
    """One message for any channel.

    ``headline`` holds the key figures as (label, formatted value); ``text`` is a plain
    summary; ``html`` an optional extra HTML block for e-mail (trusted: built by Meterbook);
    ``inline_png`` a chart shown inline in an e-mail body; ``attachments`` files attached to
    an e-mail (webhooks carry the link instead). ``context`` fills the ``{names}`` of a
    recipient's subject template besides ``{title}`` (the subject), e.g. ``period``.
    """

    subject: str
    headline: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str | None = None
    link: str | None = None
    inline_png: bytes | None = None
    attachments: list[Path] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of :func:`meterbook.delivery.deliver`: ``sent`` or ``failed`` after
    ``attempts``, the last error (secrets redacted) and the ``deliveries`` row id."""

    recipient: str
    channel: str
    status: str
    attempts: int
    error: str | None
    delivery_id: int

    @property
    def ok(self) -> bool:
        return self.status == "sent"
