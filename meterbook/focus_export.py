"""FOCUS 1.2 export: every cost of the ledger over a period as one FOCUS Cost and Usage dataset.

:func:`export_focus` writes each billing line (``cost_lines``) whose charge period starts in the
period as one row, and each derived charge of the day rollup (``cost_daily`` rows whose
``rule`` is not empty: tax, charge rules) of a day in the period as one row for that day. The
file is CSV or Parquet; a metadata file ``OUT.metadata.json`` (FOCUS metadata: data generator,
schema with its column definitions, plus the export's period, row count and totals) is written
next to it.

Rows are read and written in pages (server-side cursors where the database has them), so memory
stays flat whatever the size of the ledger. The file appears under its name only when complete.

Where the ledger lacks something FOCUS 1.2 requires, the export fills it in a documented way
(``docs/focus-export.md``): the billing account falls back to the provider's name, a missing
effective or list cost to the billed cost, units are rewritten in the FOCUS unit format (the
provider's own unit stays in ``x_ProviderUnit``), one service category per service name.
"""

from __future__ import annotations

import csv
import json
import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Double, and_, func, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from meterbook import __version__
from meterbook.attribution import TAX_RULE
from meterbook.errors import ConfigError, InputError
from meterbook.store.dialect import backend
from meterbook.store.schema import divisions, projects, providers, teams
from meterbook.store.schema_billing import charge_rules, cost_daily, cost_lines

FOCUS_VERSION = "1.2"
FORMATS = ("csv", "parquet")
Format = Literal["csv", "parquet"]
#: Rows read and written at a time.
PAGE = 10_000
#: ``x_ProjectName``, ``x_TeamName``, ``x_DivisionName`` of lines no project claims.
UNALLOCATED = "Unallocated"

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
SERVICE_CATEGORIES = (
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
    "Storage", "Web", "Other",
)  # fmt: skip
#: Names providers use for a FOCUS service category (lower case).
_CATEGORY_ALIASES = {
    "ai": "AI and Machine Learning",
    "machine learning": "AI and Machine Learning",
    "ai + machine learning": "AI and Machine Learning",
    "database": "Databases",
    "network": "Networking",
    "iot": "Internet of Things",
    "management": "Management and Governance",
    "management and governance": "Management and Governance",
    "devops": "Developer Tools",
    "containers": "Compute",
}
_FREQUENCY_ALIASES = {
    "one-time": "One-Time", "onetime": "One-Time", "one time": "One-Time",
    "recurring": "Recurring", "usage-based": "Usage-Based", "usage based": "Usage-Based",
    "usagebased": "Usage-Based", "usage": "Usage-Based",
}  # fmt: skip

# ---------------------------------------------------------------------------------------------
# The columns: FOCUS 1.2 columns in alphabetical order, then Meterbook's own (x_).

_S, _M, _N, _T, _J = "string", "money", "number", "datetime", "json"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("AvailabilityZone", _S),
    ("BilledCost", _M),
    ("BillingAccountId", _S),
    ("BillingAccountName", _S),
    ("BillingCurrency", _S),
    ("BillingPeriodEnd", _T),
    ("BillingPeriodStart", _T),
    ("CapacityReservationId", _S),
    ("CapacityReservationStatus", _S),
    ("ChargeCategory", _S),
    ("ChargeClass", _S),
    ("ChargeDescription", _S),
    ("ChargeFrequency", _S),
    ("ChargePeriodEnd", _T),
    ("ChargePeriodStart", _T),
    ("CommitmentDiscountCategory", _S),
    ("CommitmentDiscountId", _S),
    ("CommitmentDiscountName", _S),
    ("CommitmentDiscountQuantity", _N),
    ("CommitmentDiscountStatus", _S),
    ("CommitmentDiscountType", _S),
    ("CommitmentDiscountUnit", _S),
    ("ConsumedQuantity", _N),
    ("ConsumedUnit", _S),
    ("ContractedCost", _M),
    ("ContractedUnitPrice", _N),
    ("EffectiveCost", _M),
    ("InvoiceId", _S),
    ("InvoiceIssuerName", _S),
    ("ListCost", _M),
    ("ListUnitPrice", _N),
    ("PricingCategory", _S),
    ("PricingQuantity", _N),
    ("PricingUnit", _S),
    ("ProviderName", _S),
    ("PublisherName", _S),
    ("RegionId", _S),
    ("RegionName", _S),
    ("ResourceId", _S),
    ("ResourceName", _S),
    ("ServiceCategory", _S),
    ("ServiceName", _S),
    ("ServiceSubcategory", _S),
    ("SkuId", _S),
    ("SkuMeter", _S),
    ("SkuPriceDetails", _J),
    ("SkuPriceId", _S),
    ("SubAccountId", _S),
    ("SubAccountName", _S),
    ("Tags", _J),
    ("x_ProjectName", _S),
    ("x_ProjectExternalId", _S),
    ("x_TeamName", _S),
    ("x_DivisionName", _S),
    ("x_WorkloadGroup", _S),
    ("x_DerivedBy", _S),
    ("x_ProviderUnit", _S),
)
COLUMN_NAMES = tuple(name for name, _kind in COLUMNS)
_INDEX = {name: i for i, name in enumerate(COLUMN_NAMES)}
_MONEY_TYPE = pa.decimal128(38, 18)
_ARROW_TYPES = {
    _S: pa.string(),
    _J: pa.string(),
    _M: _MONEY_TYPE,
    _N: pa.float64(),
    _T: pa.timestamp("ms", tz="UTC"),
}
ARROW_SCHEMA = pa.schema([pa.field(n, _ARROW_TYPES[k]) for n, k in COLUMNS])
#: FOCUS metadata data types of the column kinds.
_FOCUS_TYPES = {_S: "STRING", _J: "JSON", _M: "DECIMAL", _N: "DECIMAL", _T: "DATETIME"}

