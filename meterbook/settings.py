"""One typed settings object: defaults < ``meterbook.toml`` < ``MB_*`` environment < options.

The configuration file is found at ``--config PATH``, else ``$MB_CONFIG``, else
``./meterbook.toml`` when it exists. Secrets (the database password) are never read from the
configuration file: they come from the environment or from a secrets file (TOML, ``key = value``)
named by ``[secrets] file`` or ``MB_SECRETS_FILE``. They are :class:`pydantic.SecretStr`, so
``repr`` and logs show ``**********``.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from meterbook.alert_rules import AlertRule, parse_alert_rules
from meterbook.delivery.config import (
    RecipientConfig,
    RetryConfig,
    SmtpConfig,
    parse_recipients,
    parse_retry,
    parse_smtp,
)
from meterbook.errors import ConfigError
from meterbook.jobs import JobConfig, SchedulerConfig, parse_jobs, parse_scheduler
from meterbook.sources import AlibabaSource, CmlSource, parse_sources

log = logging.getLogger(__name__)

CONFIG_NAME = "meterbook.toml"

# (section, key) in meterbook.toml -> settings field; the environment variable is MB_<FIELD>.
FILE_KEYS: dict[tuple[str, str], str] = {
    ("database", "url"): "database_url",
    ("accounting", "timezone"): "timezone",
    ("import", "timezone"): "import_timezone",
    ("import", "batch_size"): "batch_size",
    ("logging", "level"): "log_level",
    ("iolog", "settle_seconds"): "iolog_settle",
    ("iolog", "poll_seconds"): "iolog_poll",
    ("iolog", "heavy_ops_per_hour"): "io_heavy_threshold",
    ("periods", "sprint_anchor"): "sprint_anchor",
    ("periods", "sprint_anchor_start"): "sprint_anchor_start",
    ("periods", "sprint_days"): "sprint_days",
    ("secrets", "file"): "secrets_file",
    ("web", "host"): "web_host",
    ("web", "port"): "web_port",
    ("web", "cookie_secure"): "web_cookie_secure",
    ("web", "session_hours"): "web_session_hours",
    ("web", "trust_user_header"): "web_trust_user_header",
    ("web", "trusted_proxies"): "web_trusted_proxies",
    ("reports", "directory"): "reports_directory",
    ("reports", "browser"): "reports_browser",
    ("reports", "link"): "reports_link",
    ("reports", "currency"): "reports_currency",
    ("reports", "forecast_method"): "reports_forecast_method",
}
SECRET_FIELDS = ("database_password", "smtp_password")
ENV_FIELDS = (*FILE_KEYS.values(), *SECRET_FIELDS)


class NamedReport(BaseModel):
    """A report of the configuration, ``[reports.NAME]``: run by ``meterbook report run``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    period: str = "previous-month"
    days: int | None = Field(default=None, ge=1, le=31)
    formats: list[str] = Field(default_factory=lambda: ["html", "pdf", "xlsx", "csv", "json"])
    team: str | None = None
    directory: Path | None = None
    title: str | None = None
    #: Recipients ([recipients.NAME]) of `meterbook report run NAME --send`.
    send_to: list[str] = Field(default_factory=list)


