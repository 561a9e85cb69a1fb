"""coarser usage rollups: per day and cluster, per day and account, per month, account and user

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 18:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MEASURES: tuple[tuple[str, sa.types.TypeEngine[int] | sa.types.TypeEngine[float]], ...] = (
    ("wall_hours", sa.Double()),
    ("cpu_hours", sa.Double()),
    ("gpu_hours", sa.Double()),
    ("node_hours", sa.Double()),
    ("mem_gb_hours", sa.Double()),
    ("wait_hours", sa.Double()),
    ("io_ops", sa.BigInteger()),
    ("jobs_started", sa.BigInteger()),
    ("jobs_ended", sa.BigInteger()),
    ("jobs_carried", sa.BigInteger()),
    ("jobs_waited", sa.BigInteger()),
)
CUBES = {
    "usage_daily_clusters": ("source_id", "resource_id"),
    "usage_daily_projects": ("source_id", "resource_id", "project_id"),
    "usage_monthly_users": ("source_id", "resource_id", "project_id", "user_id"),
}


def upgrade() -> None:
    for name, dims in CUBES.items():
        op.create_table(
            name,
            sa.Column("day", sa.Date(), nullable=False),
            *(sa.Column(d, sa.Integer(), nullable=False) for d in dims),
            *(sa.Column(m, kind, nullable=False) for m, kind in MEASURES),
            sa.UniqueConstraint("day", *dims, name=op.f(f"uq_{name}_key")),
        )
    # Fill them from the day rollup already there (the code that keeps them is the same that
    # `db rebuild-rollups` uses).
    from meterbook.store.cubes import rebuild_cubes

    rebuild_cubes(op.get_bind())


def downgrade() -> None:
    for name in CUBES:
        op.drop_table(name)