_QUANTUM = Decimal(1).scaleb(-18)
_ZERO = Decimal(0).quantize(_QUANTUM)
#: Decimal contexts: wide enough for any NUMERIC(38, 18) sum; a double's 15 digits.
_WIDE = Context(prec=60)
_DOUBLE = Context(prec=15)
_EPOCH = date(1970, 1, 1)
_DAY = 86400


@dataclass
class ExportResult:
    """What :func:`export_focus` wrote."""

    path: Path
    metadata_path: Path
    rows: int = 0
    #: Rows from billing lines and from derived charges (tax, charge rules).
    line_rows: int = 0
    derived_rows: int = 0
    #: Sum of BilledCost over every row (all currencies together, as ``meterbook spend``).
    billed_cost: Decimal = Decimal(0)
    billed_by_currency: dict[str, Decimal] = field(default_factory=dict)

    @property
    def currencies(self) -> list[str]:
        return sorted(self.billed_by_currency)


# ---------------------------------------------------------------------------------------------
# Values


@lru_cache(maxsize=65536)
def iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of an aware or naive-UTC datetime."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=65536)
def _moment(seconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def _epoch(day: date) -> int:
    return (day - _EPOCH).days * _DAY


@lru_cache(maxsize=1024)
def _month_of(year: int, month: int) -> tuple[datetime, datetime]:
    first = datetime(year, month, 1, tzinfo=UTC)
    return first, (first + timedelta(days=32)).replace(day=1)


def _month(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding ``moment``: [first day, first day of the next)."""
    return _month_of(moment.year, moment.month)


def _decimal(value: Any) -> Decimal | None:
    """An amount as Decimal, to 18 places (the ledger's scale). SQLite's doubles are cut to
    15 significant digits, what a double holds, so 1.45 stays 1.45 and a sum of doubles
    loses its binary noise (0.0400798274, not 0.040079827400000004)."""
    if value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = _DOUBLE.plus(Decimal(repr(value)))
    elif not isinstance(value, Decimal):
        value = Decimal(str(value))
    quantized = value.quantize(_QUANTUM, context=_WIDE)
    return quantized if quantized else _ZERO  # no -0


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def number_text(value: Decimal | float) -> str:
    """A number as FOCUS numeric text: plain decimal notation, at least one decimal place so
    that readers infer a decimal type (``4.0``, ``0.00000176``, ``-12.5``)."""
    if isinstance(value, float):
        text = repr(value)
        if "e" not in text and "n" not in text:  # 24.0, 0.5 (not 4.4e-07, inf, nan)
            return text
        value = Decimal(text)
    text = format(value, "f")
    if "." not in text:
        return text + ".0"
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


def _text(value: Any) -> str | None:
    """A string value; empty or blank becomes null (FOCUS discourages empty strings)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@lru_cache(maxsize=4096)
def charge_category(value: str | None) -> str:
    """The FOCUS charge category of a ledger value (unknown ones: Adjustment)."""
    lowered = (value or "").strip().lower()
    for name in CHARGE_CATEGORIES:
        if name.lower() == lowered:
            return name
    return "Adjustment"


@lru_cache(maxsize=4096)
def charge_frequency(value: str | None, category: str) -> str:
    """One of One-Time, Recurring, Usage-Based (missing: Usage-Based); a purchase is never
    Usage-Based (FOCUS 1.2), so a purchase without a frequency is One-Time."""
    found = _FREQUENCY_ALIASES.get((value or "").strip().lower(), "Usage-Based")
    if category == "Purchase" and found == "Usage-Based":
        return "One-Time"
    return found


@lru_cache(maxsize=4096)
def service_category(value: str | None) -> str | None:
    """The FOCUS service category of a provider's value, or None when it names none."""
    lowered = (value or "").strip().lower()
    if not lowered:
        return None
    for name in SERVICE_CATEGORIES:
        if name.lower() == lowered:
            return name
    return _CATEGORY_ALIASES.get(lowered)


def service_name(value: str | None) -> str:
    return _text(value) or "Unknown"


# ---------------------------------------------------------------------------------------------
# Units: the FOCUS 1.2 unit format (what the FinOps Foundation's validator checks)

_DATA_SIZES = (
    "b", "Kb", "Mb", "Gb", "Tb", "Pb", "Eb", "B", "KB", "MB", "GB", "TB", "PB", "EB",
    "Kib", "Mib", "Gib", "Tib", "Pib", "Eib", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
)  # fmt: skip
_TIME_ONE = ("Year", "Month", "Day", "Hour", "Minute", "Second")
_TIME_MANY = tuple(t + "s" for t in _TIME_ONE)
_COUNT = r"[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z][A-Za-z0-9]*)*"
_SIZE = "|".join(_DATA_SIZES)
_ONE = "|".join(_TIME_ONE)
_MANY = "|".join(_TIME_MANY)
_UNIT_FORMAT = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            f"(?:{_SIZE}|{_ONE}|{_MANY}|{_COUNT})",
            f"(?:{_SIZE}|{_COUNT})-(?:{_MANY})",
            f"(?:{_SIZE}|{_COUNT}|{_MANY})/(?:{_ONE})",
            f"[0-9]+ (?:{_SIZE}|{_ONE}|{_MANY}|{_COUNT})",
            f"(?:{_SIZE}|{_COUNT}|{_MANY})/[0-9]+ (?:{_MANY})",
        )
    )
)
#: Abbreviations of time units providers use (lower case) -> the FOCUS singular.
_TIME_WORDS = {
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), "Year"),
    **dict.fromkeys(("mo", "mos", "mon", "mth", "mths", "month", "months"), "Month"),
    **dict.fromkeys(("d", "day", "days"), "Day"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "Hour"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "Minute"),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "Second"),
}
_MULTIPLIERS = {"k": 1000, "m": 1_000_000, "b": 1_000_000_000}


