"""Tables of NFS IO logs: blocks, sessions (the raw histograms) and their rollups.

The raw grain is a *session*: one log block x user x machine x direction, with its operation
count in each power-of-two size bucket as columns ``b0`` .. ``b44`` (``b0`` is ``[0]``, ``b1``
is ``[1]``, ``bK`` is ``[2**(K-1), 2**K)``, so ``b44`` is ``[8T, 16T)``). Rollups per block and
user, per block and machine, and per day (with the buckets) answer the analytics without
reading the raw rows. Block times are Unix epoch seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from meterbook.store.schema import NAME, BigId, Ident, metadata

#: Size buckets: b0 = [0], b1 = [1], bK = [2**(K-1), 2**K) up to b44 = [8T, 16T).
BUCKETS = tuple(f"b{k}" for k in range(45))
#: Read and write, as stored in ``direction``.
READ, WRITE = 0, 1


def _buckets() -> list[Column[int]]:
    return [Column(b, BigInteger, nullable=False, default=0) for b in BUCKETS]


user_attributes = Table(
    "user_attributes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("since_ts", BigInteger, nullable=False),
    Column("role", String(60)),
    Column("affiliation", String(NAME)),
    Column("source_id", Integer),
    UniqueConstraint("user_id", "since_ts", name="uq_user_attributes_user_since"),
)

io_files = Table(
    "io_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path_key", Ident(64), nullable=False, unique=True),
    Column("path", Text, nullable=False),
    Column("source_id", Integer, nullable=False),
    Column("device", BigInteger),
    Column("inode", BigInteger),
    Column("head_digest", Ident(64)),
    Column("offset", BigInteger, nullable=False),
    Column("lines", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("last_block_ts", BigInteger),
    Column("updated_at", DateTime, nullable=False),
)

io_blocks = Table(
    "io_blocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, nullable=False),
    Column("block_ts", BigInteger, nullable=False),
    Column("logged_at", String(40)),
    Column("digest", BigInteger, nullable=False),
    Column("run_id", Integer),
    Column("read_ops", BigInteger, nullable=False),
    Column("write_ops", BigInteger, nullable=False),
    Column("read_bytes", BigInteger, nullable=False),
    Column("write_bytes", BigInteger, nullable=False),
    Column("users", Integer, nullable=False),
    Column("machines", Integer, nullable=False),
    Column("sessions", Integer, nullable=False),
    UniqueConstraint("source_id", "block_ts", name="uq_io_blocks_source_ts"),
    Index("ix_io_blocks_block_ts", "block_ts"),
)

io_sessions = Table(
    "io_sessions",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("block_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("machine_id", Integer, nullable=False),
    Column("direction", SmallInteger, nullable=False),
    Column("role", Ident(60), nullable=False),
    Column("affiliation", Ident(NAME), nullable=False),
    Column("machine_group", Ident(NAME), nullable=False),
    Column("ops", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    *_buckets(),
    Index("ix_io_sessions_block_id", "block_id"),
)


def _per_block(name: str, key: str, count: str, *extra: Any) -> Table:
    return Table(
        name,
        metadata,
        Column("block_id", Integer, nullable=False),
        Column(key, Integer, nullable=False),
        Column("block_ts", BigInteger, nullable=False),
        Column(count, Integer, nullable=False),
        Column("read_ops", BigInteger, nullable=False),
        Column("write_ops", BigInteger, nullable=False),
        Column("read_bytes", BigInteger, nullable=False),
        Column("write_bytes", BigInteger, nullable=False),
        PrimaryKeyConstraint("block_id", key, name=f"pk_{name}"),
        Index(f"ix_{name}_{key}_ts", key, "block_ts"),
        *extra,
    )


#: Per block and user: how many machines, operations and bytes, and the user's rank in the
#: block by operations (1 = most), so that the top users of every block are an index range.
io_user_blocks = _per_block(
    "io_user_blocks", "user_id", "machines",
    Column("rank", Integer, nullable=False),
    Index("ix_io_user_blocks_rank_ts", "rank", "block_ts"),
)  # fmt: skip
#: Per block and machine: how many users, operations and bytes.
io_machine_blocks = _per_block("io_machine_blocks", "machine_id", "users")

#: Key columns of the day rollup of sizes (small: for the distributions overall, by role and
#: by machine group).
IO_SIZES_KEYS = ("day", "source_id", "role", "machine_group", "direction")

io_sizes_daily = Table(
    "io_sizes_daily",
    metadata,
    Column("day", Date, nullable=False),
    Column("source_id", Integer, nullable=False),
    Column("role", Ident(60), nullable=False),
    Column("machine_group", Ident(NAME), nullable=False),
    Column("direction", SmallInteger, nullable=False),
    *_buckets(),
    UniqueConstraint(*IO_SIZES_KEYS, name="uq_io_sizes_daily_key"),
)

#: Key columns of the day rollup.
IO_DAILY_KEYS = ("day", "source_id", "user_id", "machine_id", "role", "machine_group",
                 "direction")  # fmt: skip
#: Additive measures of the day rollup.
IO_DAILY_MEASURES = ("sessions", "ops", "bytes", *BUCKETS)

io_daily = Table(
    "io_daily",
    metadata,
    Column("day", Date, nullable=False),
    Column("source_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("machine_id", Integer, nullable=False),
    Column("role", Ident(60), nullable=False),
    Column("machine_group", Ident(NAME), nullable=False),
    Column("direction", SmallInteger, nullable=False),
    Column("sessions", BigInteger, nullable=False),
    Column("ops", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    *_buckets(),
    UniqueConstraint(*IO_DAILY_KEYS, name="uq_io_daily_key"),
)
