"""The delivery sections of ``meterbook.toml``: ``[smtp]``, ``[delivery]``, ``[recipients.NAME]``.

Secrets never live in the file: the SMTP password is read from the environment variable named
by ``password_env`` (default ``MB_SMTP_PASSWORD``) or from the secrets file
(``smtp_password``); a webhook URL, which grants posting, from the variable named by
``url_env``. This module only describes and validates; nothing here reads a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from meterbook.errors import ConfigError

Channel = Literal["email", "slack", "teams", "webhook"]


class SmtpConfig(BaseModel):
    """The SMTP relay e-mail goes through."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str = ""
    password_env: str = "MB_SMTP_PASSWORD"  # noqa: S105 (a variable name)
    sender: str = Field(alias="from", min_length=3)
    timeout: float = Field(default=30.0, gt=0)
    #: A CA bundle to verify the relay's certificate with (default: the system's).
    ca_file: str = ""

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.security]


class RetryConfig(BaseModel):
    """``[delivery]``: how often and how patiently a failed send is tried again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=4, ge=1, le=20)
    base_delay: float = Field(default=2.0, ge=0)
    max_delay: float = Field(default=300.0, ge=0)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based): doubling."""
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Scope:
    """What part of the data a recipient may receive: one team, or one division."""

    kind: Literal["team", "division"]
    name: str


class _Recipient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    team: str | None = Field(default=None, min_length=1)
    division: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_scope(self) -> _Recipient:
        if self.team is not None and self.division is not None:
            raise ValueError("give team or division, not both")
        return self

    @property
    def scope(self) -> Scope | None:
        """The team or division this recipient is bound to (None: all the data)."""
        if self.team is not None:
            return Scope("team", self.team)
        if self.division is not None:
            return Scope("division", self.division)
        return None


class EmailRecipient(_Recipient):
    """People reached by e-mail."""

    kind: Literal["email"]
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    #: ``{title}`` is the message's subject; other ``{names}`` come from its context.
    subject: str = "{title}"

    @property
    def channel(self) -> Channel:
        return "email"

    @property
    def target(self) -> str:
        """Who receives it, safe to print."""
        return ", ".join([*self.to, *(f"cc {a}" for a in self.cc)])


class WebhookRecipient(_Recipient):
    """A Slack or Teams channel's incoming webhook, or any URL taking a JSON POST."""

    kind: Literal["slack", "teams", "webhook"]
    #: The environment variable holding the URL (the URL is a secret).
    url_env: str = Field(min_length=1)
    timeout: float = Field(default=15.0, gt=0)
    #: Teams: a legacy connector's ``message`` card, or an ``adaptive`` card (workflows).
    card: Literal["message", "adaptive"] = "message"

    @model_validator(mode="after")
    def _card_for_teams(self) -> WebhookRecipient:
        if self.card != "message" and self.kind != "teams":
            raise ValueError("card is a setting of teams recipients")
        return self

    @property
    def payload_kind(self) -> str:
        return "teams-adaptive" if self.card == "adaptive" else self.kind

    @property
    def channel(self) -> Channel:
        return self.kind

    @property
    def target(self) -> str:
        return f"${self.url_env}"


Recipient = Annotated[EmailRecipient | WebhookRecipient, Field(discriminator="kind")]
RecipientConfig = EmailRecipient | WebhookRecipient


def _error(origin: str, section: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return ConfigError(f"{origin}: [{section}] {where}: {err['msg']}".replace("] : ", "]: "))


def _no_secrets(origin: str, section: str, body: Mapping[str, Any], allowed: set[str]) -> None:
    for key in body:
        if key in allowed:
            continue
        if "password" in key or "secret" in key or key in {"url", "token"}:
            hint = "url_env" if key == "url" else "password_env"
            raise ConfigError(
                f"{origin}: [{section}] {key}: secrets are not read from the configuration "
                f"file; name an environment variable with {hint} (see docs/delivery.md)"
            )


def parse_smtp(body: Mapping[str, Any], origin: str) -> SmtpConfig:
    _no_secrets(origin, "smtp", body, {"password_env"})
    try:
        return SmtpConfig(**body)
    except ValidationError as exc:
        raise _error(origin, "smtp", exc) from exc


def parse_retry(body: Mapping[str, Any], origin: str) -> RetryConfig:
    try:
        return RetryConfig(**body)
    except ValidationError as exc:
        raise _error(origin, "delivery", exc) from exc


def parse_recipients(data: Mapping[str, Any], origin: str) -> dict[str, RecipientConfig]:
    """Validate the ``[recipients]`` tables of a configuration file."""
    found: dict[str, RecipientConfig] = {}
    for name, body in data.items():
        section = f"recipients.{name}"
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        _no_secrets(origin, section, body, {"url_env"})
        kind = body.get("kind")
        model: type[EmailRecipient] | type[WebhookRecipient]
        if kind == "email":
            model = EmailRecipient
        elif kind in ("slack", "teams", "webhook"):
            model = WebhookRecipient
        else:
            raise ConfigError(
                f"{origin}: [{section}] kind: {kind!r} is not a recipient kind "
                "(email, slack, teams or webhook)"
            )
        try:
            found[name] = model(**{**body, "name": name})
        except ValidationError as exc:
            raise _error(origin, section, exc) from exc
    return found
