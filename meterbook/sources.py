"""Named API sources of ``meterbook.toml``: ``[sources.NAME]`` with a ``type``.

Two types: ``cml`` (a Cloudera Machine Learning workbench) and ``alibaba-cms`` (Alibaba
CloudMonitor of one account and region, with its inventory of ECS and RDS instances). The
models here only describe and validate; :mod:`meterbook.collecting` uses them. Secrets never
live in the configuration file: a CML source names the environment variable holding its API
key; an Alibaba source reads the standard ``ALIBABA_CLOUD_ACCESS_KEY_ID`` /
``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` variables, or an ``AccessKey.csv`` file for compatibility
with the original report script.
"""

from __future__ import annotations

import csv
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from meterbook.errors import ConfigError

log = logging.getLogger(__name__)

#: Metrics collected by default, per instance kind.
DEFAULT_METRICS = {
    "ECS": ["CPUUtilization", "memory_usedutilization"],
    "RDS": ["CpuUsage", "MemoryUsage"],
}
#: CloudMonitor namespace of each instance kind.
NAMESPACES = {"ECS": "acs_ecs_dashboard", "RDS": "acs_rds_dashboard"}
MEMORY_UNITS = ("GiB", "MiB", "bytes", "GB")
Series = Literal["cpu", "memory", "gpu"]
Kind = Literal["ECS", "RDS"]
SERIES: tuple[Series, ...] = ("cpu", "memory", "gpu")


def _default_metrics() -> dict[Kind, list[str]]:
    return {"ECS": list(DEFAULT_METRICS["ECS"]), "RDS": list(DEFAULT_METRICS["RDS"])}


class _Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    #: Collected again before the watermark, for data that arrives late.
    overlap_minutes: float = Field(default=60.0, ge=0)
    #: How far back the first collection reaches.
    initial_days: int = Field(default=7, ge=1, le=3660)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, le=20)


class CmlSource(_Source):
    """A Cloudera Machine Learning workbench (API v2)."""

    type: Literal["cml"]
    #: The workbench root, e.g. https://ml.example.com (empty: CDSW_API_URL inside a workbench).
    url: str = ""
    #: The environment variable holding the API key.
    api_key_env: str = "CML_API_KEY"
    memory_unit: Literal["GiB", "MiB", "bytes", "GB"] = "GiB"
    page_size: int = Field(default=500, ge=1, le=10_000)
    #: Time series collected as metric samples (cpu, memory, gpu); empty for none.
    timeseries: list[Series] = Field(default_factory=lambda: list(SERIES))
    timeseries_path: str = "/api/v2/timeseries"
    verify_tls: bool = True
    overlap_minutes: float = Field(default=24 * 60.0, ge=0)


