"""One failed attempt to send, and how secrets are kept out of what is recorded."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "**********"


class AttemptError(Exception):
    """One attempt failed; ``retry`` says whether trying again may help."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def secret_parts(secrets: Iterable[str | None]) -> list[str]:
    """The strings to mask: each secret and, for a URL, its path and query too (a webhook's
    token is its path), longest first so that no part of a secret is left behind."""
    parts: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        parts.add(secret)
        if "://" in secret:
            split = urlsplit(secret)
            for piece in (split.path, split.query, f"{split.netloc}{split.path}"):
                if len(piece) > 3:
                    parts.add(piece)
    return sorted(parts, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (and every secret URL's path and query) masked."""
    for part in secret_parts(secrets):
        text = text.replace(part, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks known secrets in the records of a library logger (httpx logs each request's
    full URL at INFO level, and a webhook's URL is a secret)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = ()
        return True


_FILTER = RedactingFilter()


def hide_in_logs(secrets: Iterable[str | None]) -> None:
    """Mask ``secrets`` in what the HTTP client logs, from now on in this process."""
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    _FILTER.secrets.update(s for s in secrets if s)