def unit_conforms(unit: str) -> bool:
    return _UNIT_FORMAT.fullmatch(unit) is not None


def _words(text: str) -> str:
    """A unit part as words: ``GiB/Second`` -> ``GiB per Second``, ``A-GB`` -> ``A GB``."""
    text = text.replace("/", " per ")
    return " ".join(re.sub(r"[^A-Za-z0-9]+", " ", text).split())


def _unit_candidates(unit: str) -> Iterator[str]:
    found = re.fullmatch(r"(.+)-\s*([A-Za-z]+)", unit)
    if found and found.group(2).lower() in _TIME_WORDS:  # GB-Mo, Lambda-GB-Second
        yield f"{_words(found.group(1))}-{_TIME_WORDS[found.group(2).lower()]}s"
    found = re.fullmatch(r"(.+)/\s*([A-Za-z]+)", unit)
    if found and found.group(2).lower() in _TIME_WORDS:  # GB/Mo
        yield f"{_words(found.group(1))}/{_TIME_WORDS[found.group(2).lower()]}"
    found = re.fullmatch(r"([0-9]+)\s*([KkMmBb])(?:\s+(.*))?", unit)
    if found:  # 10K, 1M Requests
        count = int(found.group(1)) * _MULTIPLIERS[found.group(2).lower()]
        yield f"{count} {_words(found.group(3) or '') or 'Units'}"
    words = _words(unit)
    found = re.fullmatch(r"([0-9]+)\s+(.*)", words)
    if found:
        yield f"{found.group(1)} {found.group(2)}"
    yield words


@lru_cache(maxsize=16384)
def focus_unit(unit: str | None) -> str | None:
    """A provider's unit in the FOCUS unit format: kept when it conforms, else rewritten
    (``GB-Mo`` -> ``GB-Months``, ``10K`` -> ``10000 Units``, ``GiB/Second-Months`` ->
    ``GiB per Second-Months``); ``Units`` when nothing of it can be kept."""
    text = _text(unit)
    if text is None:
        return None
    if unit_conforms(text):
        return text
    for candidate in _unit_candidates(text):
        if candidate and unit_conforms(candidate):
            return candidate
    return "Units"


