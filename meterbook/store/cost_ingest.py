"""Storing billing lines: providers and projects resolved, natural keys, the spend rollup.

:class:`CostWriter` takes canonical line tables (:data:`COST_SCHEMA`) inside the caller's
transaction. A line whose (provider, key) is stored with the same row hash is unchanged; with
another hash it is replaced (its old day contributions taken out of the rollup first). The
rollup ``cost_daily`` gets each line's costs spread over its UTC days, plus the derived lines
(tax, charge rules) of those contributions: all of it in the same transaction as the lines.

:func:`rebuild_spend` recomputes attribution (projects, workload groups) and the rollup of
some or all providers from the stored lines: after the org model, the match rules, a tax rate
or a charge rule changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, select, update

from meterbook.attribution import (
    DAY,
    TAX_RULE,
    ChargeRule,
    Matcher,
    MatchRule,
    split_amount,
    split_days,
)
from meterbook.connectors.billing.table import COST_SCHEMA, MONEY
from meterbook.store.dialect import bulk_insert, bulk_update, insert_ignore, select_in, upsert_add
from meterbook.store.ingest import BatchCounts, last_of_each, map_names
from meterbook.store.schema import projects, providers
from meterbook.store.schema_billing import (
    COST_KEYS,
    charge_rules,
    cost_daily,
    cost_lines,
    match_rules,
)

#: cost_lines columns written from a canonical table (plus provider_id, run_id, project_id,
#: group_name), in storage order.
LINE_COLUMNS = (
    "line_key", "row_hash", "project_ext", "billing_account", "sub_account",
    "sub_account_name", "service", "service_category", "sku", "metric", "region", "resource",
    "charge_category", "charge_frequency", "description", "quantity", "unit", "billed_cost",
    "effective_cost", "list_cost", "currency", "tags", "start_ts", "end_ts",
)  # fmt: skip
#: What the rollup needs of a line.
_SHAPE = (
    "provider_id", "project_id", "sub_account", "service", "group_name", "charge_category",
    "currency", "billed_cost", "effective_cost", "list_cost", "quantity", "start_ts", "end_ts",
)  # fmt: skip
_MONEY_COLUMNS = ("billed_cost", "effective_cost", "list_cost")
_SHAPE_SCHEMA = pa.schema(
    [
        (n, MONEY if n in _MONEY_COLUMNS else pa.int64() if n.endswith("_id")
         else COST_SCHEMA.field(n).type if n in COST_SCHEMA.names else pa.string())
        for n in _SHAPE
    ]
)  # fmt: skip
_QUANTUM = Decimal(1).scaleb(-18)
_UPSERT_ROWS = 10_000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Rules:
    """What attribution and derivation need, loaded once per transaction."""

    matcher: Matcher
    charges: list[ChargeRule]
    tax: dict[int, Decimal]
    projects: dict[int, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: Connection) -> Rules:
        rules = [
            MatchRule(
                id=r.id, rank=r.rank, group=r.group_name, textmatch=r.textmatch,
                provider_id=r.provider_id, field=r.field, scalefactor=r.scalefactor,
                scaleunit=r.scaleunit,
            )
            for r in conn.execute(select(match_rules))
        ]  # fmt: skip
        charges = [
            ChargeRule(
                name=r.name, kind=r.kind, percent=Decimal(str(r.percent)),
                provider_id=r.provider_id, service_match=r.service_match, group=r.group_name,
                charge_category=r.charge_category, valid_from=r.valid_from,
                valid_to=r.valid_to,
            )
            for r in conn.execute(select(charge_rules).order_by(charge_rules.c.name))
        ]  # fmt: skip
        tax = {
            r.id: Decimal(str(r.tax_rate))
            for r in conn.execute(select(providers.c.id, providers.c.tax_rate))
            if r.tax_rate
        }
        return cls(Matcher(rules), charges, tax)

    def project_ids(self, conn: Connection, provider_id: int) -> dict[str, int]:
        found = self.projects.get(provider_id)
        if found is None:
            rows = conn.execute(
                select(projects.c.external_id, projects.c.id).where(
                    projects.c.provider_id == provider_id, projects.c.external_id.is_not(None)
                )
            )
            found = self.projects[provider_id] = {r.external_id: r.id for r in rows}
        return found


def provider_ids(conn: Connection, names: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Ids of providers by name, creating the missing ones; returns (ids, created names)."""
    wanted = sorted(set(names))
    ids = dict(
        conn.execute(
            select(providers.c.name, providers.c.id).where(providers.c.name.in_(wanted))
        ).all()
    )
    created = [n for n in wanted if n not in ids]
    if created:
        conn.execute(
            insert_ignore(conn, providers),
            [
                {"name": n, "kind": "cloud", "archived": False, "created_at": _now(),
                 "description": None, "tax_rate": None, "currency": None, "last_load_at": None}
                for n in created
            ],
        )  # fmt: skip
        ids.update(
            conn.execute(
                select(providers.c.name, providers.c.id).where(providers.c.name.in_(created))
            ).all()
        )
    return ids, created


