"""IO-log blocks as the rows the ledger stores: pure computation, run by the reader process.

For each block: its totals, one row per session (user x machine x direction) with its
operations and bytes moved and whether it counts as a session, the sessions' bucket counts (an
integer matrix, a row per session), and the sums per user and per machine. The store maps
names to ids and writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
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


def prepare_block(block: IoBlock) -> PreparedBlock:
    with_read = {(k[1], k[2]) for k in block.sections if k[0] == READ}
    per_user: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    per_machine: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    user_machines: dict[str, set[str]] = defaultdict(set)
    machine_users: dict[str, set[str]] = defaultdict(set)
    sessions = []
    ops_total = [0, 0]
    bytes_total = [0, 0]
    low_of = LOWS.__getitem__
    rows: list[int] = []
    columns: list[int] = []
    counts: list[int] = []
    for row, ((direction, machine, user), section) in enumerate(block.sections.items()):
        h = section.header
        indexes = list(section.buckets)
        values = list(section.buckets.values())
        ops = sum(values)
        moved = sum(map(mul, values, map(low_of, indexes)))
        rows += [row] * len(indexes)
        columns += indexes
        counts += values
        session = 1 if direction == READ or (machine, user) not in with_read else 0
        sessions.append((user, machine, direction, h.role, h.affiliation, h.group, ops, moved,
                         session))  # fmt: skip
        for sums in (per_user[user], per_machine[machine]):
            sums[direction] += ops
            sums[2 + direction] += moved
        user_machines[user].add(machine)
        machine_users[machine].add(user)
        ops_total[direction] += ops
        bytes_total[direction] += moved
    small = not counts or max(counts) < 2**31  # the usual case: half the bytes to send
    buckets = np.zeros((len(sessions), N_BUCKETS), np.int32 if small else np.int64)
    buckets[rows, columns] = counts
    pairs = len({(k[1], k[2]) for k in block.sections})
    totals = (ops_total[0], ops_total[1], bytes_total[0], bytes_total[1], len(per_user),
              len(per_machine), pairs)  # fmt: skip
    order = sorted(per_user, key=lambda u: (-(per_user[u][0] + per_user[u][1]), u))
    users: dict[str, UserSums] = {
        u: (len(user_machines[u]), *per_user[u], rank)  # type: ignore[misc]
        for rank, u in enumerate(order, 1)
    }
    machines: dict[str, Sums] = {m: (len(machine_users[m]), v[0], v[1], v[2], v[3])
                                 for m, v in per_machine.items()}  # fmt: skip
    return PreparedBlock(block.source, block.epoch, block.logged_at[:40], block.digest, totals,
                         sessions, buckets, users, machines)  # fmt: skip
