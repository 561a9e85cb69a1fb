"""Spend: importing billing files, incremental directory loads, rules, re-attribution.

``import_billing`` reads files with a :class:`~meterbook.connectors.billing.connector.
BillingReader` and writes them with a :class:`~meterbook.store.cost_ingest.CostWriter`: each
file is one transaction (its lines, its rollup contributions, its rejects, the provider's last
load), so a failed file leaves nothing of itself and the files before it stay.

A directory argument loads the billing files in it (``*.csv``, ``*.csv.gz``, ``*.parquet``,
``*.json``, ``*.ndjson``...) oldest first. Files whose names carry a date
(``prefix-YYYY-MM-DD...``) are loaded only when that date is newer than the provider's last
load; ``since`` loads every dated file from that day on instead.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from meterbook.attribution import MATCH_FIELDS, RULE_KINDS, ChargeRule, Matcher, MatchRule
from meterbook.connectors.billing.connector import BillingReader, CostBatch
from meterbook.errors import ConfigError, InputError, StoreError
from meterbook.importing import ImportResult
from meterbook.pipeline import can_fork, parallel_batches, trim_heap
from meterbook.store.core import Store
from meterbook.store.cost_ingest import CostWriter, mark_loaded, rebuild_spend
from meterbook.store.runs import add_progress, finish_run, start_run
from meterbook.store.schema import providers
from meterbook.store.schema_billing import charge_rules, match_rules

log = logging.getLogger(__name__)

BILLING_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".json", ".json.gz", ".ndjson",
                    ".ndjson.gz", ".jsonl", ".jsonl.gz", ".txt")  # fmt: skip
_FILE_DATE = re.compile(r"^(?P<prefix>.*?)[-_](?P<date>\d{4}-\d{2}-\d{2})")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def file_date(path: Path) -> date | None:
    """The date of ``prefix-YYYY-MM-DD...`` file names."""
    found = _FILE_DATE.match(path.name)
    if not found:
        return None
    try:
        return date.fromisoformat(found.group("date"))
    except ValueError:
        return None


@dataclass
class BillingResult(ImportResult):
    """What a billing import did, beyond an import's counts."""

    files: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    providers_created: list[str] = field(default_factory=list)
    unallocated: int = 0

    def summary(self) -> str:
        text = super().summary()
        if self.skipped_files:
            text += f"; {len(self.skipped_files)} file(s) not newer than the last load"
        return text


@dataclass(frozen=True)
class _Input:
    path: Path
    dated: date | None
    from_directory: bool


def _expand(paths: Sequence[str]) -> list[_Input]:
    found: list[_Input] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files = [
                p for p in path.iterdir()
                if p.is_file() and p.name.lower().endswith(BILLING_SUFFIXES)
            ]  # fmt: skip
            files.sort(key=lambda p: (file_date(p) or date.min, p.name))
            found.extend(_Input(p, file_date(p), True) for p in files)
        elif path.is_file():
            found.append(_Input(path, file_date(path), False))
        else:
            raise InputError(f"{name}: no such file or directory")
    return found


def _last_load(conn: Connection, provider: str | None) -> date | None:
    if provider is None:
        return None
    value = conn.execute(
        select(providers.c.last_load_at).where(providers.c.name == provider)
    ).scalar()
    return value.date() if value is not None else None


Progress = Callable[[str, int], None]


def import_billing(
    store: Store,
    reader: BillingReader,
    paths: Sequence[str],
    *,
    since: date | None = None,
    progress: Progress | None = None,
) -> BillingResult:
    """Import billing files (and directories of them) into the ledger."""
    inputs = _expand(paths)
    options = {"format": reader.format, "provider": reader.provider, "since": since}
    run_id = start_run(store.engine, f"billing:{reader.format}", [str(i.path) for i in inputs],
                       options)  # fmt: skip
    result = BillingResult(run_id, "billing")
    started = time.perf_counter()
    writer = CostWriter(run_id)
    try:
        with store.engine.connect() as conn:
            with conn.begin():
                last = _last_load(conn, reader.default_provider)
            for item in inputs:
                if item.from_directory and item.dated is not None:
                    skip = (
                        item.dated < since if since else (last is not None and item.dated <= last)
                    )
                    if skip:
                        result.skipped_files.append(str(item.path))
                        continue
                with conn.begin():
                    _load_file(conn, reader, writer, item, result)
                result.files.append(str(item.path))
                if progress:
                    progress(str(item.path), result.records)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        finish_run(store.engine, run_id, status, message)
        if isinstance(exc, SQLAlchemyError | store.engine.dialect.loaded_dbapi.Error):
            raise StoreError(f"database error during billing import: {message}") from exc
        raise
    result.seconds = time.perf_counter() - started
    result.providers_created = writer.created
    result.unallocated = writer.unallocated
    status = "failed" if result.rejected and not result.records else "ok"
    finish_run(store.engine, run_id, status, result.summary())
    log.info("billing import run %d: %s", run_id, result.summary())
    return result


