"""The tables of the ledger (SQLAlchemy Core). Migrations in ``migrations/`` create them.

Conventions: ``*_at`` columns hold naive UTC datetimes; ``*_ts`` columns of usage records hold
UTC instants as Unix epoch seconds (as Open XDMoD's job tables do: exact, compact, the same on
every database, no time zone to get wrong); the day rollup ``usage_daily`` uses
``0`` and ``''`` for "none" in its key columns (so that its unique key matches on every
database) and has no foreign keys, being derived data that ``db rebuild-rollups`` recreates.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql, postgresql

from meterbook.accounting import MEASURES

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# A 64-bit key that is still SQLite's rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAME = 120


def Ident(length: int) -> String:
    """Text compared byte by byte: names and keys, not prose.

    PostgreSQL's default linguistic collation makes every index probe on such a column slow,
    and MySQL's default one is case-insensitive (``Alice`` would collide with ``alice``).
    """
    return (
        String(length)
        .with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")
        .with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")
    )


def _named(name: str, *extra: Column[object]) -> Table:
    """An org-model table: id, unique name, description, archived flag, creation time."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", Ident(NAME), nullable=False, unique=True),
        *extra,
        Column("description", Text),
        Column("archived", Boolean, nullable=False, default=False),
        Column("created_at", DateTime, nullable=False),
    )


meta = Table(
    "mb_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

divisions = _named("divisions")
teams = _named("teams", Column("division_id", ForeignKey("divisions.id")))
providers = _named(
    "providers",
    Column("kind", String(40), nullable=False),
    Column("tax_rate", Numeric(9, 6)),
    Column("currency", String(3)),
    Column("last_load_at", DateTime),
)
environments = _named("environments")
resources = _named(
    "resources",
    Column("kind", String(40), nullable=False),
    Column("provider_id", ForeignKey("providers.id")),
    Column("timezone", String(64)),
    Column("group_name", String(NAME)),
    Column("display_name", String(200)),
    Column("environment_id", ForeignKey("environments.id")),
)
users = _named(
    "users",
    Column("uid", Integer),
    Column("display_name", String(200)),
    Column("email", String(320)),
    Column("role", String(60)),
    Column("affiliation", String(NAME)),
    Column("team_id", ForeignKey("teams.id")),
)
projects = _named(
    "projects",
    Column("external_id", String(200)),
    Column("provider_id", ForeignKey("providers.id")),
    Column("team_id", ForeignKey("teams.id")),
)
# A provider knows a project by one external id.
Index("ux_projects_provider_external", projects.c.provider_id, projects.c.external_id, unique=True)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", Ident(40), nullable=False),
    Column("name", Ident(NAME), nullable=False),
    Column("resource_id", ForeignKey("resources.id")),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("kind", "name", name="uq_sources_kind_name"),
)

import_runs = Table(
    "import_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("inputs", Text, nullable=False),
    Column("options", Text),
    Column("lines_read", BigInteger, nullable=False, default=0),
    Column("inserted", BigInteger, nullable=False, default=0),
    Column("updated", BigInteger, nullable=False, default=0),
    Column("unchanged", BigInteger, nullable=False, default=0),
    Column("rejected", BigInteger, nullable=False, default=0),
    Column("skipped", BigInteger, nullable=False, default=0),
    Column("message", Text),
)