class Settings(BaseModel):
    """Everything Meterbook can be told. Pass it explicitly; there is no global instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = Field(default="sqlite:///meterbook.db", repr=False)
    database_password: SecretStr | None = None
    timezone: str = "UTC"
    import_timezone: str = "UTC"
    batch_size: int = Field(default=10_000, ge=100, le=1_000_000)
    log_level: str = "WARNING"
    iolog_settle: float = Field(default=120.0, ge=0)
    iolog_poll: float = Field(default=10.0, gt=0)
    io_heavy_threshold: int = Field(default=250_000, ge=1)
    sprint_anchor: int = 15
    sprint_anchor_start: date = date(2025, 2, 13)
    sprint_days: int = Field(default=14, ge=1, le=366)
    sources: dict[str, CmlSource | AlibabaSource] = Field(default_factory=dict)
    reports_directory: Path = Path("reports")
    reports_browser: str | None = None
    #: The dashboard's address, for links to report files in messages (e.g. https://mb.example.org).
    reports_link: str | None = None
    #: Money of the chargeback statements in this currency (None: as stored).
    reports_currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    #: How the spend report projects month ends (``meterbook forecast --method``).
    reports_forecast_method: Literal["auto", "dubweb", "ets", "naive"] = "dubweb"
    reports: dict[str, NamedReport] = Field(default_factory=dict)
    #: ``[alerts.NAME]`` rules; empty: the built-in rules (meterbook.alert_rules).
    alert_rules: dict[str, AlertRule] = Field(default_factory=dict)
    smtp: SmtpConfig | None = None
    #: The SMTP password when ``[smtp] password_env`` is not set in the environment.
    smtp_password: SecretStr | None = None
    delivery: RetryConfig = Field(default_factory=RetryConfig)
    recipients: dict[str, RecipientConfig] = Field(default_factory=dict)
    jobs: dict[str, JobConfig] = Field(default_factory=dict)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    secrets_file: Path | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=1, le=65535)
    #: Session cookies only over HTTPS (browsers treat http://localhost as secure too).
    web_cookie_secure: bool = True
    web_session_hours: float = Field(default=12.0, gt=0, le=24 * 90)
    #: A header naming the signed-in login, set by a reverse proxy (off when empty).
    web_trust_user_header: str | None = None
    #: Addresses the user header is trusted from (empty: any, only behind a proxy!).
    web_trusted_proxies: tuple[str, ...] = ()
    config_file: Path | None = None

    @field_validator("timezone", "import_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def zone(self) -> ZoneInfo:
        """The accounting time zone: day boundaries of rollups and periods."""
        return ZoneInfo(self.timezone)


def find_config(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """Return the configuration file to read, or None when there is none."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: configuration file not found")
        return explicit
    if env.get("MB_CONFIG"):
        path = Path(env["MB_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found (from MB_CONFIG)")
        return path
    local = Path(CONFIG_NAME)
    return local if local.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


_SECTIONS: dict[str, Callable[[Mapping[str, Any], str], Any]] = {
    "sources": parse_sources,
    "smtp": parse_smtp,
    "delivery": parse_retry,
    "recipients": parse_recipients,
    "jobs": parse_jobs,
    "scheduler": parse_scheduler,
}


def _values_from_file(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    values: dict[str, Any] = {}
    for section, content in data.items():
        if not isinstance(content, dict):
            raise ConfigError(f"{path}: '{section}' must be a [section]")
        if section in _SECTIONS:
            values[section] = _SECTIONS[section](content, str(path))
            continue
        if section == "alerts":
            values["alert_rules"] = parse_alert_rules(content, str(path))
            continue
        if section == "reports":
            content = dict(content)
            values["reports"] = _named_reports(content, path)
        for key, value in content.items():
            if "password" in key or "secret" in key or key.endswith("_key"):
                raise ConfigError(
                    f"{path}: [{section}] {key}: secrets are not read from the configuration "
                    "file; set MB_DATABASE_PASSWORD or use a secrets file"
                )
            field = FILE_KEYS.get((section, key))
            if field is None:
                raise ConfigError(f"{path}: unknown setting [{section}] {key}")
            values[field] = value
    url = values.get("database_url")
    if isinstance(url, str):
        values["database_url"] = _anchor_sqlite_path(url, path.parent)
    if isinstance(values.get("reports_directory"), str):
        values["reports_directory"] = path.parent / values["reports_directory"]
    if isinstance(values.get("secrets_file"), str):
        values["secrets_file"] = path.parent / values["secrets_file"]
    return values


def _named_reports(content: dict[str, Any], path: Path) -> dict[str, NamedReport]:
    """Take the ``[reports.NAME]`` tables out of ``content`` (the plain keys stay)."""
    found: dict[str, NamedReport] = {}
    for name in [k for k, v in content.items() if isinstance(v, dict)]:
        table = content.pop(name)
        if isinstance(table.get("formats"), str):
            table["formats"] = [f.strip() for f in table["formats"].split(",") if f.strip()]
        if isinstance(table.get("directory"), str):
            table["directory"] = path.parent / table["directory"]
        try:
            found[name] = NamedReport(**table)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{path}: [reports.{name}] {field}: {err['msg']}") from exc
    return found


def _anchor_sqlite_path(url: str, base: Path) -> str:
    """Make a relative SQLite path in a config file relative to that file's folder."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    rest = url[len(prefix) :]
    if not rest or rest.startswith("/") or rest.startswith(":memory:"):
        return url
    return prefix + str((base / rest).resolve())


def _values_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    return {f: env[f"MB_{f.upper()}"] for f in ENV_FIELDS if env.get(f"MB_{f.upper()}")}


def _secrets_from_file(path: Path) -> dict[str, Any]:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}: secrets file not readable: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: secrets file is readable by group or others; chmod 600 it", path)
    data = _read_toml(path)
    unknown = sorted(set(data) - set(SECRET_FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown secret {unknown[0]!r}")
    return dict(data)


def load_settings(
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    discover: bool = True,
    **overrides: Any,
) -> Settings:
    """Build the settings from defaults, the configuration file, the environment and options.

    With ``discover=False`` only ``config`` is read (no ``$MB_CONFIG``, no ``./meterbook.toml``).
    """
    env = os.environ if env is None else env
    path = find_config(config, env) if discover or config is not None else None
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if path is not None:
        from_file = _values_from_file(path)
        values.update(from_file)
        origin.update(dict.fromkeys(from_file, str(path)))
        values["config_file"] = path.resolve()
    from_env = _values_from_env(env)
    values.update(from_env)
    origin.update({k: f"MB_{k.upper()}" for k in from_env})
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    origin.update(dict.fromkeys(given, "the command line"))
    secrets_file = values.get("secrets_file")
    if secrets_file:
        from_file = _secrets_from_file(Path(secrets_file))
        for key, secret in from_file.items():
            values.setdefault(key, secret)
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        source = f" (from {origin[field]})" if field in origin else ""
        raise ConfigError(f"setting {field}: {err['msg']}{source}") from exc


CONFIG_TEMPLATE = """\
# Meterbook configuration. Every setting can also be given as the environment variable
# shown beside it (MB_...); the environment wins over this file.
# Secrets (passwords, API keys) never go here: use the environment or [secrets] file.

[database]
# SQLite (embedded, default), PostgreSQL or MariaDB/MySQL:
#   sqlite:///meterbook.db                       (relative to this file)
#   postgresql+psycopg://meterbook@db.example.org/meterbook
#   mysql+pymysql://meterbook@db.example.org/meterbook
# The password comes from MB_DATABASE_PASSWORD or the secrets file.    MB_DATABASE_URL
url = "{database_url}"

[accounting]
# Time zone of day boundaries in rollups and of periods such as --period 2017-01.
# Changing it later needs `meterbook db rebuild-rollups`.             MB_TIMEZONE
timezone = "{timezone}"

[import]
# Time zone of sacct timestamps that carry none (sacct prints local time
# unless run with TZ=UTC). `import slurm --timezone` overrides it.     MB_IMPORT_TIMEZONE
timezone = "{import_timezone}"
# Records per transaction; a killed import keeps the committed ones.   MB_BATCH_SIZE
batch_size = {batch_size}

[logging]
# DEBUG, INFO, WARNING or ERROR.                                        MB_LOG_LEVEL
level = "{log_level}"

[iolog]
# The last block of an IO log is imported once the file has not changed
# for this long (a block still being written waits for the next run).  MB_IOLOG_SETTLE
settle_seconds = {iolog_settle:g}
# How often `import iolog --follow` looks for new data.               MB_IOLOG_POLL
poll_seconds = {iolog_poll:g}
# `meterbook io heavy` lists users above this many operations an hour.
#                                                                       MB_IO_HEAVY_THRESHOLD
heavy_ops_per_hour = {io_heavy_threshold}

[periods]
# Sprints (`--sprint N`, `--sprint current`): sprint `sprint_anchor` starts on
# `sprint_anchor_start` at 00:00 in the accounting time zone; each lasts
# `sprint_days` days.                      MB_SPRINT_ANCHOR, MB_SPRINT_ANCHOR_START, MB_SPRINT_DAYS
sprint_anchor = {sprint_anchor}
sprint_anchor_start = {sprint_anchor_start}
sprint_days = {sprint_days}

[reports]
# Where `meterbook report` writes (reports/<type>/<period>/), relative to this
# file, and the browser that prints PDFs (default: chromium on the PATH).
#                                          MB_REPORTS_DIRECTORY, MB_REPORTS_BROWSER
directory = "reports"
# browser = "chromium"
# Chargeback statements in this currency, each day at its exchange rate (default:
# as stored), and how the spend report forecasts month ends (auto is slow).
#                                          MB_REPORTS_CURRENCY, MB_REPORTS_FORECAST_METHOD
# currency = "EUR"
# forecast_method = "dubweb"
#
# Named reports for `meterbook report run NAME` (docs/reports.md):
# [reports.monthly-usage]
# type = "usage"
# period = "previous-month"
# formats = ["pdf", "xlsx", "csv"]

# API sources for `meterbook collect NAME` (docs/collectors.md). Keys come from the
# environment, never from this file.
#
# [sources.ml-prod]
# type = "cml"
# url = "https://ml.example.com"
# api_key_env = "CML_PROD_API_KEY"       # the variable that holds the API key
# memory_unit = "GiB"                    # GiB, MiB, bytes or GB
#
# [sources.ali-hk]
# type = "alibaba-cms"
# region = "cn-hongkong"                 # ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET
# period = 300
# [sources.ali-hk.inventory.PROD]
# web = [{{ id = "i-j6c1", name = "prod-web-01" }}, {{ id = "i-j6c2", name = "prod-web-02" }}]
# rds = [{{ id = "rm-j6c3", name = "prod-db" }}]

# [web]
# `meterbook serve`: the dashboard and the REST API (docs/web.md).
# host = "127.0.0.1"                                                     MB_WEB_HOST
# port = 8000                                                            MB_WEB_PORT
# cookie_secure = true
# session_hours = 12
# trust_user_header = "X-Remote-User"   # only behind a proxy that sets it
# trusted_proxies = ["127.0.0.1"]
# Alert rules for `meterbook alerts evaluate` (docs/alerts.md). With none, built-in rules apply:
# budgets at 50/75/90/100%, allocations running out within 30 days, anomalies of medium
# severity, IO above [iolog] heavy_ops_per_hour, more than 4 GPU hours of a user in a day.
# [alerts.team-budgets]
# type = "budget"
# thresholds = [50, 75, 90, 100]
# basis = ["actual", "forecast"]
# notify = ["finops"]
# [alerts.gpu-per-user]
# type = "usage"
# metric = "gpu_hours"
# threshold = 4
# Delivery of messages (docs/delivery.md): an SMTP relay and named recipients.
# The SMTP password comes from MB_SMTP_PASSWORD (or the secrets file), webhook
# URLs from the variable each recipient names.
#
# [smtp]
# host = "smtp.example.org"
# security = "starttls"                  # ssl, starttls or none
# username = "meterbook"
# from = "meterbook@example.org"
#
# [recipients.finance]
# kind = "email"
# to = ["finance@example.org"]
# subject = "{{title}} — {{period}}"
#
# [recipients.ops]
# kind = "slack"                         # slack, teams or webhook
# url_env = "MB_SLACK_OPS_URL"

# Scheduled jobs for `meterbook scheduler` or `meterbook run-job NAME`
# (docs/scheduler.md): a cron schedule and a meterbook command line.
#
# [jobs.nightly-slurm]
# schedule = "15 1 * * *"
# command = "import slurm /var/log/slurm/sacct.log"
# notify = ["ops"]

# [secrets]
# A TOML file with `database_password = "..."` (and `smtp_password = "..."`),
# readable only by you.                                                 MB_SECRETS_FILE
# file = "secrets.toml"
"""


def render_config(settings: Settings, database_url: str) -> str:
    """The commented configuration file that ``meterbook init`` writes."""
    return CONFIG_TEMPLATE.format(
        database_url=database_url,
        timezone=settings.timezone,
        import_timezone=settings.import_timezone,
        batch_size=settings.batch_size,
        log_level=settings.log_level,
        iolog_settle=settings.iolog_settle,
        iolog_poll=settings.iolog_poll,
        io_heavy_threshold=settings.io_heavy_threshold,
        sprint_anchor=settings.sprint_anchor,
        sprint_anchor_start=settings.sprint_anchor_start.isoformat(),
        sprint_days=settings.sprint_days,
    )
