"""billing lines and spend rollup

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:17:17.501360
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charge_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("percent", sa.Numeric(precision=12, scale=6), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("service_match", sa.String(length=500), nullable=True),
        sa.Column("group_name", sa.String(length=120), nullable=True),
        sa.Column("charge_category", sa.String(length=32), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_charge_rules_name")),
    )
    op.create_table(
        "cost_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column(
            "sub_account",
            sa.String(length=160)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=160), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=160), "mysql")
            .with_variant(sa.VARCHAR(length=160, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "service",
            sa.String(length=160)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=160), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=160), "mysql")
            .with_variant(sa.VARCHAR(length=160, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "group_name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "charge_category",
            sa.String(length=32)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mysql")
            .with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "currency",
            sa.String(length=3)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=3), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=3), "mysql")
            .with_variant(sa.VARCHAR(length=3, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "rule",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("billed_cost", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("effective_cost", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("list_cost", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "day",
            "provider_id",
            "project_id",
            "sub_account",
            "service",
            "group_name",
            "charge_category",
            "currency",
            "rule",
            name="uq_cost_daily_key",
        ),
    )
    op.create_table(
        "cost_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column(
            "line_key",
            sa.String(length=190)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=190), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=190), "mysql")
            .with_variant(sa.VARCHAR(length=190, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column(
            "project_ext",
            sa.String(length=200)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=200), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=200), "mysql")
            .with_variant(sa.VARCHAR(length=200, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("billing_account", sa.String(length=200), nullable=True),
        sa.Column("sub_account", sa.String(length=160), nullable=True),
        sa.Column("sub_account_name", sa.String(length=200), nullable=True),
        sa.Column("service", sa.String(length=160), nullable=True),
        sa.Column("service_category", sa.String(length=60), nullable=True),
        sa.Column("sku", sa.String(length=200), nullable=True),
        sa.Column("metric", sa.String(length=255), nullable=True),
        sa.Column("region", sa.String(length=120), nullable=True),
        sa.Column("resource", sa.String(length=1000), nullable=True),
        sa.Column("charge_category", sa.String(length=32), nullable=False),
        sa.Column("charge_frequency", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Double(), nullable=True),
        sa.Column("unit", sa.String(length=60), nullable=True),
        sa.Column("billed_cost", sa.Numeric(precision=38, scale=18), nullable=False),
        sa.Column("effective_cost", sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column("list_cost", sa.Numeric(precision=38, scale=18), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tags", sa.Text(), nullable=True),
        sa.Column("start_ts", sa.Double(), nullable=False),
        sa.Column("end_ts", sa.Double(), nullable=False),
        sa.Column("group_name", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_lines")),
        sa.UniqueConstraint("provider_id", "line_key", name="uq_cost_lines_provider_key"),
    )
    op.create_index("ix_cost_lines_start_ts", "cost_lines", ["start_ts"], postgresql_using="brin")
    op.create_index(
        "ux_projects_provider_external", "projects", ["provider_id", "external_id"], unique=True
    )

    op.create_table(
        "match_rules",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("group_name", sa.String(length=120), nullable=False),
        sa.Column("textmatch", sa.String(length=500), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("scalefactor", sa.String(length=60), nullable=True),
        sa.Column("scaleunit", sa.String(length=60), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_rules")),
    )


def downgrade() -> None:
    op.drop_table("match_rules")
    op.drop_index("ux_projects_provider_external", "projects")

    op.drop_table("cost_lines")
    op.drop_table("cost_daily")
    op.drop_table("charge_rules")
