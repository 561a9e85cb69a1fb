"""Parsers for the values ``sacct`` prints, each raising :class:`FieldError` on bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from meterbook.connectors.base import FieldError

_MEM_UNITS = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0, "P": 1024.0**2}
# Slurm before 17.x marked "per CPU" by setting bit 31 of a memory value counted in MB.
_MEM_PER_CPU_FLAG = 2**31

_STATES = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "COMPLETING",
    "CONFIGURING",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PENDING",
    "PREEMPTED",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "REVOKED",
    "RUNNING",
    "SPECIAL_EXIT",
    "STOPPED",
    "SUSPENDED",
    "TIMEOUT",
    "SIGNALING",
    "STAGE_OUT",
    "RESV_DEL_HOLD",
    "LAUNCH_FAILED",
    "POWER_UP_NODE",
    "UPDATE_DB",
    "RECONFIG_FAIL",
}
_STATE_ALIASES = {
    "CA": "CANCELLED",
    "CD": "COMPLETED",
    "F": "FAILED",
    "TO": "TIMEOUT",
    "PR": "PREEMPTED",
    "NF": "NODE_FAIL",
    "OOM": "OUT_OF_MEMORY",
    "R": "RUNNING",
    "PD": "PENDING",
    "BF": "BOOT_FAIL",
    "DL": "DEADLINE",
    "RQ": "REQUEUED",
    "S": "SUSPENDED",
    "RV": "REVOKED",
    "SE": "SPECIAL_EXIT",
}
_NO_TIME = {"", "unknown", "none", "n/a"}
_NO_LIMIT = {"", "partition_limit", "unlimited", "invalid", "none"}
_ELAPSED = re.compile(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)")
_HOSTLIST_PART = re.compile(r"([^,\[]+)(?:\[([^\]]*)\])?([^,\[]*)")


def parse_time(text: str, zone: tzinfo) -> datetime | None:
    """``2016-12-22T07:15:13`` in ``zone`` as an aware UTC datetime; None for Unknown/None.

    A timestamp that carries its own offset keeps it.
    """
    if zone is UTC and len(text) == 19:
        try:
            return datetime.fromisoformat(text + "+00:00")  # the fast path
        except ValueError:
            pass
    if text.lower() in _NO_TIME:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(f"invalid time {text!r}") from None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return value.replace(tzinfo=zone).astimezone(UTC)


def parse_duration(text: str) -> float | None:
    """``[D-]HH:MM:SS``, ``MM:SS`` or ``MM:SS.mmm`` in seconds; None when empty."""
    if not text:
        return None
    m = _ELAPSED.fullmatch(text)
    if m is None:
        raise FieldError(f"invalid duration {text!r}")
    days, hours, minutes, seconds = m.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


@lru_cache(maxsize=1024)
def parse_timelimit(text: str) -> int | None:
    """A time limit in seconds; None for ``Partition_Limit``, ``UNLIMITED`` and the like.

    A bare number is minutes, as ``sbatch --time`` takes it.
    """
    if text.lower() in _NO_LIMIT:
        return None
    if text.isdigit():
        return int(text) * 60
    seconds = parse_duration(text)
    return None if seconds is None else int(seconds)


@lru_cache(maxsize=1024)
def parse_state(text: str) -> tuple[str, str | None]:
    """Normalise a state: ``CANCELLED by 380693`` -> ``("CANCELLED", "by 380693")``.

    ``CANCELLED+`` (sacct's mark of a truncated state) and the short codes (``CD``, ``TO``...)
    are understood; anything else that is not a Slurm job state is an error.
    """
    if text in _STATES:
        return text, None
    word, _, rest = text.strip().partition(" ")
    word = word.rstrip("+").upper()
    word = _STATE_ALIASES.get(word, word)
    if not word:
        raise FieldError("empty state")
    if word not in _STATES:
        raise FieldError(f"unknown state {text!r}")
    reason = rest.strip() or None
    if reason is not None and not re.fullmatch(r"by \d+", reason):
        raise FieldError(f"unknown state {text!r}")
    return word, reason


def parse_mem_gb(text: str) -> float:
    """A memory size such as ``62.50G`` or ``31000M`` in GiB (binary units; bare = MB)."""
    if not text:
        raise FieldError("empty memory size")
    unit = text[-1].upper()
    number = text[:-1] if unit.isalpha() else text
    factor = _MEM_UNITS.get(unit if unit.isalpha() else "M")
    if factor is None:
        raise FieldError(f"invalid memory unit in {text!r}")
    try:
        return float(number) * factor
    except ValueError:
        raise FieldError(f"invalid memory size {text!r}") from None


@lru_cache(maxsize=1024)
def parse_reqmem(text: str) -> tuple[float, str] | None:
    """``ReqMem`` as ``(GiB, scope)``: ``n`` per node (``8000Mn``), ``c`` per CPU (``3000Mc``).

    Values with bit 31 set (``2147486648Mn``) come from Slurm's old per-CPU flag: the flag is
    removed and the value counted per CPU. None when there is no request.
    """
    if not text or text == "0":
        return None
    scope = text[-1]
    if scope in "nc":
        text = text[:-1]
    else:
        scope = "n"
    unit = text[-1].upper() if text[-1].isalpha() else "M"
    digits = text[:-1] if text[-1].isalpha() else text
    try:
        amount = float(digits)
    except ValueError:
        raise FieldError(f"invalid ReqMem {text!r}") from None
    if unit == "M" and amount >= _MEM_PER_CPU_FLAG:
        amount -= _MEM_PER_CPU_FLAG
        scope = "c"
    return parse_mem_gb(f"{amount}{unit}"), scope


def parse_tres(text: str) -> dict[str, str]:
    """``billing=64,cpu=64,gres/gpu:a100=2,mem=62.50G,node=8`` as a dict (empty when empty)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise FieldError(f"invalid TRES entry {part!r}")
        out[name] = value
    return out


@lru_cache(maxsize=8192)
def summarize_tres(
    text: str,
) -> tuple[int | None, int | None, int | None, str | None, float | None]:
    """``(cpus, nodes, gpus, gpu_type, mem_gb)`` of a TRES string (cached: values repeat)."""
    tres = parse_tres(text)
    gpus, gpu_type = gpus_from_tres(tres) if "gres/gpu" in text else (None, None)
    mem = tres.get("mem")
    return (
        _count(tres["cpu"], "cpu") if "cpu" in tres else None,
        _count(tres["node"], "node") if "node" in tres else None,
        gpus,
        gpu_type,
        None if mem is None else parse_mem_gb(mem),
    )


def gpus_from_tres(tres: dict[str, str]) -> tuple[int | None, str | None]:
    """GPU count and types: the untyped ``gres/gpu`` total, else the sum of typed entries."""
    total: int | None = None
    typed = 0
    types: list[str] = []
    for name, value in tres.items():
        if name == "gres/gpu":
            total = _count(value, name)
        elif name.startswith("gres/gpu:"):
            typed += _count(value, name)
            types.append(name[len("gres/gpu:") :])
    if total is None and types:
        total = typed
    return total, (",".join(sorted(types)) or None)


def _count(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FieldError(f"{name}: invalid count {value!r}") from None


def expand_hostlist(text: str) -> list[str]:
    """Expand a compressed host list: ``cpn-f13-03-[01-02],gpu7`` -> four names.

    ``None assigned`` and empty give ``[]``. Zero padding is kept (``[08-10]``).
    """
    if not text or text.lower().startswith("none"):
        return []
    hosts: list[str] = []
    for part in _split_top(text):
        m = _HOSTLIST_PART.fullmatch(part)
        if m is None:
            raise FieldError(f"invalid host list {text!r}")
        prefix, ranges, suffix = m.groups()
        if ranges is None:
            hosts.append(part)
            continue
        for item in ranges.split(","):
            lo, sep, hi = item.partition("-")
            if not lo.isdigit() or (sep and not hi.isdigit()):
                raise FieldError(f"invalid host range {item!r} in {text!r}")
            width = len(lo)
            for n in range(int(lo), int(hi if sep else lo) + 1):
                hosts.append(f"{prefix}{n:0{width}d}{suffix}")
    return hosts


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p]
