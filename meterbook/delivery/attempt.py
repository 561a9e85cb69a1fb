"""One failed attempt to send, and how secrets are kept out of what is recorded."""

from __future__ import annotations

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
