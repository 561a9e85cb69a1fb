"""initial ledger schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "divisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_divisions")),
        sa.UniqueConstraint("name", name=op.f("uq_divisions_name")),
    )
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("options", sa.Text(), nullable=True),
        sa.Column("lines_read", sa.BigInteger(), nullable=False),
        sa.Column("inserted", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("unchanged", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_table(
        "mb_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_mb_meta")),
    )
    op.create_table(
        "providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("last_load_at", sa.DateTime(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_providers_name")),
    )
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column(
            "partition",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "qos",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.String(length=32)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mysql")
            .with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "workload_type",
            sa.String(length=32)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mysql")
            .with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("wall_hours", sa.Double(), nullable=False),
        sa.Column("cpu_hours", sa.Double(), nullable=False),
        sa.Column("gpu_hours", sa.Double(), nullable=False),
        sa.Column("node_hours", sa.Double(), nullable=False),
        sa.Column("mem_gb_hours", sa.Double(), nullable=False),
        sa.Column("wait_hours", sa.Double(), nullable=False),
        sa.Column("io_ops", sa.BigInteger(), nullable=False),
        sa.Column("jobs_started", sa.BigInteger(), nullable=False),
        sa.Column("jobs_ended", sa.BigInteger(), nullable=False),
        sa.Column("jobs_carried", sa.BigInteger(), nullable=False),
        sa.Column("jobs_waited", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "day",
            "source_id",
            "resource_id",
            "user_id",
            "project_id",
            "partition",
            "qos",
            "state",
            "workload_type",
            name="uq_usage_daily_key",
        ),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column(
            "record_key",
            sa.String(length=190)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=190), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=190), "mysql")
            .with_variant(sa.VARCHAR(length=190, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("row_hash", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("group_name", sa.String(length=120), nullable=True),
        sa.Column(
            "partition",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "qos",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "workload_type",
            sa.String(length=32)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mysql")
            .with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.String(length=32)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=32), "mysql")
            .with_variant(sa.VARCHAR(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("state_reason", sa.String(length=120), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("submit_ts", sa.Double(), nullable=True),
        sa.Column("eligible_ts", sa.Double(), nullable=True),
        sa.Column("start_ts", sa.Double(), nullable=True),
        sa.Column("end_ts", sa.Double(), nullable=True),
        sa.Column("timelimit_s", sa.BigInteger(), nullable=True),
        sa.Column("cpus", sa.Integer(), nullable=True),
        sa.Column("gpus", sa.Integer(), nullable=True),
        sa.Column("gpu_type", sa.String(length=120), nullable=True),
        sa.Column("nodes", sa.Integer(), nullable=True),
        sa.Column("mem_gb", sa.Double(), nullable=True),
        sa.Column("io_ops", sa.BigInteger(), nullable=True),
        sa.Column("cost", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("exit_code", sa.String(length=32), nullable=True),
        sa.Column("hosts", sa.Text(), nullable=True),
        sa.Column("attrs", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("source_id", "record_key", name="uq_usage_records_source_key"),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usage_records_start_ts", ["start_ts"], unique=False, postgresql_using="brin"
        )

    op.create_table(
        "rejects",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=1000), nullable=False),
        sa.Column("line_no", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["import_runs.id"],
            name=op.f("fk_rejects_run_id_import_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejects")),
    )
    with op.batch_alter_table("rejects", schema=None) as batch_op:
        batch_op.create_index("ix_rejects_run_id", ["run_id"], unique=False)

    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_resources_provider_id_providers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.UniqueConstraint("name", name=op.f("uq_resources_name")),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("division_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["division_id"], ["divisions.id"], name=op.f("fk_teams_division_id_divisions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_projects_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_projects_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=40)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=40), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=40), "mysql")
            .with_variant(sa.VARCHAR(length=40, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_sources_resource_id_resources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("kind", "name", name="uq_sources_kind_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=120)
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mariadb")
            .with_variant(mysql.VARCHAR(collation="utf8mb4_bin", length=120), "mysql")
            .with_variant(sa.VARCHAR(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("uid", sa.Integer(), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("role", sa.String(length=60), nullable=True),
        sa.Column("affiliation", sa.String(length=120), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_users_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("sources")
    op.drop_table("projects")
    op.drop_table("teams")
    op.drop_table("resources")
    with op.batch_alter_table("rejects", schema=None) as batch_op:
        batch_op.drop_index("ix_rejects_run_id")

    op.drop_table("rejects")
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_start_ts", postgresql_using="brin")

    op.drop_table("usage_records")
    op.drop_table("usage_daily")
    op.drop_table("providers")
    op.drop_table("mb_meta")
    op.drop_table("import_runs")
    op.drop_table("divisions")
