"""rate cards and versions, charges and their day rollup, exchange rates

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _ident(length: int) -> sa.types.TypeEngine[str]:
    return (
        sa.String(length=length)
        .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=length), "mariadb")
        .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=length), "mysql")
        .with_variant(sa.VARCHAR(length=length, collation="C"), "postgresql")
    )


def _money() -> sa.Numeric:  # type: ignore[type-arg]
    return sa.Numeric(precision=38, scale=18)


SCOPE = (
    "gpu_model",
    "source",
    "cluster",
    "partition",
    "qos",
    "provider",
    "workload_type",
    "environment",
)


def upgrade() -> None:
    op.create_table(
        "rate_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quantity", _ident(32), nullable=False),
        *(sa.Column(name, _ident(64), nullable=False) for name in SCOPE),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_cards")),
        sa.UniqueConstraint("quantity", *SCOPE, name="uq_rate_cards_scope"),
    )
    op.create_table(
        "rate_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rate_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("price", _money(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_versions")),
        sa.UniqueConstraint("rate_id", "version", name="uq_rate_versions_rate_version"),
        sa.UniqueConstraint("rate_id", "effective_from", name="uq_rate_versions_rate_from"),
    )
    op.create_table(
        "charges",
        sa.Column("source_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("record_key", _ident(190), nullable=False),
        sa.Column("quantity", _ident(32), nullable=False),
        sa.Column("units", _money(), nullable=False),
        sa.Column("rate_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("price", _money(), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "record_key", "quantity", name=op.f("pk_charges")),
    )
    op.create_table(
        "charge_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("partition", _ident(120), nullable=False),
        sa.Column("qos", _ident(120), nullable=False),
        sa.Column("workload_type", _ident(32), nullable=False),
        sa.Column("quantity", _ident(32), nullable=False),
        sa.Column("currency", _ident(3), nullable=False),
        sa.Column("units", _money(), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.UniqueConstraint(
            "day",
            "source_id",
            "resource_id",
            "user_id",
            "project_id",
            "partition",
            "qos",
            "workload_type",
            "quantity",
            "currency",
            name="uq_charge_daily_key",
        ),
    )
    op.create_table(
        "fx_rates",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("from_currency", _ident(3), nullable=False),
        sa.Column("to_currency", _ident(3), nullable=False),
        sa.Column("rate", _money(), nullable=False),
        sa.PrimaryKeyConstraint("day", "from_currency", "to_currency", name=op.f("pk_fx_rates")),
    )


def downgrade() -> None:
    for name in ("fx_rates", "charge_daily", "charges", "rate_versions", "rate_cards"):
        op.drop_table(name)