# ---------------------------------------------------------------------------------------------
# Tags


@lru_cache(maxsize=16384)
def tags_text(value: str | None) -> str | None:
    """Tags as a FOCUS key-value object: a JSON object whose values are scalars (nested values
    become their JSON text); text that is not a JSON object is kept under ``x_Tags``."""
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = {"x_Tags": text}
    if not isinstance(parsed, dict):
        parsed = {"x_Tags": text}
    if not parsed:
        return None
    out = {
        str(k): (v if v is None or isinstance(v, str | int | float | bool) else json.dumps(v))
        for k, v in parsed.items()
    }
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Reading the ledger


@dataclass(frozen=True)
class _Project:
    name: str
    external_id: str | None
    team: str
    division: str


@dataclass
class _Lookups:
    """The small tables every row refers to, read once before the rows stream."""

    providers: dict[int, str]
    tax_rates: dict[int, Decimal]
    projects: dict[int, _Project]
    rules: dict[str, tuple[str, Decimal]]
    #: ServiceName -> its one ServiceCategory over the export.
    categories: dict[str, str]
    #: (provider id, sub-account) -> (sub-account name, billing account), for derived rows.
    accounts: dict[tuple[int, str], tuple[str | None, str | None]]


def _money_column(conn: Connection, column: Any) -> ColumnElement[Any]:
    """A money column as the database keeps it: SQLite's doubles as floats (not through
    SQLAlchemy's 18-place Decimal conversion, which shows their binary noise)."""
    if backend(conn) == "sqlite":
        return type_coerce(column, Double()).label(column.name)
    return column  # type: ignore[no-any-return]


def _load_lookups(conn: Connection, start_ts: int, end_ts: int) -> _Lookups:
    names = dict(conn.execute(select(providers.c.id, providers.c.name)).all())
    tax = {
        r.id: _decimal(r.tax_rate) or Decimal(0)
        for r in conn.execute(select(providers.c.id, providers.c.tax_rate))
        if r.tax_rate
    }
    division_names = dict(conn.execute(select(divisions.c.id, divisions.c.name)).all())
    team_rows = {
        r.id: (r.name, division_names.get(r.division_id))
        for r in conn.execute(select(teams.c.id, teams.c.name, teams.c.division_id))
    }
    project_rows: dict[int, _Project] = {}
    for r in conn.execute(
        select(projects.c.id, projects.c.name, projects.c.external_id, projects.c.team_id)
    ):
        team, division = team_rows.get(r.team_id, (None, None))
        project_rows[r.id] = _Project(
            r.name, r.external_id, team or UNALLOCATED, division or UNALLOCATED
        )
    rules = {
        r.name: (r.kind, _decimal(r.percent) or Decimal(0))
        for r in conn.execute(
            select(charge_rules.c.name, charge_rules.c.kind, charge_rules.c.percent)
        )
    }
    c = cost_lines.c
    in_period = and_(c.start_ts >= start_ts, c.start_ts < end_ts)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for service, category, n in conn.execute(
        select(c.service, c.service_category, func.count())
        .where(in_period)
        .group_by(c.service, c.service_category)
    ):
        mapped = service_category(category)
        counts[service_name(service)][mapped or ""] += int(n)
    categories = {name: _one_category(found) for name, found in counts.items()}
    return _Lookups(names, tax, project_rows, rules, categories, {})


#: How far before the period a line may start and still have derived charges in it, for
#: naming their sub-account and billing account (further: the id and the provider's name).
_LOOKBACK = 366 * _DAY


def _accounts(
    conn: Connection, start_ts: int, end_ts: int
) -> dict[tuple[int, str], tuple[str | None, str | None]]:
    """(provider id, sub-account) -> (its name, billing account) over the lines whose charge
    period overlaps the period: derived charges have neither in the day rollup."""
    c = cost_lines.c
    rows = conn.execute(
        select(
            c.provider_id,
            c.sub_account,
            func.max(c.sub_account_name).label("name"),
            func.max(c.billing_account).label("account"),
        )
        .where(
            c.start_ts >= start_ts - _LOOKBACK,
            c.start_ts < end_ts,
            c.end_ts > start_ts,
            c.sub_account.is_not(None),
        )
        .group_by(c.provider_id, c.sub_account)
    )
    return {(r.provider_id, r.sub_account): (_text(r.name), _text(r.account)) for r in rows}


def _has_derived(conn: Connection, start: date, end: date) -> bool:
    d = cost_daily.c
    found = conn.execute(
        select(d.day).where(d.day >= start, d.day < end, d.rule != "").limit(1)
    ).first()
    return found is not None


