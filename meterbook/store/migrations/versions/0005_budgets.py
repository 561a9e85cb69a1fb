"""budgets per month, provider and team

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 04:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "month",
            sa.String(length=7)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=7), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=7), "mysql")
            .with_variant(sa.VARCHAR(length=7, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint(
            "month", "provider_id", "team_id", name="uq_budgets_month_provider_team"
        ),
    )


def downgrade() -> None:
    op.drop_table("budgets")
