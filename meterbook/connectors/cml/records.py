"""One CML usage record (``GET /api/v2/usage``) as a :class:`UsageRecord`.

Fields (see the CML format notes): ``id`` is the natural key, ``created_at`` the start,
``duration`` (seconds, a string or a number) gives the end, ``cpu`` / ``nvidia_gpu`` /
``memory`` are the resources allocated to the workload. The memory unit is not documented by
the API: it is a per-source setting, GiB by default (:data:`MEMORY_UNITS`).

Statuses are lower-cased and a known prefix is stripped (``ENGINE_RUNNING`` -> ``running``,
``MODEL_DEPLOYMENT_FAILED`` -> ``failed``); what remains maps onto the ledger's states:

=============  ==============================================================================
state          CML statuses (after stripping the prefix)
=============  ==============================================================================
``pending``    pending, scheduling, queued, created, starting, initializing, building,
               deploying, launching, waiting
``running``    running, deployed, ready, active, serving
``succeeded``  succeeded, success, completed, complete, finished, done
``failed``     failed, failure, error, errored, crashed, timedout, timeout, oomkilled,
               build_failed, deployment_failed
``stopped``    stopped, stopping, killed, terminated, cancelled, canceled, aborted
=============  ==============================================================================

Anything else is kept, lower-cased (``unknown`` stays ``unknown``); a missing status is
``unknown``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from meterbook.connectors.base import Reject, UsageRecord
from meterbook.errors import ConfigError

#: Factor from the source's memory unit to GiB (the ledger's ``mem_gb``).
MEMORY_UNITS: dict[str, float] = {
    "GiB": 1.0,
    "MiB": 1 / 1024,
    "bytes": 1 / 2**30,
    "GB": 1e9 / 2**30,
}

#: Where rejects say they come from, after the source name.
USAGE_PATH = "/api/v2/usage"

_RAW_LIMIT = 2000
_NAME_LIMIT = 255
_PREFIXES = (
    "engine_",
    "model_deployment_",
    "model_build_",
    "deployment_",
    "application_",
    "app_",
    "model_",
    "job_",
    "session_",
    "build_",
    "status_",
)
_STATE_NAMES = {
    "pending": "pending scheduling queued created starting initializing building deploying "
    "launching waiting",
    "running": "running deployed ready active serving",
    "succeeded": "succeeded success completed complete finished done",
    "failed": "failed failure error errored crashed timedout timeout oomkilled build_failed "
    "deployment_failed",
    "stopped": "stopped stopping killed terminated cancelled canceled aborted",
}
_STATES = {name: state for state, names in _STATE_NAMES.items() for name in names.split()}

_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)


class _Bad(ValueError):
    """A field that makes the record unusable; the message names it."""


def to_record(
    raw: Mapping[str, Any], source: str, memory_unit: str = "GiB", index: int = 0
) -> UsageRecord | Reject:
    """The record for one usage entry, or a :class:`Reject` saying which field is wrong.

    ``index`` is the entry's position in the stream (it becomes the reject's line number).
    The key is the entry's ``id``; an entry without one gets a stable key from a hash of its
    name, creator, project name and ``created_at`` (:func:`record_key`), so that reading the
    same entry twice gives the same key. ``memory_unit`` must be one of :data:`MEMORY_UNITS`
    (a :class:`ConfigError` otherwise).
    """
    factor = MEMORY_UNITS.get(memory_unit)
    if factor is None:
        units = ", ".join(MEMORY_UNITS)
        raise ConfigError(f"source {source}: memory unit {memory_unit!r}: expected one of {units}")
    text = _dump(raw)
    if not isinstance(raw, Mapping):
        return _reject(source, index, "record is not a JSON object", text)
    try:
        return _record(raw, source, memory_unit, factor, text)
    except _Bad as exc:
        return _reject(source, index, str(exc), text)


def record_key(raw: Mapping[str, Any]) -> str:
    """The natural key of an entry: its ``id``, else ``noid-`` and a hash of what names it."""
    ident = raw.get("id")
    if isinstance(ident, str | int) and not isinstance(ident, bool) and str(ident).strip():
        return str(ident).strip()
    parts = [_text(raw.get(f)) or "" for f in ("name", "creator", "project_name")]
    parts.append(str(raw.get("created_at") or ""))
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"noid-{digest[:32]}"


def parse_time(value: Any) -> datetime:
    """``created_at`` as an aware UTC datetime.

    Accepts ``2024-07-25T18:04:16.692255Z`` with or without the fraction (any number of
    digits, cut to microseconds), the ``Z`` or an offset; a time without either is UTC.
    Raises ``ValueError`` otherwise.
    """
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    m = _TIME.fullmatch(value.strip())
    if m is None:
        raise ValueError(f"not a time: {_short(value)}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m[7] or "0")[:6].ljust(6, "0"))
    zone: timezone = UTC
    if m[8] and m[8].upper() != "Z":
        sign = -1 if m[8][0] == "-" else 1
        digits = m[8][1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError:
        raise ValueError(f"not a time: {_short(value)}") from None
    return moment.astimezone(UTC)


def map_state(status: Any) -> str:
    """The ledger state for a CML status (see the table in this module's docstring)."""
    text = _text(status)
    if text is None:
        return "unknown"
    value = re.sub(r"[\s-]+", "_", text.lower())
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if value.startswith(prefix) and len(value) > len(prefix):
                value = value[len(prefix) :]
                stripped = True
    return _STATES.get(value, value)


def _record(
    raw: Mapping[str, Any], source: str, unit: str, factor: float, text: str
) -> UsageRecord:
    created = raw.get("created_at")
    if created is None or created == "":
        raise _Bad("created_at: missing")
    try:
        start = parse_time(created)
    except ValueError as exc:
        raise _Bad(f"created_at: {exc}") from None
    duration = _number(raw, "duration", required=True)
    assert duration is not None
    cpus = _number(raw, "cpu")
    gpus = _number(raw, "nvidia_gpu")
    memory = _number(raw, "memory")
    try:
        end = start + timedelta(seconds=duration)
    except OverflowError:
        raise _Bad(f"duration: out of range: {_short(raw.get('duration'))}") from None

    creator_info = raw.get("creator_info")
    user = _text(raw.get("creator"))
    if user is None and isinstance(creator_info, Mapping):
        user = _text(creator_info.get("user_name")) or _text(creator_info.get("username"))
    name = _text(raw.get("name"))
    k8s = raw.get("k8s_info")
    reason = _text(k8s.get("k8s_reason")) if isinstance(k8s, Mapping) else None
    exit_code = k8s.get("k8s_exit_code") if isinstance(k8s, Mapping) else None
    exit_text = None
    if exit_code not in (None, "", 0, "0") and not isinstance(exit_code, bool):
        exit_text = str(exit_code)

    attrs: dict[str, Any] = {}
    project_info = raw.get("project_info")
    if isinstance(project_info, Mapping):
        if (slug := _text(project_info.get("slug"))) is not None:
            attrs["project_slug"] = slug
        if project_info.get("id") not in (None, ""):
            attrs["project_id"] = project_info["id"]
    if raw.get("oom_killed") is True:
        attrs["oom_killed"] = True
    if reason is not None:
        attrs["k8s_reason"] = reason
    if exit_text is not None:
        attrs["k8s_exit_code"] = exit_text
    if isinstance(k8s, Mapping) and (signal := _text(k8s.get("k8s_signal"))) is not None:
        attrs["k8s_signal"] = signal
    if (url := _text(raw.get("workload_url"))) is not None:
        attrs["workload_url"] = url

    return UsageRecord(
        source=source,
        key=record_key(raw),
        resource=source,
        workload_type=(_text(raw.get("workload_type")) or "unknown").lower(),
        state=map_state(raw.get("status")),
        user=user,
        project=_text(raw.get("project_name")),
        group=_text(raw.get("group")),
        state_reason=reason,
        name=name[:_NAME_LIMIT] if name is not None else None,
        start=start,
        end=end,
        cpus=cpus,
        gpus=gpus,
        mem_gb=memory * factor if memory is not None else None,
        exit_code=exit_text,
        attrs=attrs or None,
        fingerprint=f"{text}\x1f{unit}",
    )


def _number(raw: Mapping[str, Any], field: str, *, required: bool = False) -> float | None:
    value = raw.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _Bad(f"{field}: missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad(f"{field}: not a number: {_short(value)}")
    try:
        number = float(value)
    except ValueError:
        raise _Bad(f"{field}: not a number: {_short(value)}") from None
    if not math.isfinite(number):
        raise _Bad(f"{field}: not a finite number: {_short(value)}")
    if number < 0:
        raise _Bad(f"{field}: negative: {_short(value)}")
    return number


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    text = str(value).strip()
    return text or None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dump(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _reject(source: str, index: int, reason: str, text: str) -> Reject:
    line = " ".join(reason.split())
    return Reject(f"{source}:{USAGE_PATH}", index, line, text[:_RAW_LIMIT])
