"""Tables of rating: rate cards and their versions, charges, their day rollup, exchange rates.

``rate_cards`` holds one price list entry: a ledger quantity (``cpu_hours``, ``gpu_hours``
with an optional GPU model, ...) for a scope (source, cluster, partition, QOS, provider,
workload type, environment; ``''`` = any) in a currency. ``rate_versions`` holds its prices,
each effective from a day (and up to the next version's day); versions are never changed or
removed, so the history of a price stays.

``charges`` holds, per usage record without a provider cost, one row per rated quantity:
quantity x price = amount, with the rate card and version used. Its key is the record's natural
key (source, record key), which the importer knows without reading back the ids it inserted.

``charge_daily`` is the day rollup of charges, split over days in proportion to the overlap as
``usage_daily`` is (IO operations on the start day). Key columns use ``0`` and ``''`` for
"none"; it has no foreign keys, being derived data.

``fx_rates`` holds exchange rates by day: one unit of ``from_currency`` is ``rate`` units of
``to_currency`` from that day on (until a later day's rate).
"""

from __future__ import annotations

from sqlalchemy import Column, Date, DateTime, Integer, String, Table, Text, UniqueConstraint

from meterbook.store.schema import NAME, Ident, metadata
from meterbook.store.schema_billing import Money

#: Length of a scope name in a rate card (the card's unique key must fit MySQL's limit).
SCOPE = 64

rate_cards = Table(
    "rate_cards",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("quantity", Ident(32), nullable=False),
    Column("gpu_model", Ident(SCOPE), nullable=False),
    Column("source", Ident(SCOPE), nullable=False),
    Column("cluster", Ident(SCOPE), nullable=False),
    Column("partition", Ident(SCOPE), nullable=False),
    Column("qos", Ident(SCOPE), nullable=False),
    Column("provider", Ident(SCOPE), nullable=False),
    Column("workload_type", Ident(SCOPE), nullable=False),
    Column("environment", Ident(SCOPE), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("description", Text),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint(
        "quantity",
        "gpu_model",
        "source",
        "cluster",
        "partition",
        "qos",
        "provider",
        "workload_type",
        "environment",
        name="uq_rate_cards_scope",
    ),
)

rate_versions = Table(
    "rate_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rate_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("effective_from", Date, nullable=False),
    Column("price", Money(), nullable=False),
    Column("note", Text),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("rate_id", "version", name="uq_rate_versions_rate_version"),
    UniqueConstraint("rate_id", "effective_from", name="uq_rate_versions_rate_from"),
)

charges = Table(
    "charges",
    metadata,
    Column("source_id", Integer, primary_key=True, autoincrement=False),
    Column("record_key", Ident(190), primary_key=True),
    Column("quantity", Ident(32), primary_key=True),
    Column("units", Money(), nullable=False),
    Column("rate_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("price", Money(), nullable=False),
    Column("amount", Money(), nullable=False),
    Column("currency", String(3), nullable=False),
)

#: Key columns of the charge rollup, in order; 0 or '' stand for "none".
CHARGE_KEYS = (
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
)
#: Additive measures of the charge rollup.
CHARGE_MEASURES = ("units", "amount")

charge_daily = Table(
    "charge_daily",
    metadata,
    Column("day", Date, nullable=False),
    Column("source_id", Integer, nullable=False),
    Column("resource_id", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("project_id", Integer, nullable=False),
    Column("partition", Ident(NAME), nullable=False),
    Column("qos", Ident(NAME), nullable=False),
    Column("workload_type", Ident(32), nullable=False),
    Column("quantity", Ident(32), nullable=False),
    Column("currency", Ident(3), nullable=False),
    Column("units", Money(), nullable=False),
    Column("amount", Money(), nullable=False),
    UniqueConstraint(*CHARGE_KEYS, name="uq_charge_daily_key"),
)

fx_rates = Table(
    "fx_rates",
    metadata,
    Column("day", Date, primary_key=True),
    Column("from_currency", Ident(3), primary_key=True),
    Column("to_currency", Ident(3), primary_key=True),
    Column("rate", Money(), nullable=False),
)
