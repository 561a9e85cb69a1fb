"""IO-log blocks as the rows the ledger stores: pure computation, run by the reader process.

For each block: its totals, one row per session (user x machine x direction) with its
operations and bytes moved and whether it counts as a session, the sessions' bucket counts (an
integer matrix, a row per session), and the sums per user and per machine. The store maps
names to ids and writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import mul
from typing import Any

import numpy as np

from meterbook.connectors.iolog import IoBlock
from meterbook.connectors.iolog.parse import bucket_low

N_BUCKETS = 45
READ = 0
LOWS = tuple(bucket_low(k) for k in range(N_BUCKETS))
Sums = tuple[int, int, int, int, int]
UserSums = tuple[int, int, int, int, int, int]


@dataclass
class PreparedBlock:
    """A block ready to store.

    ``sessions`` rows are ``(user, machine, direction, role, affiliation, group, ops, bytes,
    session)``, ``session`` 1 when the row counts the (user, machine) session: its read
    histogram, or its write histogram when there was no read. ``buckets`` holds their
    operation counts, one row per session and one column per size bucket. ``machines`` maps a
    name to ``(users, read_ops, write_ops, read_bytes, write_bytes)``; ``users`` maps a name to
    ``(machines, read_ops, write_ops, read_bytes, write_bytes, rank)``, the rank by operations
    in the block (1 = most, ties by name).
    """

    source: str
    epoch: int
    logged_at: str
    digest: int
    totals: tuple[int, int, int, int, int, int, int]
    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    buckets: np.ndarray[Any, np.dtype[np.signedinteger[Any]]] = field(
        default_factory=lambda: np.zeros((0, N_BUCKETS), np.int64)
    )
    users: dict[str, UserSums] = field(default_factory=dict)
    machines: dict[str, Sums] = field(default_factory=dict)


def session_flags(histograms: Sequence[tuple[int, Any, Any]]) -> list[int]:
    """For the ``(direction, machine, user)`` histograms of one block: 1 where a histogram
    counts its (machine, user) session (the read one, or the write one when there is no read
    histogram), else 0."""
    with_read = {(h[1], h[2]) for h in histograms if h[0] == READ}
    return [1 if h[0] == READ or (h[1], h[2]) not in with_read else 0 for h in histograms]


def prepare_block(block: IoBlock) -> PreparedBlock:
    sections = block.sections
    keys = list(sections)
    rows: list[int] = []
    columns: list[int] = []
    counts: list[int] = []
    for row, section in enumerate(sections.values()):
        found = section.buckets
        columns += found
        counts += found.values()
        rows += repeat(row, len(found))
    largest = max(counts, default=0)
    buckets = np.zeros((len(keys), N_BUCKETS), np.int64)
    buckets[rows, columns] = counts
    ops, moved = _sums(buckets, largest)
    flags = session_flags(keys)
    per_user: dict[str, list[int]] = {}
    per_machine: dict[str, list[int]] = {}
    sessions = []
    ops_total = [0, 0]
    bytes_total = [0, 0]
    for (direction, machine, user), section, n, size, session in zip(
        keys, sections.values(), ops, moved, flags, strict=True
    ):
        h = section.header
        sessions.append((user, machine, direction, h.role, h.affiliation, h.group, n, size,
                         session))  # fmt: skip
        sums = per_user.get(user)
        if sums is None:
            sums = per_user[user] = [0, 0, 0, 0]
        sums[direction] += n
        sums[2 + direction] += size
        sums = per_machine.get(machine)
        if sums is None:
            sums = per_machine[machine] = [0, 0, 0, 0]
        sums[direction] += n
        sums[2 + direction] += size
        ops_total[direction] += n
        bytes_total[direction] += size
    pairs = {(k[1], k[2]) for k in keys}
    user_machines = Counter(user for _, user in pairs)
    machine_users = Counter(machine for machine, _ in pairs)
    totals = (ops_total[0], ops_total[1], bytes_total[0], bytes_total[1], len(per_user),
              len(per_machine), len(pairs))  # fmt: skip
    order = sorted(per_user, key=lambda u: (-(per_user[u][0] + per_user[u][1]), u))
    users: dict[str, UserSums] = {
        u: (user_machines[u], *per_user[u], rank)  # type: ignore[misc]
        for rank, u in enumerate(order, 1)
    }
    machines: dict[str, Sums] = {m: (machine_users[m], v[0], v[1], v[2], v[3])
                                 for m, v in per_machine.items()}  # fmt: skip
    if largest < 2**31:  # the usual case: half the bytes to send
        buckets = buckets.astype(np.int32)
    return PreparedBlock(block.source, block.epoch, block.logged_at[:40], block.digest, totals,
                         sessions, buckets, users, machines)  # fmt: skip


_LOWS = np.array(LOWS, np.int64)
_LOWS_FLOAT = _LOWS.astype(np.float64)
#: Below this, 45 counts add up without overflowing 64 bits.
_EXACT_COUNTS = 2**57


def _sums(buckets: np.ndarray[Any, np.dtype[np.int64]], largest: int
          ) -> tuple[list[int], list[int]]:  # fmt: skip
    """Each session's operations and bytes moved (exact: in 64-bit integers when they are
    sure to fit, else in Python integers)."""
    if largest < _EXACT_COUNTS:
        ops = buckets.sum(axis=1).tolist()
        if buckets.size == 0 or (buckets.astype(np.float64) @ _LOWS_FLOAT).max() < 2**62:
            return ops, (buckets @ _LOWS).tolist()
    rows = buckets.tolist()
    return [sum(r) for r in rows], [sum(map(mul, r, LOWS)) for r in rows]