def _one_category(found: Counter[str]) -> str:
    """FOCUS allows one ServiceCategory per ServiceName: the one most of its lines name."""
    named = [(-n, name) for name, n in found.items() if name]
    return min(named)[1] if named else "Other"


def _lines(conn: Connection, start_ts: int, end_ts: int, page: int) -> Iterator[Sequence[Any]]:
    c = cost_lines.c
    stmt = (
        select(
            c.id, c.provider_id, c.project_id, c.project_ext, c.billing_account, c.sub_account,
            c.sub_account_name, c.service, c.sku, c.metric, c.region, c.resource,
            c.charge_category, c.charge_frequency, c.description, c.quantity, c.unit,
            _money_column(conn, c.billed_cost), _money_column(conn, c.effective_cost),
            _money_column(conn, c.list_cost), c.currency, c.tags, c.start_ts, c.end_ts,
            c.group_name,
        )
        .where(c.start_ts >= start_ts, c.start_ts < end_ts)
        .order_by(c.start_ts, c.id)
    )  # fmt: skip
    result = conn.execution_options(yield_per=page).execute(stmt)
    try:
        yield from result.partitions()
    finally:
        result.close()


def _derived(conn: Connection, start: date, end: date, page: int) -> Iterator[Sequence[Any]]:
    d = cost_daily.c
    stmt = (
        select(
            d.day, d.provider_id, d.project_id, d.sub_account, d.service, d.group_name,
            d.charge_category, d.currency, d.rule, _money_column(conn, d.billed_cost),
            _money_column(conn, d.effective_cost), _money_column(conn, d.list_cost),
        )
        .where(d.day >= start, d.day < end, d.rule != "")
        .order_by(d.day, d.provider_id, d.project_id, d.sub_account, d.service, d.group_name,
                  d.charge_category, d.currency, d.rule)
    )  # fmt: skip
    result = conn.execution_options(yield_per=page).execute(stmt)
    try:
        yield from result.partitions()
    finally:
        result.close()


# ---------------------------------------------------------------------------------------------
# Rows


def _unit_price(cost: Decimal, quantity: float | None) -> float | None:
    """Cost per pricing unit: FOCUS wants ``price x PricingQuantity = cost``, price >= 0. None
    when no such price exists (no quantity, or a zero quantity with a cost)."""
    if quantity is None:
        return None
    if quantity == 0:
        return 0.0 if cost == 0 else None
    price = float(_WIDE.divide(cost, Decimal(repr(quantity))))
    return price if price >= 0 else None


