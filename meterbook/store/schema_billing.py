"""Tables of spend: billing line items, their day rollup, match rules and charge rules.

``cost_lines`` keeps every line item of every billing file as the provider gave it (mapped to
the ledger's names): provider, billing account, sub-account, project as the provider knows it
(``project_ext``) and the project it is attributed to (``project_id``, null = Unallocated),
service, SKU, metric (usage type / meter), region, resource, charge category, quantity and
unit, billed / effective / list cost, currency, tags (a JSON object) and the charge period
``[start_ts, end_ts)`` in Unix epoch seconds. Its natural key is (provider, ``line_key``): the
provider's line item id, or a stable hash of the row when the format has none. ``group_name``
is the workload group the match rules gave it.

``cost_daily`` is the day rollup (UTC days: billing periods are defined in UTC): a line's costs
are spread over the days of its charge period in proportion to the overlap (a monthly line
evenly over the days of the month, an hourly line into its day). Its ``rule`` column is empty
for provider charges and names the rule for derived ones (``tax`` for a provider's tax rate,
else a charge rule's name): derived lines live only in the rollup and are rebuilt from the
lines and the rules. Key columns use ``0`` and ``''`` for "none", as ``usage_daily`` does.

``budgets`` holds one amount per (month ``YYYY-MM``, provider, team), as the original spend
tracker did, with the budget's currency, a comment and the team's response.

``allocations`` holds amounts of CPU, GPU or node hours or money granted to a usage account or
project over a range of days (``meterbook.allocations``: burn-down against the rollups).

Money is ``NUMERIC(38, 18)``: exact on PostgreSQL and MariaDB/MySQL; SQLite has no decimal
type and keeps binary doubles (about 15 significant digits, exact to the cent and well below
for any realistic total).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from meterbook.store.schema import NAME, BigId, Ident, metadata


def Money() -> Numeric:  # type: ignore[type-arg]
    return Numeric(38, 18)


cost_lines = Table(
    "cost_lines",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("provider_id", Integer, nullable=False),
    Column("line_key", Ident(190), nullable=False),
    Column("row_hash", BigInteger, nullable=False),
    Column("run_id", Integer),
    Column("project_id", Integer),
    Column("project_ext", Ident(200)),
    Column("billing_account", String(200)),
    Column("sub_account", String(160)),
    Column("sub_account_name", String(200)),
    Column("service", String(160)),
    Column("service_category", String(60)),
    Column("sku", String(200)),
    Column("metric", String(255)),
    Column("region", String(NAME)),
    Column("resource", String(1000)),
    Column("charge_category", String(32), nullable=False),
    Column("charge_frequency", String(32)),
    Column("description", Text),
    Column("quantity", Double),
    Column("unit", String(60)),
    Column("billed_cost", Money(), nullable=False),
    Column("effective_cost", Money()),
    Column("list_cost", Money()),
    Column("currency", String(3), nullable=False),
    Column("tags", Text),
    Column("start_ts", Double, nullable=False),
    Column("end_ts", Double, nullable=False),
    Column("group_name", String(NAME)),
    UniqueConstraint("provider_id", "line_key", name="uq_cost_lines_provider_key"),
    Index("ix_cost_lines_start_ts", "start_ts", postgresql_using="brin"),
)

#: Key columns of the spend rollup, in order; 0 or '' stand for "none".
COST_KEYS = (
    "day",
    "provider_id",
    "project_id",
    "sub_account",
    "service",
    "group_name",
    "charge_category",
    "currency",
    "rule",
)
#: Additive measures of the spend rollup.
COST_MEASURES = ("billed_cost", "effective_cost", "list_cost", "quantity", "lines")

cost_daily = Table(
    "cost_daily",
    metadata,
    Column("day", Date, nullable=False),
    Column("provider_id", Integer, nullable=False),
    Column("project_id", Integer, nullable=False),
    Column("sub_account", Ident(160), nullable=False),
    Column("service", Ident(160), nullable=False),
    Column("group_name", Ident(NAME), nullable=False),
    Column("charge_category", Ident(32), nullable=False),
    Column("currency", Ident(3), nullable=False),
    Column("rule", Ident(NAME), nullable=False),
    Column("billed_cost", Money(), nullable=False),
    Column("effective_cost", Money(), nullable=False),
    Column("list_cost", Money(), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("lines", BigInteger, nullable=False),
    UniqueConstraint(*COST_KEYS, name="uq_cost_daily_key"),
)

# The original spend tracker's rule table: in rank order the first rule whose regular
# expression matches puts a cost into its workload group; ``scalefactor`` ("/ 86400") and
# ``scaleunit`` restate the quantity. ``field`` says what the expression is matched against.
match_rules = Table(
    "match_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("rank", Integer, nullable=False),
    Column("group_name", String(NAME), nullable=False),
    Column("textmatch", String(500), nullable=False),
    Column("provider_id", Integer),
    Column("field", String(16), nullable=False),
    Column("scalefactor", String(60)),
    Column("scaleunit", String(60)),
)

# Percentage rules deriving charges from provider charges: overhead, markup, discount.
charge_rules = Table(
    "charge_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Ident(NAME), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("percent", Numeric(12, 6), nullable=False),
    Column("provider_id", Integer),
    Column("service_match", String(500)),
    Column("group_name", String(NAME)),
    Column("charge_category", String(32)),
    Column("valid_from", Date),
    Column("valid_to", Date),
    Column("created_at", DateTime, nullable=False),
)

# One amount per (month, provider, team), with a comment and the team's response. Like the
# rules above it has no foreign keys: the org model refuses to remove a provider or team that a
# budget refers to (meterbook.org's referrers).
budgets = Table(
    "budgets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("month", Ident(7), nullable=False),
    Column("provider_id", Integer, nullable=False),
    Column("team_id", Integer, nullable=False),
    Column("amount", Money(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("comment", Text),
    Column("response", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("month", "provider_id", "team_id", name="uq_budgets_month_provider_team"),
)

# An amount of a quantity (CPU, GPU or node hours, or money) for a usage account or org project
# (both are rows of ``projects``) over the days ``start_date`` to ``end_date``, both inclusive
# (as ``--from``/``--to`` are). No foreign key either: meterbook.org refuses to remove a project
# that an allocation refers to.
allocations = Table(
    "allocations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Ident(NAME), nullable=False, unique=True),
    Column("scope_kind", String(16), nullable=False),
    Column("project_id", Integer, nullable=False),
    Column("quantity", String(16), nullable=False),
    Column("amount", Money(), nullable=False),
    Column("currency", String(3)),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("comment", Text),
    Column("created_at", DateTime, nullable=False),
)

# Alerts raised by the rules of meterbook.toml (meterbook.alerts): one row per rule and
# condition, whose ``fingerprint`` (a digest of what the condition is about: team and month
# and threshold, user and day...) makes raising it again a no-op.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rule", Ident(NAME), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("period", String(32), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Money(), nullable=False),
    Column("threshold", Money()),
    Column("expected", Money()),
    Column("unit", String(16)),
    Column("message", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("acknowledged_at", DateTime),
    Column("acknowledged_by", String(120)),
    Column("notified_at", DateTime),
    Column("notify_error", Text),
    UniqueConstraint("rule", "fingerprint", name="uq_alerts_rule_fingerprint"),
)