def _attribute(
    conn: Connection, rules: Rules, lines: pa.Table
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(project id, workload group, quantity factor) of each line (``provider_id`` set).

    Each distinct (provider, project id) and (provider, service, SKU, metric) is looked up
    once: a batch repeats them on many lines."""

    def project(row: dict[str, Any]) -> int | None:
        ext = row["project_ext"]
        return None if ext is None else rules.project_ids(conn, row["provider_id"]).get(ext)

    project_out = per_distinct(lines, ("provider_id", "project_ext"), project, pa.int64())

    def match(row: dict[str, Any]) -> tuple[str, float]:
        return rules.matcher.group(row["provider_id"], row["service"], row["sku"], row["metric"])

    matched = per_distinct(
        lines, ("provider_id", "service", "sku", "metric"), match,
        pa.struct([("group", pa.string()), ("factor", pa.float64())]),
    )  # fmt: skip
    return project_out, pc.struct_field(matched, [0]), pc.struct_field(matched, [1])


def per_distinct(
    table: pa.Table, columns: Sequence[str], compute: Any, kind: pa.DataType
) -> pa.Array:
    """``compute(row)`` for each row of ``table``'s ``columns`` (a dict), called once per
    distinct combination of their values (nulls included)."""
    if not table.num_rows:
        return pa.array([], kind)
    codes = np.zeros(table.num_rows, dtype=np.int64)
    for name in columns:
        encoded = pc.dictionary_encode(table[name].combine_chunks())
        width = len(encoded.dictionary) + 1  # the last code: null
        column = pc.fill_null(encoded.indices, width - 1).to_numpy().astype(np.int64)
        codes = np.unique(codes * width + column, return_inverse=True)[1]  # kept < rows
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rows = table.select(list(columns)).take(pa.array(first)).to_pylist()
    values = pa.array([compute(row) for row in rows], kind)
    return values.take(pa.array(inverse))


def day_deltas(shape: pa.Table, rules: Rules, sign: int = 1) -> pa.Table:
    """Rollup rows (COST_KEYS and measures) of lines in :data:`_SHAPE` columns (quantity
    already scaled), with the derived lines; ``sign`` -1 takes them out."""
    if not shape.num_rows:
        return _empty_deltas()
    first = pc.floor(pc.divide(shape["start_ts"], float(DAY)))
    last = pc.subtract(pc.ceil(pc.divide(shape["end_ts"], float(DAY))), 1.0)
    single = pc.less_equal(last, first)
    keys = list(COST_KEYS[1:-1])
    one = shape.filter(single)
    days = pc.cast(
        pc.cast(pc.floor(pc.divide(one["start_ts"], float(DAY))), pa.int32()), pa.date32()
    )
    one = _fill_keys(one.append_column("day", days))
    parts = [
        one.group_by(["day", *keys], use_threads=False).aggregate(
            [(c, "sum") for c in (*_MONEY_COLUMNS, "quantity")] + [("billed_cost", "count")]
        )
    ]
    many = shape.filter(pc.invert(single))
    if many.num_rows:
        parts.append(_spread(_fill_keys(many)))
    rows = pa.concat_tables([_named(p) for p in parts])
    grouped = rows.group_by(["day", *keys], use_threads=False).aggregate(
        [(c, "sum") for c in (*_MONEY_COLUMNS, "quantity", "lines")]
    )
    grouped = grouped.rename_columns([n.removesuffix("_sum") for n in grouped.column_names])
    return _derive(grouped, rules, sign)


def _fill_keys(table: pa.Table) -> pa.Table:
    for name in COST_KEYS[1:-1]:
        index = table.schema.get_field_index(name)
        column = table[name]
        filler: Any = 0 if pa.types.is_integer(column.type) else ""
        table = table.set_column(index, name, pc.fill_null(column, filler))
    for name in (*_MONEY_COLUMNS, "quantity"):
        index = table.schema.get_field_index(name)
        filler = Decimal(0) if name != "quantity" else 0.0
        table = table.set_column(index, name, pc.fill_null(table[name], filler))
    return table


def _named(table: pa.Table) -> pa.Table:
    names = [n.removesuffix("_sum") for n in table.column_names]
    names = ["lines" if n == "billed_cost_count" else n for n in names]
    table = table.rename_columns(names)
    return table.select(["day", *COST_KEYS[1:-1], *_MONEY_COLUMNS, "quantity", "lines"]).cast(
        _DELTA_SCHEMA
    )


_DELTA_SCHEMA = pa.schema(
    [("day", pa.date32()), ("provider_id", pa.int64()), ("project_id", pa.int64()),
     ("sub_account", pa.string()), ("service", pa.string()), ("group_name", pa.string()),
     ("charge_category", pa.string()), ("currency", pa.string())]
    + [(c, MONEY) for c in _MONEY_COLUMNS]
    + [("quantity", pa.float64()), ("lines", pa.int64())]
)  # fmt: skip


def _empty_deltas() -> pa.Table:
    fields = list(_DELTA_SCHEMA)
    return pa.schema([*fields[:8], pa.field("rule", pa.string()), *fields[8:]]).empty_table()


def _spread(many: pa.Table, chunk: int = 1000) -> pa.Table:
    """Lines over several days, split in proportion (money exact in sum); a thousand lines at
    a time, so that a batch of monthly lines never holds all their day parts as Python rows."""
    parts = [_spread_rows(many.slice(at, chunk)) for at in range(0, many.num_rows, chunk)]
    return pa.concat_tables(parts)


def _spread_rows(many: pa.Table) -> pa.Table:
    out: dict[str, list[Any]] = defaultdict(list)
    keys = COST_KEYS[1:-1]
    for row in many.to_pylist():
        shares = split_days(row["start_ts"], row["end_ts"])
        fractions = [s for _d, s in shares]
        money = {c: split_amount(row[c], fractions) for c in _MONEY_COLUMNS}
        for index, (day, share) in enumerate(shares):
            out["day"].append(day)
            for key in keys:
                out[key].append(row[key])
            for c in _MONEY_COLUMNS:
                out[c].append(money[c][index])
            out["quantity"].append((row["quantity"] or 0.0) * share)
            out["lines"].append(1 if index == 0 else 0)
    return pa.table(dict(out)).cast(_DELTA_SCHEMA)


def _derive(grouped: pa.Table, rules: Rules, sign: int) -> pa.Table:
    """The provider rows (rule '') and the derived ones, signed."""
    schema = _empty_deltas().schema
    base = grouped.append_column("rule", pa.array([""] * grouped.num_rows, pa.string()))
    tables = [base.select(schema.names).cast(schema)]
    if rules.tax or rules.charges:
        derived: list[dict[str, Any]] = []
        for row in grouped.to_pylist():
            day: date = row["day"]
            category = row["charge_category"]
            rate = rules.tax.get(row["provider_id"])
            if rate and category != "Tax":
                derived.append(_derived(row, TAX_RULE, "Tax", rate / 100))
            for rule in rules.charges:
                if rule.applies(
                    day, row["provider_id"], row["service"], row["group_name"], category
                ):
                    derived.append(_derived(row, rule.name, rule.category, rule.factor))
        if derived:
            tables.append(pa.Table.from_pylist(derived, schema=schema))
    out = pa.concat_tables(tables)
    if sign < 0:
        for name in (*_MONEY_COLUMNS, "quantity", "lines"):
            index = out.schema.get_field_index(name)
            out = out.set_column(index, name, pc.negate(out[name]))
    return out


def _derived(row: dict[str, Any], rule: str, category: str, factor: Decimal) -> dict[str, Any]:
    derived = {**row, "rule": rule, "charge_category": category, "quantity": 0.0, "lines": 0}
    for c in _MONEY_COLUMNS:
        derived[c] = (row[c] * factor).quantize(_QUANTUM)
    return derived


def apply_deltas(conn: Connection, deltas: pa.Table) -> None:
    if not deltas.num_rows:
        return
    measures = (*_MONEY_COLUMNS, "quantity", "lines")
    deltas = deltas.group_by(list(COST_KEYS), use_threads=False).aggregate(
        [(m, "sum") for m in measures]
    )
    deltas = deltas.rename_columns([n.removesuffix("_sum") for n in deltas.column_names])
    ordered = deltas.select([*COST_KEYS, *measures])
    ordered = ordered.set_column(0, "day", pc.cast(ordered["day"], pa.string()))
    for at in range(0, ordered.num_rows, _UPSERT_ROWS):  # a batch of monthly lines has many
        upsert_add(conn, cost_daily, COST_KEYS, ordered.slice(at, _UPSERT_ROWS))


def _shape(lines: pa.Table, factors: pa.Array) -> pa.Table:
    shape = lines.select(list(_SHAPE))
    index = shape.schema.get_field_index("quantity")
    return shape.set_column(
        index, "quantity", pc.multiply(pc.fill_null(shape["quantity"], 0.0), factors)
    )


class CostWriter:
    """Writes canonical line batches of one import run."""

    def __init__(self, run_id: int | None) -> None:
        self.run_id = run_id
        self.rules: Rules | None = None
        self.providers: dict[str, int] = {}
        self.created: list[str] = []
        self.touched: set[int] = set()
        self.unallocated = 0
        self._empty_before_file: dict[int, bool] = {}

    def _rules(self, conn: Connection) -> Rules:
        if self.rules is None:
            self.rules = Rules.load(conn)
        return self.rules

    def start_file(self) -> None:
        """A new file begins: which providers had lines before it is asked again."""
        self._empty_before_file = {}

    def write(self, conn: Connection, table: pa.Table, *, digest_keys: bool = False) -> BatchCounts:
        """Store a batch; ``digest_keys``: its keys are row digests numbered within the file
        (:class:`~meterbook.connectors.billing.table.KeyMaker`), so none of them can be stored
        already when the provider had no lines before the file began: no lookups then."""
        counts = BatchCounts()
        if not table.num_rows:
            return counts
        rules = self._rules(conn)
        names = set(pc.unique(table["provider"]).to_pylist())
        missing = names - self.providers.keys()
        if missing:
            ids, created = provider_ids(conn, missing)
            self.providers.update(ids)
            self.created.extend(created)
        pid = map_names(table["provider"], self.providers)
        lines = table.append_column("provider_id", pid)
        repeated = 0
        if not digest_keys:  # a provider's line id repeated in the batch: its last version
            kept = last_of_each(lines, ("provider_id", "line_key"))
            repeated, lines = lines.num_rows - kept.num_rows, kept
            pid = lines["provider_id"]
        project_id, groups, factors = _attribute(conn, rules, lines)
        lines = lines.append_column("project_id", project_id).append_column("group_name", groups)
        keep = pa.array([True] * lines.num_rows)
        removed: list[pa.Table] = []
        for provider in pc.unique(pid).to_pylist():
            self.touched.add(provider)
            empty = self._empty_before_file.get(provider)
            if empty is None:
                empty = self._empty_before_file[provider] = not self._has_lines(conn, provider)
            if empty and digest_keys:
                continue
            mask = pc.equal(pid, provider)
            keys = lines.filter(mask)["line_key"].to_pylist()
            hashes = lines.filter(mask)["row_hash"].to_pylist()
            stored = self._stored(conn, provider, keys)
            if not stored:
                continue
            unchanged: set[str] = set()
            replaced: list[int] = []
            for key, row_hash in zip(keys, hashes, strict=True):
                found = stored.get(key)
                if found is None:
                    continue
                if found[1] == row_hash:
                    unchanged.add(key)
                else:
                    replaced.append(found[0])
            if replaced:
                old = _stored_shape(conn, replaced, rules)
                removed.append(old)
                conn.execute(delete(cost_lines).where(cost_lines.c.id.in_(replaced)))
                counts.updated += len(replaced)
            if unchanged:
                same = pc.and_(mask, pc.is_in(lines["line_key"], pa.array(sorted(unchanged))))
                keep = pc.and_(keep, pc.invert(same))
                counts.unchanged += len(unchanged)
        fresh = lines.filter(keep)
        fresh_factors = factors.filter(keep)
        counts.inserted = int(fresh.num_rows) - counts.updated
        counts.updated += repeated
        if fresh.num_rows:
            stored_columns = {c: fresh[c] for c in LINE_COLUMNS}
            stored_columns.update(
                provider_id=fresh["provider_id"],
                project_id=fresh["project_id"],
                group_name=fresh["group_name"],
                run_id=pa.array([self.run_id] * fresh.num_rows, pa.int64()),
            )
            # In key order: neighbours in the unique index are written together.
            ordered = pa.table(stored_columns).sort_by("line_key")
            bulk_insert(conn, cost_lines, ordered)
            self.unallocated += int(fresh["project_id"].null_count)
            deltas = day_deltas(_shape(fresh, fresh_factors), rules)
            for old in removed:
                deltas = pa.concat_tables([deltas, day_deltas(old, rules, -1)])
            apply_deltas(conn, deltas)
        return counts

    @staticmethod
    def _has_lines(conn: Connection, provider: int) -> bool:
        anything = conn.execute(
            select(cost_lines.c.id).where(cost_lines.c.provider_id == provider).limit(1)
        ).first()
        return anything is not None

    @classmethod
    def _stored(
        cls, conn: Connection, provider: int, keys: list[str]
    ) -> dict[str, tuple[int, int]]:
        if not cls._has_lines(conn, provider):
            return {}
        rows = select_in(conn, cost_lines, ("line_key", "id", "row_hash"), "provider_id",
                         provider, "line_key", keys)  # fmt: skip
        return {r[0]: (r[1], r[2]) for r in rows}


def _stored_shape(conn: Connection, ids: list[int], rules: Rules) -> pa.Table:
    """The rollup shape of stored lines (quantity scaled by their group's rule)."""
    c = cost_lines.c
    rows = conn.execute(select(*(c[n] for n in _SHAPE), c.sku, c.metric).where(c.id.in_(ids))).all()
    return _shape_of_rows(rows, rules)


def _shape_of_rows(rows: Sequence[Any], rules: Rules) -> pa.Table:
    columns: dict[str, list[Any]] = {n: [getattr(r, n) for r in rows] for n in _SHAPE}
    for name in _MONEY_COLUMNS:
        columns[name] = [None if v is None else Decimal(str(v)) for v in columns[name]]
    factors = [rules.matcher.group(r.provider_id, r.service, r.sku, r.metric)[1] for r in rows]
    columns["quantity"] = [
        (q or 0.0) * f for q, f in zip(columns["quantity"], factors, strict=True)
    ]
    return pa.table(columns, schema=_SHAPE_SCHEMA)


def rebuild_spend(conn: Connection, provider_ids: set[int] | None = None, page: int = 20000) -> int:
    """Recompute project, workload group and the rollup of the lines of ``provider_ids``
    (all when None) with the current org model and rules; returns the lines re-attributed."""
    rules = Rules.load(conn)
    c = cost_lines.c
    where = [] if provider_ids is None else [cost_daily.c.provider_id.in_(provider_ids)]
    conn.execute(delete(cost_daily).where(*where))
    changed = 0
    last = 0
    while True:
        query = (
            select(
                c.id,
                c.project_ext,
                c.project_id,
                c.sku,
                c.metric,
                *(c[n] for n in _SHAPE if n != "project_id"),
            )
            .where(c.id > last)
            .order_by(c.id)
            .limit(page)
        )
        if provider_ids is not None:
            query = query.where(c.provider_id.in_(provider_ids))
        rows = conn.execute(query).all()
        if not rows:
            break
        last = rows[-1].id
        moved_ids: list[int] = []
        moved: dict[str, list[Any]] = {"project_id": [], "group_name": []}
        fixed = []
        for r in rows:
            project = (
                rules.project_ids(conn, r.provider_id).get(r.project_ext) if r.project_ext else None
            )
            group = rules.matcher.group(r.provider_id, r.service, r.sku, r.metric)[0]
            if project != r.project_id or group != r.group_name:
                moved_ids.append(r.id)
                moved["project_id"].append(project)
                moved["group_name"].append(group)
            fixed.append(_Row(r, project, group))
        if moved_ids:
            bulk_update(
                conn, cost_lines,
                pa.table({"project_id": pa.array(moved["project_id"], pa.int64()),
                          "group_name": pa.array(moved["group_name"], pa.string())}),
                moved_ids,
            )  # fmt: skip
            changed += len(moved_ids)
        apply_deltas(conn, day_deltas(_shape_of_rows(fixed, rules), rules))
    return changed


class _Row:
    """A stored line with a new project and group."""

    def __init__(self, row: Any, project_id: int | None, group: str) -> None:
        self._row = row
        self.project_id = project_id
        self.group_name = group

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def mark_loaded(conn: Connection, provider_id: int, loaded: datetime) -> None:
    """Remember how far a provider's files were loaded (the newest file date)."""
    conn.execute(
        update(providers)
        .where(providers.c.id == provider_id)
        .where((providers.c.last_load_at.is_(None)) | (providers.c.last_load_at < loaded))
        .values(last_load_at=loaded)
    )