class _Rows:
    """Maps ledger rows to FOCUS rows (lists in :data:`COLUMN_NAMES` order)."""

    def __init__(self, lookups: _Lookups) -> None:
        self.lookups = lookups
        self.services: dict[str | None, tuple[str, str, str]] = {}

    def _base(self, provider_id: int, project_id: int | None) -> tuple[list[Any], str]:
        row: list[Any] = [None] * len(COLUMN_NAMES)
        provider = self.lookups.providers.get(provider_id, f"provider {provider_id}")
        for name in ("ProviderName", "PublisherName", "InvoiceIssuerName"):
            row[_INDEX[name]] = provider
        project = self.lookups.projects.get(project_id) if project_id else None
        if project is None:
            row[_INDEX["x_ProjectName"]] = UNALLOCATED
            row[_INDEX["x_TeamName"]] = UNALLOCATED
            row[_INDEX["x_DivisionName"]] = UNALLOCATED
        else:
            row[_INDEX["x_ProjectName"]] = project.name
            row[_INDEX["x_TeamName"]] = project.team
            row[_INDEX["x_DivisionName"]] = project.division
        return row, provider

    def _service(self, row: list[Any], service: str | None) -> None:
        found = self.services.get(service)
        if found is None:
            name = service_name(service)
            category = self.lookups.categories.get(name, "Other")
            found = self.services[service] = (name, category, f"Other ({category})")
        row[_INDEX["ServiceName"]], row[_INDEX["ServiceCategory"]] = found[0], found[1]
        row[_INDEX["ServiceSubcategory"]] = found[2]

    @staticmethod
    def _period(row: list[Any], start: datetime, end: datetime) -> None:
        row[_INDEX["ChargePeriodStart"]] = start
        row[_INDEX["ChargePeriodEnd"]] = end
        first, following = _month(start)
        row[_INDEX["BillingPeriodStart"]] = first
        row[_INDEX["BillingPeriodEnd"]] = following

    @staticmethod
    def _costs(
        row: list[Any], billed: Any, effective: Any, listed: Any, currency: str, contracted: str
    ) -> None:
        """The four costs; a missing effective or list cost is the billed cost. The ledger
        keeps no contracted cost: it is the effective cost of usage and derived charges (the
        cost at the rates paid, amortized commitments included) and the billed cost of
        purchases, credits, adjustments and taxes (FOCUS: a charge unrelated to others has its
        ContractedCost equal to its BilledCost; a purchase's EffectiveCost may be 0)."""
        billed_cost = _decimal(billed) or Decimal(0)
        effective_cost = _decimal(effective)
        effective_cost = billed_cost if effective_cost is None else effective_cost
        list_cost = _decimal(listed)
        row[_INDEX["BilledCost"]] = billed_cost
        row[_INDEX["EffectiveCost"]] = effective_cost
        row[_INDEX["ListCost"]] = billed_cost if list_cost is None else list_cost
        row[_INDEX["ContractedCost"]] = effective_cost if contracted == "effective" else billed_cost
        row[_INDEX["BillingCurrency"]] = currency.strip().upper()

    def line(self, r: Any) -> list[Any]:
        row, provider = self._base(r.provider_id, r.project_id)
        category = charge_category(r.charge_category)
        row[_INDEX["ChargeCategory"]] = category
        row[_INDEX["ChargeFrequency"]] = charge_frequency(r.charge_frequency, category)
        self._service(row, r.service)
        start = _moment(math.floor(r.start_ts))
        end = _moment(max(math.ceil(r.end_ts), math.floor(r.start_ts)))
        self._period(row, start, end)
        contracted = "effective" if category == "Usage" else "billed"
        self._costs(row, r.billed_cost, r.effective_cost, r.list_cost, r.currency, contracted)
        account = _text(r.billing_account) or provider
        row[_INDEX["BillingAccountId"]] = account
        row[_INDEX["BillingAccountName"]] = account
        sub_account = _text(r.sub_account)
        if sub_account is not None:
            row[_INDEX["SubAccountId"]] = sub_account
            row[_INDEX["SubAccountName"]] = _text(r.sub_account_name) or sub_account
        region = _text(r.region)
        row[_INDEX["RegionId"]] = region
        row[_INDEX["RegionName"]] = region
        row[_INDEX["ResourceId"]] = _text(r.resource)
        row[_INDEX["Tags"]] = tags_text(r.tags)
        metric = _text(r.metric)
        row[_INDEX["ChargeDescription"]] = (
            _text(r.description) or metric or _text(r.sku) or row[_INDEX["ServiceName"]]
        )
        row[_INDEX["x_ProjectExternalId"]] = _text(r.project_ext)
        row[_INDEX["x_WorkloadGroup"]] = _text(r.group_name)
        row[_INDEX["x_ProviderUnit"]] = _text(r.unit)
        if category != "Tax":
            self._pricing(row, r, category, metric)
        return row

    def _pricing(self, row: list[Any], r: Any, category: str, metric: str | None) -> None:
        """SKU, quantities, units and unit prices of a charge that is not a tax."""
        quantity = _float(r.quantity)
        unit = focus_unit(r.unit)
        if quantity is not None and unit is None:
            unit = "Units"
        priced = category in ("Usage", "Purchase")
        sku = _text(r.sku)
        if sku is None and priced:  # FOCUS requires a SKU on usage and purchases
            sku = metric or row[_INDEX["ServiceName"]]
        if sku is not None:
            row[_INDEX["SkuId"]] = sku
            row[_INDEX["SkuPriceId"]] = sku
            row[_INDEX["SkuMeter"]] = metric or row[_INDEX["ServiceName"]]
        if quantity is not None:
            row[_INDEX["PricingQuantity"]] = quantity
            row[_INDEX["PricingUnit"]] = unit
            if category == "Usage":
                row[_INDEX["ConsumedQuantity"]] = quantity
                row[_INDEX["ConsumedUnit"]] = unit
        if priced:
            row[_INDEX["PricingCategory"]] = "Standard"
            row[_INDEX["ListUnitPrice"]] = _unit_price(row[_INDEX["ListCost"]], quantity)
            row[_INDEX["ContractedUnitPrice"]] = _unit_price(
                row[_INDEX["ContractedCost"]], quantity
            )

    def derived(self, r: Any) -> list[Any]:
        row, provider = self._base(r.provider_id, r.project_id)
        category = charge_category(r.charge_category)
        row[_INDEX["ChargeCategory"]] = category
        row[_INDEX["ChargeFrequency"]] = charge_frequency(None, category)
        self._service(row, r.service)
        start = datetime(r.day.year, r.day.month, r.day.day, tzinfo=UTC)
        self._period(row, start, start + timedelta(days=1))
        self._costs(row, r.billed_cost, r.effective_cost, r.list_cost, r.currency, "effective")
        sub_account = _text(r.sub_account)
        name, account = self.lookups.accounts.get((r.provider_id, r.sub_account), (None, None))
        row[_INDEX["BillingAccountId"]] = account or provider
        row[_INDEX["BillingAccountName"]] = account or provider
        if sub_account is not None:
            row[_INDEX["SubAccountId"]] = sub_account
            row[_INDEX["SubAccountName"]] = name or sub_account
        project = self.lookups.projects.get(r.project_id) if r.project_id else None
        row[_INDEX["x_ProjectExternalId"]] = project.external_id if project else None
        row[_INDEX["x_WorkloadGroup"]] = _text(r.group_name)
        row[_INDEX["x_DerivedBy"]] = r.rule
        row[_INDEX["ChargeDescription"]] = self._description(
            r.rule, r.provider_id, provider, row[_INDEX["ServiceName"]]
        )
        return row

    def _description(self, rule: str, provider_id: int, provider: str, service: str) -> str:
        if rule == TAX_RULE:
            rate = self.lookups.tax_rates.get(provider_id)
            shown = f" {_percent(rate)}%" if rate else ""
            return f"Tax{shown} on {service} charges (tax rate of {provider})"
        kind, percent = self.lookups.rules.get(rule, ("charge rule", Decimal(0)))
        shown = f" {_percent(percent)}%" if percent else ""
        return f"{kind.capitalize()}{shown} on {service} charges (charge rule {rule})"


