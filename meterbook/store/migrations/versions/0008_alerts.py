"""alerts raised by the rules of the configuration, each stored once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _money() -> sa.Numeric:  # type: ignore[type-arg]
    return sa.Numeric(precision=38, scale=18)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "rule",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", _money(), nullable=False),
        sa.Column("threshold", _money(), nullable=True),
        sa.Column("expected", _money(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("notify_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("rule", "fingerprint", name="uq_alerts_rule_fingerprint"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