def _load_file(
    conn: Connection, reader: BillingReader, writer: CostWriter, item: _Input, result: BillingResult
) -> None:
    """One file, inside the caller's transaction."""
    touched_before = set(writer.touched)
    writer.touched.clear()
    batches: Iterator[CostBatch] = reader.batches(item.path)
    if can_fork():  # the next batches are parsed in a reader process while these are written
        engine = conn.engine
        batches = parallel_batches(
            lambda: reader.batches(item.path), lambda: engine.dispose(close=False)
        )
    writer.start_file()
    for batch in batches:
        counts = writer.write(conn, batch.table, digest_keys=batch.digest_keys)
        trim_heap()
        add_progress(
            conn, writer.run_id or 0, inserted=counts.inserted, updated=counts.updated,
            unchanged=counts.unchanged, skipped=0, lines_read=batch.read,
            batch_rejects=batch.rejects,
        )  # fmt: skip
        result.inserted += counts.inserted
        result.updated += counts.updated
        result.unchanged += counts.unchanged
        result.rejected += len(batch.rejects)
        result.first_rejects.extend(batch.rejects[: 5 - len(result.first_rejects)])
    if item.dated is not None:
        for provider_id in writer.touched:
            mark_loaded(conn, provider_id, datetime.combine(item.dated, datetime.min.time()))
    writer.touched |= touched_before


# ---------------------------------------------------------------------------------------------
# Match rules: the original CSV columns, plus an optional ``field``

MATCH_COLUMNS = ("ruleid", "rank", "groupname", "textmatch", "prvid", "scalefactor", "scaleunit")


def _provider_ref(conn: Connection, value: str, where: str) -> int | None:
    """A provider by id or name (empty: every provider)."""
    value = value.strip()
    if not value:
        return None
    column = providers.c.id if value.isdigit() else providers.c.name
    found = conn.execute(
        select(providers.c.id).where(column == (int(value) if value.isdigit() else value))
    ).scalar()
    if found is None:
        raise ConfigError(f"{where}: provider {value!r} does not exist")
    return int(found)


def read_match_rules(conn: Connection, text: str, source: str) -> list[MatchRule]:
    """Rules from CSV text with the original columns; errors name the line and field."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("rank", "groupname", "textmatch") if c not in header]
    if missing:
        raise InputError(f"{source}: line 1: missing column(s) {', '.join(missing)}")
    rows = (
        (f"{source}: line {reader.line_num}", {k.strip().lower(): v for k, v in raw.items() if k})
        for raw in reader
    )
    return match_rules_from(conn, rows)


def match_rules_from(
    conn: Connection, rows: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[MatchRule]:
    """Rules from (where, row) pairs with the CSV's columns (``ruleid`` optional: numbered in
    order); errors start with the row's ``where``."""
    rules: list[MatchRule] = []
    seen: set[int] = set()
    for where, raw in rows:
        row = {k: "" if v is None else str(v).strip() for k, v in raw.items()}
        try:
            rule_id = int(row.get("ruleid") or len(rules) + 1)
            rank = int(row.get("rank", ""))
        except ValueError:
            raise InputError(f"{where}: ruleid and rank must be whole numbers") from None
        if rule_id in seen:
            raise InputError(f"{where}: ruleid {rule_id} appears twice")
        seen.add(rule_id)
        if not row.get("groupname"):
            raise InputError(f"{where}: groupname is empty")
        field_name = row.get("field") or "metric"
        if field_name not in MATCH_FIELDS:
            raise InputError(f"{where}: field must be one of {', '.join(MATCH_FIELDS)}")
        try:
            rule = MatchRule(
                id=rule_id, rank=rank, group=row["groupname"], textmatch=row.get("textmatch", ""),
                provider_id=_provider_ref(conn, row.get("prvid", ""), f"{where}: prvid"),
                field=field_name, scalefactor=row.get("scalefactor") or None,
                scaleunit=row.get("scaleunit") or None,
            )  # fmt: skip
            Matcher([rule])
        except ConfigError as exc:
            raise InputError(f"{where}: {exc}") from None
        rules.append(rule)
    return rules