def _percent(value: Decimal) -> str:
    return number_text(value).removesuffix(".0")


# ---------------------------------------------------------------------------------------------
# Writers


class _CsvWriter:
    """Plain CSV (UTF-8): nulls as empty fields, numbers in decimal notation with a decimal
    point (readers infer types from the text), date-times in ISO 8601 UTC, quotes only where
    a value needs them."""

    def __init__(self, handle: IO[str]) -> None:
        self.writer = csv.writer(handle, lineterminator="\n")
        self.writer.writerow(COLUMN_NAMES)
        self.formats: list[tuple[int, Callable[[Any], str]]] = [
            (i, iso if kind == _T else number_text)
            for i, (_name, kind) in enumerate(COLUMNS)
            if kind in (_M, _N, _T)
        ]

    def write(self, rows: list[list[Any]]) -> None:
        """Writes ``rows``, formatting their values in place (the rows are spent)."""
        formats = self.formats
        for row in rows:
            for index, text in formats:
                value = row[index]
                if value is not None:
                    row[index] = text(value)
        self.writer.writerows(rows)

    def close(self) -> None:
        pass


class _ParquetWriter:
    """Parquet (zstd), row groups of about :data:`ROW_GROUP` rows whatever the page size."""

    ROW_GROUP = 100_000

    def __init__(self, path: Path) -> None:
        self.writer = pq.ParquetWriter(str(path), ARROW_SCHEMA, compression="zstd")
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def write(self, rows: list[list[Any]]) -> None:
        columns = zip(*rows, strict=True)
        arrays = [pa.array(c, type=f.type) for c, f in zip(columns, ARROW_SCHEMA, strict=True)]
        self.pending.append(pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA))
        self.pending_rows += len(rows)
        if self.pending_rows >= self.ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=None)
            self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


# ---------------------------------------------------------------------------------------------
# The export


def metadata_path(out: Path) -> Path:
    """Where the metadata of the dataset ``out`` goes: ``OUT.metadata.json``."""
    return out.with_name(out.name + ".metadata.json")


def column_definitions() -> list[dict[str, Any]]:
    """FOCUS metadata column definitions of the export's columns."""
    out: list[dict[str, Any]] = []
    for name, kind in COLUMNS:
        item: dict[str, Any] = {"ColumnName": name, "DataType": _FOCUS_TYPES[kind]}
        if kind == _M:
            item.update(NumericPrecision=38, NumberScale=18)
        elif kind in (_S, _J):
            item["StringEncoding"] = "UTF-8"
        out.append(item)
    return out


