"""Alert rules of ``meterbook.toml``: ``[alerts.NAME]`` with a ``type``.

Six types (docs/alerts.md):

- ``budget``: a team's spend of the month against its budget, at each of ``thresholds``
  percent, on the actuals so far and on the forecast month end (``basis``);
- ``allocation``: an allocation projected to run out within ``within_days`` days (or already
  used up);
- ``anomaly``: a day of usage or spend far from what its history predicts, at or above
  ``min_severity``;
- ``io-heavy``: a user above ``threshold`` IO operations in one hour (one log block);
- ``usage``: a usage ``metric`` (GPU hours by default) of one user (or account) in one day
  above ``threshold``;
- ``utilisation``: a CPU or memory utilisation ``metric`` of one instance above ``threshold``
  percent for at least ``min_points`` samples of one day.

With no ``[alerts.*]`` section the built-in rules of :func:`builtin_rules` apply. The models
only describe and validate; :mod:`meterbook.alerts` evaluates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from meterbook.errors import ConfigError

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high")
USAGE_METRICS = ("cpu_hours", "gpu_hours", "node_hours", "wall_hours", "mem_gb_hours")


def severity_rank(severity: str) -> int:
    """0 for low, 1 for medium, 2 for high."""
    return SEVERITIES.index(severity)  # type: ignore[arg-type,unused-ignore]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    #: Recipients (``[recipients.NAME]``) told of each new alert; none: the alert is logged.
    notify: tuple[str, ...] = ()
    enabled: bool = True


class BudgetRule(_Rule):
    type: Literal["budget"]
    #: Percentages of the budget; each one crossed raises its own alert, once per month.
    thresholds: tuple[Decimal, ...] = (Decimal(50), Decimal(75), Decimal(90), Decimal(100))
    basis: tuple[Literal["actual", "forecast"], ...] = ("actual", "forecast")
    teams: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    #: How the month end is projected (meterbook forecast --method): auto picks per team.
    forecast_method: Literal["auto", "dubweb", "ets", "naive"] = "auto"

    @field_validator("thresholds")
    @classmethod
    def _positive(cls, value: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        if not value:
            raise ValueError("at least one threshold")
        if any(t <= 0 for t in value):
            raise ValueError("thresholds are percentages above 0")
        return tuple(sorted(set(value)))


class AllocationRule(_Rule):
    type: Literal["allocation"]
    within_days: int = Field(default=30, ge=0, le=3660)
    allocations: tuple[str, ...] = ()


class AnomalyRule(_Rule):
    type: Literal["anomaly"]
    min_severity: Severity = "medium"
    #: Days before the evaluation day (included) that are checked.
    lookback_days: int = Field(default=7, ge=1, le=366)
    kinds: tuple[Literal["spend", "usage"], ...] = ("spend", "usage")
    by: tuple[Literal["team", "project", "user"], ...] = ("team", "project", "user")


class IoHeavyRule(_Rule):
    type: Literal["io-heavy"]
    #: Operations (reads and writes) in one block; None: ``[iolog] heavy_ops_per_hour``.
    threshold: int | None = Field(default=None, ge=1)
    lookback_days: int = Field(default=2, ge=1, le=366)


class UsageRule(_Rule):
    type: Literal["usage"]
    metric: Literal["cpu_hours", "gpu_hours", "node_hours", "wall_hours", "mem_gb_hours"] = (
        "gpu_hours"
    )
    per: Literal["user", "account"] = "user"
    threshold: Decimal = Field(default=Decimal(4), gt=0)
    lookback_days: int = Field(default=7, ge=1, le=366)


#: CPU and memory utilisation metrics of CloudMonitor servers (ECS) and databases (RDS).
UTILISATION_METRICS = ("CPUUtilization", "memory_usedutilization", "CpuUsage", "MemoryUsage")


class UtilisationRule(_Rule):
    type: Literal["utilisation"]
    #: Metric names (of the metric samples) to check.
    metrics: tuple[str, ...] = UTILISATION_METRICS
    #: Percent a sample's average must exceed to count as a point above.
    threshold: float = Field(default=80.0, gt=0, lt=100)
    #: Points above the threshold in one day (of the accounting zone) that raise an alert.
    min_points: int = Field(default=3, ge=1)
    environments: tuple[str, ...] = ()
    lookback_days: int = Field(default=2, ge=1, le=366)

    @field_validator("metrics")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one metric")
        return value


AlertRule = BudgetRule | AllocationRule | AnomalyRule | IoHeavyRule | UsageRule | UtilisationRule
RuleConfig = Annotated[AlertRule, Field(discriminator="type")]
_MODELS: dict[str, type[AlertRule]] = {
    "budget": BudgetRule,
    "allocation": AllocationRule,
    "anomaly": AnomalyRule,
    "io-heavy": IoHeavyRule,
    "usage": UsageRule,
    "utilisation": UtilisationRule,
}


def parse_alert_rules(data: Mapping[str, Any], origin: str) -> dict[str, AlertRule]:
    """Validate the ``[alerts]`` table of a configuration file: one sub-table per rule."""
    found: dict[str, AlertRule] = {}
    for name, body in data.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: [alerts.{name}] must be a table")
        kind = body.get("type")
        model = _MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise ConfigError(
                f"{origin}: [alerts.{name}] type: {kind!r} is not an alert type "
                f"({', '.join(_MODELS)})"
            )
        try:
            found[name] = model(**{**body, "name": name})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{origin}: [alerts.{name}] {where}: {err['msg']}") from exc
    return found


def builtin_rules() -> dict[str, AlertRule]:
    """The rules that apply when the configuration names none (the issue's defaults)."""
    return {
        "budget": BudgetRule(type="budget", name="budget"),
        "allocation": AllocationRule(type="allocation", name="allocation"),
        "anomaly": AnomalyRule(type="anomaly", name="anomaly"),
        "io-heavy": IoHeavyRule(type="io-heavy", name="io-heavy"),
        "gpu-per-user": UsageRule(type="usage", name="gpu-per-user"),
        "utilisation": UtilisationRule(type="utilisation", name="utilisation"),
    }


def describe(rule: AlertRule) -> str:
    """One line saying what the rule checks."""
    if isinstance(rule, BudgetRule):
        marks = ", ".join(f"{t.normalize():f}%" for t in rule.thresholds)
        return f"team spend at {marks} of its monthly budget ({' and '.join(rule.basis)})"
    if isinstance(rule, AllocationRule):
        return f"allocation projected to run out within {rule.within_days} days"
    if isinstance(rule, AnomalyRule):
        return (
            f"{' and '.join(rule.kinds)} anomalies by {', '.join(rule.by)} of severity "
            f"{rule.min_severity} or more, last {rule.lookback_days} days"
        )
    if isinstance(rule, IoHeavyRule):
        limit = "[iolog] heavy_ops_per_hour" if rule.threshold is None else f"{rule.threshold:,}"
        return f"IO operations of a user in one hour above {limit}, last {rule.lookback_days} days"
    if isinstance(rule, UtilisationRule):
        return (
            f"{', '.join(rule.metrics)} of one instance above {rule.threshold:g}% for at least "
            f"{rule.min_points} points of a day, last {rule.lookback_days} days"
        )
    return (
        f"{rule.metric} of one {rule.per} in one day above {rule.threshold.normalize():f}, "
        f"last {rule.lookback_days} days"
    )


__all__ = [
    "SEVERITIES",
    "USAGE_METRICS",
    "UTILISATION_METRICS",
    "AlertRule",
    "AllocationRule",
    "AnomalyRule",
    "BudgetRule",
    "IoHeavyRule",
    "Severity",
    "UsageRule",
    "UtilisationRule",
    "builtin_rules",
    "describe",
    "parse_alert_rules",
    "severity_rank",
]