class Instance(BaseModel):
    """One monitored instance of an Alibaba inventory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=120)
    name: str = ""
    kind: Literal["ECS", "RDS"] | None = None

    @property
    def instance_kind(self) -> str:
        """The kind given, else RDS for ``rm-`` ids and ECS for the rest."""
        return self.kind or ("RDS" if self.id.startswith(("rm-", "pgm-")) else "ECS")

    @property
    def label(self) -> str:
        return self.name or self.id


class AlibabaSource(_Source):
    """Alibaba CloudMonitor metrics of ECS and RDS instances in one region."""

    type: Literal["alibaba-cms"]
    region: str = Field(min_length=1)
    #: Override of ``metrics.<region>.aliyuncs.com`` (host[:port]).
    endpoint: str = ""
    protocol: Literal["https", "http"] = "https"
    #: A CSV file with AccessKeyId,AccessKeySecret (compatibility; the environment is preferred).
    access_key_csv: str = ""
    period: Literal[60, 300, 900, 3600] = 300
    metrics: dict[Kind, list[str]] = Field(default_factory=_default_metrics)
    #: environment -> group -> instances.
    inventory: dict[str, dict[str, list[Instance]]] = Field(default_factory=dict)
    overlap_minutes: float = Field(default=30.0, ge=0)

    @field_validator("inventory")
    @classmethod
    def _unique_ids(
        cls, value: dict[str, dict[str, list[Instance]]]
    ) -> dict[str, dict[str, list[Instance]]]:
        seen: set[str] = set()
        for groups in value.values():
            for instances in groups.values():
                for instance in instances:
                    if instance.id in seen:
                        raise ValueError(f"instance {instance.id} is listed twice")
                    seen.add(instance.id)
        return value

    def instances(self) -> list[tuple[str, str, Instance]]:
        """``(environment, group, instance)`` for every instance, in inventory order."""
        return [
            (env, group, instance)
            for env, groups in self.inventory.items()
            for group, instances in groups.items()
            for instance in instances
        ]


SourceConfig = Annotated[CmlSource | AlibabaSource, Field(discriminator="type")]


def parse_sources(data: Mapping[str, Any], origin: str) -> dict[str, CmlSource | AlibabaSource]:
    """Validate the ``[sources]`` table of a configuration file."""
    found: dict[str, CmlSource | AlibabaSource] = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: [sources.{name}] must be a table")
        for key in body:
            if "secret" in key or key in {"api_key", "password", "access_key_id"}:
                raise ConfigError(
                    f"{origin}: [sources.{name}] {key}: secrets are not read from the "
                    "configuration file; use the environment (see docs/collectors.md)"
                )
        kind = body.get("type")
        model: type[CmlSource] | type[AlibabaSource]
        if kind == "cml":
            model = CmlSource
        elif kind == "alibaba-cms":
            model = AlibabaSource
        else:
            raise ConfigError(
                f"{origin}: [sources.{name}] type: {kind!r} is not a source type "
                "(cml or alibaba-cms)"
            )
        try:
            found[name] = model(**{**body, "name": name})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{origin}: [sources.{name}] {where}: {err['msg']}") from exc
    return found


@dataclass(frozen=True)
class AccessKey:
    """An Alibaba access key pair; ``repr`` hides the secret."""

    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"AccessKey(key_id={self.key_id!r}, secret='**********')"


def alibaba_key(
    source: AlibabaSource, env: Mapping[str, str] | None = None, base: Path | None = None
) -> AccessKey:
    """The access key of an Alibaba source: the environment, else its ``access_key_csv``."""
    env = os.environ if env is None else env
    key_id = env.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    secret = env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if key_id and secret:
        return AccessKey(key_id, secret)
    if not source.access_key_csv:
        raise ConfigError(
            f"source {source.name}: no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and "
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET (or access_key_csv)"
        )
    path = Path(source.access_key_csv)
    if not path.is_absolute() and base is not None:
        path = base / path
    return read_access_key_csv(path, source.name)


def read_access_key_csv(path: Path, source: str) -> AccessKey:
    """Read ``AccessKey.csv``: a header ``AccessKeyId,AccessKeySecret`` (or any header, the
    first two columns) and one row."""
    try:
        mode = path.stat().st_mode
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except OSError as exc:
        raise ConfigError(f"source {source}: {path}: cannot read: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: access key file is readable by group or others; chmod 600 it", path)
    if len(rows) < 2 or len(rows[1]) < 2:
        raise ConfigError(f"{path}: line 2: expected AccessKeyId,AccessKeySecret (source {source})")
    header = [c.strip() for c in rows[0]]
    row = [c.strip() for c in rows[1]]
    if "AccessKeyId" in header and "AccessKeySecret" in header:
        pair = row[header.index("AccessKeyId")], row[header.index("AccessKeySecret")]
    else:
        pair = row[0], row[1]
    if not all(pair):
        raise ConfigError(f"{path}: line 2: empty access key (source {source})")
    return AccessKey(*pair)


def cml_endpoint(source: CmlSource, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(workbench URL, API key)`` of a CML source.

    With no URL configured, inside a workbench, ``CDSW_API_URL`` and ``CDSW_APIV2_KEY``.
    """
    env = os.environ if env is None else env
    url, key = source.url, env.get(source.api_key_env, "")
    if not url and env.get("CDSW_API_URL"):
        url = env["CDSW_API_URL"]
        key = key or env.get("CDSW_APIV2_KEY", "")
    if not url:
        raise ConfigError(f"source {source.name}: no url (and CDSW_API_URL is not set)")
    if not key:
        raise ConfigError(f"source {source.name}: no API key: set {source.api_key_env}")
    for suffix in ("/api/v1", "/api/v2"):
        url = url.rstrip("/").removesuffix(suffix)
    return url.rstrip("/"), key