def export_focus(
    conn: Connection,
    start: date,
    end_exclusive: date,
    out: Path,
    fmt: Format = "csv",
    *,
    page: int = PAGE,
    now: datetime | None = None,
) -> ExportResult:
    """Write the costs of ``[start, end_exclusive)`` (UTC days) as a FOCUS 1.2 dataset.

    Exported: each billing line whose ChargePeriodStart is in the period (a line is never split
    or cut: a monthly line starting on the 1st goes whole with its month) and each derived
    charge of a day in the period. Writes ``out`` and ``OUT.metadata.json``.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"format: one of {', '.join(FORMATS)}, not {fmt!r}")
    if end_exclusive <= start:
        raise ConfigError(f"empty period: {start} to {end_exclusive} (exclusive)")
    if page < 1:
        raise ConfigError("page size: at least 1")
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{out}: is a directory")
    if not out.parent.exists():
        raise InputError(f"{out.parent}: no such directory")
    created = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start_ts, end_ts = _epoch(start), _epoch(end_exclusive)
    result = ExportResult(out, metadata_path(out))
    lookups = _load_lookups(conn, start_ts, end_ts)
    rows = _Rows(lookups)
    partial = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with _open_writer(partial, fmt) as writer:
            for batch in _lines(conn, start_ts, end_ts, page):
                mapped = [rows.line(r) for r in batch]
                _count(result, mapped)
                result.line_rows += len(mapped)
                writer.write(mapped)
            if _has_derived(conn, start, end_exclusive):
                lookups.accounts = _accounts(conn, start_ts, end_ts)
            for batch in _derived(conn, start, end_exclusive, page):
                mapped = [rows.derived(r) for r in batch if _nonzero(r)]
                if mapped:
                    _count(result, mapped)
                    result.derived_rows += len(mapped)
                    writer.write(mapped)
        partial.replace(out)
    finally:
        if partial.exists():
            partial.unlink()
    result.rows = result.line_rows + result.derived_rows
    _write_metadata(result, fmt, start, end_exclusive, created)
    return result


def _nonzero(r: Any) -> bool:
    """A derived row with any cost (rebuilds can leave all-zero rows in the rollup)."""
    return any(v not in (None, 0) for v in (r.billed_cost, r.effective_cost, r.list_cost))


def _count(result: ExportResult, rows: Iterable[list[Any]]) -> None:
    billed, currency = _INDEX["BilledCost"], _INDEX["BillingCurrency"]
    totals = result.billed_by_currency
    for row in rows:
        totals[row[currency]] = _WIDE.add(totals.get(row[currency], _ZERO), row[billed])
    total = _ZERO
    for amount in totals.values():
        total = _WIDE.add(total, amount)
    result.billed_cost = total


@contextmanager
def _open_writer(path: Path, fmt: Format) -> Iterator[_CsvWriter | _ParquetWriter]:
    with ExitStack() as stack:
        writer: _CsvWriter | _ParquetWriter
        if fmt == "parquet":
            writer = _ParquetWriter(path)
        else:
            writer = _CsvWriter(stack.enter_context(path.open("w", encoding="utf-8", newline="")))
        yield writer
        writer.close()


def _write_metadata(
    result: ExportResult, fmt: Format, start: date, end: date, created: datetime
) -> None:
    definitions = column_definitions()
    schema_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "meterbook:focus:" + json.dumps(definitions)))
    last = end - timedelta(days=1)
    metadata = {
        "DataGenerator": f"Meterbook {__version__}",
        "DatasetInstanceId": f"meterbook-cost-and-usage-{start.isoformat()}-{last.isoformat()}",
        "DatasetInstanceName": f"Meterbook cost and usage {start.isoformat()}..{last.isoformat()}",
        "FocusDatasetId": "CostAndUsage",
        "FocusVersion": FOCUS_VERSION,
        "CreationDate": iso(created),
        "Schema": {
            "SchemaId": schema_id,
            "FocusVersion": FOCUS_VERSION,
            "CreationDate": iso(created),
            "ColumnDefinition": definitions,
        },
        "x_Export": {
            "File": result.path.name,
            "Format": fmt,
            "PeriodStart": iso(datetime(start.year, start.month, start.day, tzinfo=UTC)),
            "PeriodEnd": iso(datetime(end.year, end.month, end.day, tzinfo=UTC)),
            "PeriodRule": "rows whose ChargePeriodStart is in [PeriodStart, PeriodEnd)",
            "RowCount": result.rows,
            "LineRows": result.line_rows,
            "DerivedRows": result.derived_rows,
            "BilledCostTotal": number_text(result.billed_cost),
            "BilledCostByCurrency": {
                c: number_text(v) for c, v in sorted(result.billed_by_currency.items())
            },
        },
    }
    text = json.dumps(metadata, indent=2, ensure_ascii=False) + "\n"
    partial = result.metadata_path.with_name(f".{result.metadata_path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(result.metadata_path)


__all__ = [
    "ARROW_SCHEMA",
    "COLUMNS",
    "COLUMN_NAMES",
    "FOCUS_VERSION",
    "FORMATS",
    "ExportResult",
    "column_definitions",
    "export_focus",
    "focus_unit",
    "metadata_path",
    "tags_text",
]
