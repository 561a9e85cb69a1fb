"""The lines of bpftrace NFS IO logs ("nfsdiostats"), as bytes.

Log: 2025-03-07 01:01:09 (1741305669)
@rd_client(gpu03,tik)[alice(guest/tik)]:
[0]                    4 |@                                                   |
[16K, 32K)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meterbook.connectors.base import FieldError

LOG = re.compile(rb"Log: *(.*?) *\((\d+)\)\s*$")
SECTION = re.compile(
    rb"@(rd|wr)_client\(([A-Za-z0-9-]+),([^)]*)\)\[([A-Za-z0-9_]+)\(([^/)]*)/([^)]*)\)\]:\s*$"
)
BUCKET = re.compile(rb"\[(\d+)([KMGT]?)(?:\]|, *(\d+)([KMGT]?)\)) +(\d+)(?: +\|.*)?\s*$")
#: The same lines, split into the label and the count only (the label is parsed once).
BUCKET_FAST = re.compile(rb"(\[[^]]*\]|\[[^)]*\)) +(\d+)(?: +\|.*)?\s*$")
_UNITS = {b"": 1, b"K": 1 << 10, b"M": 1 << 20, b"G": 1 << 30, b"T": 1 << 40}
#: Buckets b0 .. b44: b44 is [8T, 16T).
MAX_BUCKET = 44


@dataclass(frozen=True, slots=True)
class SectionHeader:
    direction: int  # 0 read, 1 write
    machine: str
    group: str
    user: str
    role: str
    affiliation: str


def parse_section(line: bytes) -> SectionHeader | None:
    """A histogram header, or None when the line is not one."""
    m = SECTION.match(line)
    if m is None:
        return None
    direction, machine, group, user, role, affiliation = (g.decode() for g in m.groups())
    return SectionHeader(0 if direction == "rd" else 1, machine, group, user, role, affiliation)


def bucket_of(low: bytes, low_unit: bytes, high: bytes | None, high_unit: bytes | None) -> int:
    """The bucket index of ``[low]`` or ``[low, high)``: 0 for [0], 1 for [1], K+1 for
    [2**K, 2**(K+1)). Anything else (not a power-of-two range, too large) is an error."""
    lo = int(low) * _UNITS[low_unit]
    if high is None:
        if lo > 1:
            raise FieldError(f"single-value bucket [{lo}] (only [0] and [1] are)")
        return lo
    hi = int(high) * _UNITS[high_unit or b""]
    if lo < 2 or lo & (lo - 1) or hi != 2 * lo:
        raise FieldError(f"bucket [{lo}, {hi}) is not a power-of-two range")
    index = lo.bit_length()
    if index > MAX_BUCKET:
        raise FieldError(f"bucket [{lo}, {hi}) is beyond [8T, 16T)")
    return index


def bucket_low(index: int) -> int:
    """The lower bound in bytes of bucket ``index`` (bytes moved count at this size)."""
    return index if index < 2 else 1 << (index - 1)


def bucket_label(index: int) -> str:
    """``[0]``, ``[1]``, ``[2, 4)``, ``[16K, 32K)`` ..."""
    if index < 2:
        return f"[{index}]"
    return f"[{_human(bucket_low(index))}, {_human(bucket_low(index) * 2)})"


def _human(size: int) -> str:
    for suffix, unit in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= unit and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)