def replace_match_rules(conn: Connection, rules: Iterable[MatchRule]) -> int:
    """Replace every match rule, then re-attribute all lines; returns lines that moved."""
    conn.execute(delete(match_rules))
    rows = [
        {"id": r.id, "rank": r.rank, "group_name": r.group, "textmatch": r.textmatch,
         "provider_id": r.provider_id, "field": r.field, "scalefactor": r.scalefactor,
         "scaleunit": r.scaleunit}
        for r in rules
    ]  # fmt: skip
    if rows:
        conn.execute(insert(match_rules), rows)
    return rebuild_spend(conn)


def list_match_rules(conn: Connection) -> list[dict[str, Any]]:
    names = dict(conn.execute(select(providers.c.id, providers.c.name)).all())
    rows = conn.execute(select(match_rules).order_by(match_rules.c.rank, match_rules.c.id))
    return [
        {"ruleid": r.id, "rank": r.rank, "groupname": r.group_name, "textmatch": r.textmatch,
         "prvid": r.provider_id or "", "provider": names.get(r.provider_id, ""),
         "field": r.field, "scalefactor": r.scalefactor or "", "scaleunit": r.scaleunit or ""}
        for r in rows
    ]  # fmt: skip


def write_match_rules(conn: Connection) -> str:
    """The rules as CSV with the original columns (and ``field``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*MATCH_COLUMNS, "field"])
    for r in list_match_rules(conn):
        writer.writerow([r[c] for c in MATCH_COLUMNS] + [r["field"]])
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Charge rules


def add_charge_rule(
    conn: Connection,
    name: str,
    kind: str,
    percent: str,
    *,
    provider: str | None = None,
    service_match: str | None = None,
    group: str | None = None,
    charge_category: str | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
) -> int:
    """Add a percentage rule and re-derive the rollup; returns lines re-attributed."""
    if kind not in RULE_KINDS:
        raise ConfigError(f"--kind: one of {', '.join(RULE_KINDS)}")
    try:
        value = Decimal(percent)
    except InvalidOperation:
        raise ConfigError(f"--percent: not a number: {percent!r}") from None
    if not 0 <= value <= 1000:
        raise ConfigError("--percent: must be between 0 and 1000")
    if conn.execute(select(charge_rules.c.id).where(charge_rules.c.name == name)).first():
        raise ConfigError(f"charge rule {name!r} already exists")
    provider_id = _provider_ref(conn, provider or "", "--provider")
    ChargeRule(name, kind, value, provider_id, service_match, group, charge_category,
               valid_from, valid_to)  # fmt: skip
    conn.execute(
        insert(charge_rules).values(
            name=name, kind=kind, percent=value, provider_id=provider_id,
            service_match=service_match, group_name=group, charge_category=charge_category,
            valid_from=valid_from, valid_to=valid_to, created_at=_now(),
        )
    )  # fmt: skip
    return rebuild_spend(conn)


def remove_charge_rule(conn: Connection, name: str) -> None:
    done = conn.execute(delete(charge_rules).where(charge_rules.c.name == name))
    if not done.rowcount:
        raise ConfigError(f"charge rule {name!r} does not exist")
    rebuild_spend(conn)


def list_charge_rules(conn: Connection) -> list[dict[str, Any]]:
    names = dict(conn.execute(select(providers.c.id, providers.c.name)).all())
    return [
        {"name": r.name, "kind": r.kind, "percent": r.percent,
         "provider": names.get(r.provider_id, ""), "service_match": r.service_match or "",
         "group": r.group_name or "", "charge_category": r.charge_category or "",
         "valid_from": r.valid_from or "", "valid_to": r.valid_to or ""}
        for r in conn.execute(select(charge_rules).order_by(charge_rules.c.name))
    ]  # fmt: skip


def reattribute(conn: Connection, provider_ids: set[int]) -> int:
    """After the org model changed: attribute the lines of these providers again."""
    return rebuild_spend(conn, provider_ids) if provider_ids else 0
