"""NFS IO logs

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "io_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("block_ts", sa.BigInteger(), nullable=False),
        sa.Column("logged_at", sa.String(length=40), nullable=True),
        sa.Column("digest", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("read_ops", sa.BigInteger(), nullable=False),
        sa.Column("write_ops", sa.BigInteger(), nullable=False),
        sa.Column("read_bytes", sa.BigInteger(), nullable=False),
        sa.Column("write_bytes", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("machines", sa.Integer(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_io_blocks")),
        sa.UniqueConstraint("source_id", "block_ts", name="uq_io_blocks_source_ts"),
    )
    with op.batch_alter_table("io_blocks", schema=None) as batch_op:
        batch_op.create_index("ix_io_blocks_block_ts", ["block_ts"], unique=False)

    op.create_table(
        "io_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.String(length=60)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=60), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=60), "mysql")
            .with_variant(sa.VARCHAR(length=60, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "machine_group",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("direction", sa.SmallInteger(), nullable=False),
        sa.Column("sessions", sa.BigInteger(), nullable=False),
        sa.Column("ops", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("b0", sa.BigInteger(), nullable=False),
        sa.Column("b1", sa.BigInteger(), nullable=False),
        sa.Column("b2", sa.BigInteger(), nullable=False),
        sa.Column("b3", sa.BigInteger(), nullable=False),
        sa.Column("b4", sa.BigInteger(), nullable=False),
        sa.Column("b5", sa.BigInteger(), nullable=False),
        sa.Column("b6", sa.BigInteger(), nullable=False),
        sa.Column("b7", sa.BigInteger(), nullable=False),
        sa.Column("b8", sa.BigInteger(), nullable=False),
        sa.Column("b9", sa.BigInteger(), nullable=False),
        sa.Column("b10", sa.BigInteger(), nullable=False),
        sa.Column("b11", sa.BigInteger(), nullable=False),
        sa.Column("b12", sa.BigInteger(), nullable=False),
        sa.Column("b13", sa.BigInteger(), nullable=False),
        sa.Column("b14", sa.BigInteger(), nullable=False),
        sa.Column("b15", sa.BigInteger(), nullable=False),
        sa.Column("b16", sa.BigInteger(), nullable=False),
        sa.Column("b17", sa.BigInteger(), nullable=False),
        sa.Column("b18", sa.BigInteger(), nullable=False),
        sa.Column("b19", sa.BigInteger(), nullable=False),
        sa.Column("b20", sa.BigInteger(), nullable=False),
        sa.Column("b21", sa.BigInteger(), nullable=False),
        sa.Column("b22", sa.BigInteger(), nullable=False),
        sa.Column("b23", sa.BigInteger(), nullable=False),
        sa.Column("b24", sa.BigInteger(), nullable=False),
        sa.Column("b25", sa.BigInteger(), nullable=False),
        sa.Column("b26", sa.BigInteger(), nullable=False),
        sa.Column("b27", sa.BigInteger(), nullable=False),
        sa.Column("b28", sa.BigInteger(), nullable=False),
        sa.Column("b29", sa.BigInteger(), nullable=False),
        sa.Column("b30", sa.BigInteger(), nullable=False),
        sa.Column("b31", sa.BigInteger(), nullable=False),
        sa.Column("b32", sa.BigInteger(), nullable=False),
        sa.Column("b33", sa.BigInteger(), nullable=False),
        sa.Column("b34", sa.BigInteger(), nullable=False),
        sa.Column("b35", sa.BigInteger(), nullable=False),
        sa.Column("b36", sa.BigInteger(), nullable=False),
        sa.Column("b37", sa.BigInteger(), nullable=False),
        sa.Column("b38", sa.BigInteger(), nullable=False),
        sa.Column("b39", sa.BigInteger(), nullable=False),
        sa.Column("b40", sa.BigInteger(), nullable=False),
        sa.Column("b41", sa.BigInteger(), nullable=False),
        sa.Column("b42", sa.BigInteger(), nullable=False),
        sa.Column("b43", sa.BigInteger(), nullable=False),
        sa.Column("b44", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "day",
            "source_id",
            "user_id",
            "machine_id",
            "role",
            "machine_group",
            "direction",
            name="uq_io_daily_key",
        ),
    )
    op.create_table(
        "io_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "path_key",
            sa.String(length=64)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=64), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=64), "mysql")
            .with_variant(sa.VARCHAR(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.BigInteger(), nullable=True),
        sa.Column("inode", sa.BigInteger(), nullable=True),
        sa.Column(
            "head_digest",
            sa.String(length=64)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=64), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=64), "mysql")
            .with_variant(sa.VARCHAR(length=64, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("last_block_ts", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_io_files")),
        sa.UniqueConstraint("path_key", name=op.f("uq_io_files_path_key")),
    )
    op.create_table(
        "io_machine_blocks",
        sa.Column("block_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("block_ts", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("read_ops", sa.BigInteger(), nullable=False),
        sa.Column("write_ops", sa.BigInteger(), nullable=False),
        sa.Column("read_bytes", sa.BigInteger(), nullable=False),
        sa.Column("write_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("block_id", "machine_id", name="pk_io_machine_blocks"),
    )
    with op.batch_alter_table("io_machine_blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_io_machine_blocks_machine_id_ts", ["machine_id", "block_ts"], unique=False
        )

    op.create_table(
        "io_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("block_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("machine_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.SmallInteger(), nullable=False),
        sa.Column(
            "role",
            sa.String(length=60)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=60), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=60), "mysql")
            .with_variant(sa.VARCHAR(length=60, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "affiliation",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "machine_group",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("ops", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("b0", sa.BigInteger(), nullable=False),
        sa.Column("b1", sa.BigInteger(), nullable=False),
        sa.Column("b2", sa.BigInteger(), nullable=False),
        sa.Column("b3", sa.BigInteger(), nullable=False),
        sa.Column("b4", sa.BigInteger(), nullable=False),
        sa.Column("b5", sa.BigInteger(), nullable=False),
        sa.Column("b6", sa.BigInteger(), nullable=False),
        sa.Column("b7", sa.BigInteger(), nullable=False),
        sa.Column("b8", sa.BigInteger(), nullable=False),
        sa.Column("b9", sa.BigInteger(), nullable=False),
        sa.Column("b10", sa.BigInteger(), nullable=False),
        sa.Column("b11", sa.BigInteger(), nullable=False),
        sa.Column("b12", sa.BigInteger(), nullable=False),
        sa.Column("b13", sa.BigInteger(), nullable=False),
        sa.Column("b14", sa.BigInteger(), nullable=False),
        sa.Column("b15", sa.BigInteger(), nullable=False),
        sa.Column("b16", sa.BigInteger(), nullable=False),
        sa.Column("b17", sa.BigInteger(), nullable=False),
        sa.Column("b18", sa.BigInteger(), nullable=False),
        sa.Column("b19", sa.BigInteger(), nullable=False),
        sa.Column("b20", sa.BigInteger(), nullable=False),
        sa.Column("b21", sa.BigInteger(), nullable=False),
        sa.Column("b22", sa.BigInteger(), nullable=False),
        sa.Column("b23", sa.BigInteger(), nullable=False),
        sa.Column("b24", sa.BigInteger(), nullable=False),
        sa.Column("b25", sa.BigInteger(), nullable=False),
        sa.Column("b26", sa.BigInteger(), nullable=False),
        sa.Column("b27", sa.BigInteger(), nullable=False),
        sa.Column("b28", sa.BigInteger(), nullable=False),
        sa.Column("b29", sa.BigInteger(), nullable=False),
        sa.Column("b30", sa.BigInteger(), nullable=False),
        sa.Column("b31", sa.BigInteger(), nullable=False),
        sa.Column("b32", sa.BigInteger(), nullable=False),
        sa.Column("b33", sa.BigInteger(), nullable=False),
        sa.Column("b34", sa.BigInteger(), nullable=False),
        sa.Column("b35", sa.BigInteger(), nullable=False),
        sa.Column("b36", sa.BigInteger(), nullable=False),
        sa.Column("b37", sa.BigInteger(), nullable=False),
        sa.Column("b38", sa.BigInteger(), nullable=False),
        sa.Column("b39", sa.BigInteger(), nullable=False),
        sa.Column("b40", sa.BigInteger(), nullable=False),
        sa.Column("b41", sa.BigInteger(), nullable=False),
        sa.Column("b42", sa.BigInteger(), nullable=False),
        sa.Column("b43", sa.BigInteger(), nullable=False),
        sa.Column("b44", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_io_sessions")),
    )
    with op.batch_alter_table("io_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_io_sessions_block_id", ["block_id"], unique=False)

    op.create_table(
        "io_sizes_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column(
            "role",
            sa.String(length=60)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=60), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=60), "mysql")
            .with_variant(sa.VARCHAR(length=60, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "machine_group",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("direction", sa.SmallInteger(), nullable=False),
        sa.Column("b0", sa.BigInteger(), nullable=False),
        sa.Column("b1", sa.BigInteger(), nullable=False),
        sa.Column("b2", sa.BigInteger(), nullable=False),
        sa.Column("b3", sa.BigInteger(), nullable=False),
        sa.Column("b4", sa.BigInteger(), nullable=False),
        sa.Column("b5", sa.BigInteger(), nullable=False),
        sa.Column("b6", sa.BigInteger(), nullable=False),
        sa.Column("b7", sa.BigInteger(), nullable=False),
        sa.Column("b8", sa.BigInteger(), nullable=False),
        sa.Column("b9", sa.BigInteger(), nullable=False),
        sa.Column("b10", sa.BigInteger(), nullable=False),
        sa.Column("b11", sa.BigInteger(), nullable=False),
        sa.Column("b12", sa.BigInteger(), nullable=False),
        sa.Column("b13", sa.BigInteger(), nullable=False),
        sa.Column("b14", sa.BigInteger(), nullable=False),
        sa.Column("b15", sa.BigInteger(), nullable=False),
        sa.Column("b16", sa.BigInteger(), nullable=False),
        sa.Column("b17", sa.BigInteger(), nullable=False),
        sa.Column("b18", sa.BigInteger(), nullable=False),
        sa.Column("b19", sa.BigInteger(), nullable=False),
        sa.Column("b20", sa.BigInteger(), nullable=False),
        sa.Column("b21", sa.BigInteger(), nullable=False),
        sa.Column("b22", sa.BigInteger(), nullable=False),
        sa.Column("b23", sa.BigInteger(), nullable=False),
        sa.Column("b24", sa.BigInteger(), nullable=False),
        sa.Column("b25", sa.BigInteger(), nullable=False),
        sa.Column("b26", sa.BigInteger(), nullable=False),
        sa.Column("b27", sa.BigInteger(), nullable=False),
        sa.Column("b28", sa.BigInteger(), nullable=False),
        sa.Column("b29", sa.BigInteger(), nullable=False),
        sa.Column("b30", sa.BigInteger(), nullable=False),
        sa.Column("b31", sa.BigInteger(), nullable=False),
        sa.Column("b32", sa.BigInteger(), nullable=False),
        sa.Column("b33", sa.BigInteger(), nullable=False),
        sa.Column("b34", sa.BigInteger(), nullable=False),
        sa.Column("b35", sa.BigInteger(), nullable=False),
        sa.Column("b36", sa.BigInteger(), nullable=False),
        sa.Column("b37", sa.BigInteger(), nullable=False),
        sa.Column("b38", sa.BigInteger(), nullable=False),
        sa.Column("b39", sa.BigInteger(), nullable=False),
        sa.Column("b40", sa.BigInteger(), nullable=False),
        sa.Column("b41", sa.BigInteger(), nullable=False),
        sa.Column("b42", sa.BigInteger(), nullable=False),
        sa.Column("b43", sa.BigInteger(), nullable=False),
        sa.Column("b44", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "day", "source_id", "role", "machine_group", "direction", name="uq_io_sizes_daily_key"
        ),
    )
    op.create_table(
        "io_user_blocks",
        sa.Column("block_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("block_ts", sa.BigInteger(), nullable=False),
        sa.Column("machines", sa.Integer(), nullable=False),
        sa.Column("read_ops", sa.BigInteger(), nullable=False),
        sa.Column("write_ops", sa.BigInteger(), nullable=False),
        sa.Column("read_bytes", sa.BigInteger(), nullable=False),
        sa.Column("write_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("block_id", "user_id", name="pk_io_user_blocks"),
    )
    with op.batch_alter_table("io_user_blocks", schema=None) as batch_op:
        batch_op.create_index("ix_io_user_blocks_rank_ts", ["rank", "block_ts"], unique=False)
        batch_op.create_index("ix_io_user_blocks_user_id_ts", ["user_id", "block_ts"], unique=False)

    op.create_table(
        "user_attributes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("since_ts", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=60), nullable=True),
        sa.Column("affiliation", sa.String(length=120), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_attributes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_attributes")),
        sa.UniqueConstraint("user_id", "since_ts", name="uq_user_attributes_user_since"),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_name", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_column("group_name")

    op.drop_table("user_attributes")
    with op.batch_alter_table("io_user_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_io_user_blocks_user_id_ts")
        batch_op.drop_index("ix_io_user_blocks_rank_ts")

    op.drop_table("io_user_blocks")
    op.drop_table("io_sizes_daily")
    with op.batch_alter_table("io_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_io_sessions_block_id")

    op.drop_table("io_sessions")
    with op.batch_alter_table("io_machine_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_io_machine_blocks_machine_id_ts")

    op.drop_table("io_machine_blocks")
    op.drop_table("io_files")
    op.drop_table("io_daily")
    with op.batch_alter_table("io_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_io_blocks_block_ts")

    op.drop_table("io_blocks")