rejects = Table(
    "rejects",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("run_id", ForeignKey("import_runs.id", ondelete="CASCADE"), nullable=False),
    Column("file", String(1000), nullable=False),
    Column("line_no", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Index("ix_rejects_run_id", "run_id"),
)

# The fact table. Its ids are resolved by the importer from the tables above; like the fact
# tables of Open XDMoD it has no foreign keys (five per row would cost more than the insert
# itself on PostgreSQL), so the org-model commands check references before removing anything.
# It stores rates (cpus, gpus, nodes, mem_gb) and the interval; hours are rate x (end - start)
# (meterbook.accounting splits them across days), kept summed in the day rollup.
usage_records = Table(
    "usage_records",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("source_id", Integer, nullable=False),
    Column("record_key", Ident(190), nullable=False),
    Column("row_hash", BigInteger, nullable=False),
    Column("run_id", Integer),
    Column("resource_id", Integer),
    Column("user_id", Integer),
    Column("project_id", Integer),
    Column("group_name", String(NAME)),
    Column("partition", Ident(NAME)),
    Column("qos", Ident(NAME)),
    Column("workload_type", Ident(32), nullable=False),
    Column("state", Ident(32), nullable=False),
    Column("state_reason", String(NAME)),
    Column("name", String(255)),
    Column("submit_ts", Double),
    Column("eligible_ts", Double),
    Column("start_ts", Double),
    Column("end_ts", Double),
    Column("timelimit_s", BigInteger),
    Column("cpus", Double),
    Column("gpus", Double),
    Column("gpu_type", String(NAME)),
    Column("nodes", Integer),
    Column("mem_gb", Double),
    Column("io_ops", BigInteger),
    Column("cost", Numeric(18, 6)),
    Column("currency", String(3)),
    Column("exit_code", String(32)),
    Column("hosts", Text),
    Column("attrs", Text),
    UniqueConstraint("source_id", "record_key", name="uq_usage_records_source_key"),
    # Records arrive roughly in time order: on PostgreSQL a BRIN index finds time ranges for
    # almost nothing per insert.
    Index("ix_usage_records_start_ts", "start_ts", postgresql_using="brin"),
)

#: Key columns of the day rollup, in order; 0 or '' stand for "none".
ROLLUP_KEYS = (
    "day",
    "source_id",
    "resource_id",
    "user_id",
    "project_id",
    "partition",
    "qos",
    "state",
    "workload_type",
)
#: Additive measures of the day rollup (what meterbook.accounting computes).
ROLLUP_MEASURES = MEASURES

_KEY_COLUMNS: dict[str, type[Date] | type[Integer] | String] = {
    "day": Date,
    "source_id": Integer,
    "resource_id": Integer,
    "user_id": Integer,
    "project_id": Integer,
    "partition": Ident(NAME),
    "qos": Ident(NAME),
    "state": Ident(32),
    "workload_type": Ident(32),
}
_COUNT_MEASURES = ("io_ops", "jobs_started", "jobs_ended", "jobs_carried", "jobs_waited")


def _rollup(name: str, keys: tuple[str, ...]) -> Table:
    """A usage rollup: ``keys`` (a subset of ROLLUP_KEYS, ``day`` first), then every measure."""
    return Table(
        name,
        metadata,
        *(Column(k, _KEY_COLUMNS[k], nullable=False) for k in keys),
        *(
            Column(m, BigInteger if m in _COUNT_MEASURES else Double, nullable=False)
            for m in ROLLUP_MEASURES
        ),
        UniqueConstraint(*keys, name=f"uq_{name}_key"),
    )


usage_daily = _rollup("usage_daily", ROLLUP_KEYS)

# Coarser rollups of the same figures, kept by meterbook.store.cubes in the same transaction
# as usage_daily; queries answer from the smallest one that has what they group and filter on.
#: Per day and cluster (the daily series of a cluster or source).
CLUSTER_DAY_KEYS = ("day", "source_id", "resource_id")
usage_daily_clusters = _rollup("usage_daily_clusters", CLUSTER_DAY_KEYS)
#: Per day and account (project).
PROJECT_DAY_KEYS = ("day", "source_id", "resource_id", "project_id")
usage_daily_projects = _rollup("usage_daily_projects", PROJECT_DAY_KEYS)
#: Per month, account and user; ``day`` is the first day of the month and ``jobs_carried``
#: the jobs carried into that day (what "running in the month" adds to the jobs started).
USER_MONTH_KEYS = ("day", "source_id", "resource_id", "project_id", "user_id")
usage_monthly_users = _rollup("usage_monthly_users", USER_MONTH_KEYS)

# The IO-log and metric tables share this metadata.
from meterbook.store import (  # noqa: E402, F401
    schema_billing,
    schema_io,
    schema_metrics,
    schema_ops,
    schema_rating,
    schema_web,
)
