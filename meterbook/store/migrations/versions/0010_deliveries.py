"""deliveries of messages to e-mail and webhook recipients

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 14:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "recipient",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index("ix_deliveries_created", "deliveries", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_created", table_name="deliveries")
    op.drop_table("deliveries")
