"""Reading billing files into canonical line batches: one format, many files.

:class:`BillingReader` yields a :class:`CostBatch` (good lines as a :data:`COST_SCHEMA` table,
rejects with file, line and reason) per block of input. It never touches the database.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from meterbook.connectors.base import Reject
from meterbook.connectors.billing import formats
from meterbook.connectors.billing.table import (
    COST_SCHEMA,
    KeyMaker,
    TextBlock,
    finish,
    hashes,
    money,
    normalise_tags,
    number,
    read_table_file,
    row_digests,
    text,
    times,
)
from meterbook.connectors.columns import Problems
from meterbook.errors import ConfigError, InputError

#: Every format ``meterbook import billing --format`` knows.
FORMATS = ("focus", "aws-cur", "azure", "oci", "gcp", "gcp-legacy", "mapped")
#: Records per block for the record formats.
RECORDS_PER_BLOCK = 5000
_UNIT_SECONDS = {"hour": 3600.0, "day": 86400.0}


@dataclass
class CostBatch:
    """Lines of one block of one file."""

    file: str
    table: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    read: int = 0
    #: Every key is a row digest, numbered within the file: no two lines of the file share one
    #: (a provider's own line ids may repeat).
    digest_keys: bool = False

    @property
    def size(self) -> int:
        return int(self.table.num_rows)


def _month_ends(starts: pa.Array) -> pa.Array:
    out: list[float | None] = []
    for value in starts.to_pylist():
        if value is None:
            out.append(None)
            continue
        day = datetime.fromtimestamp(value, UTC)
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        out.append(datetime(year, month, 1, tzinfo=UTC).timestamp())
    return pa.array(out, pa.float64())


def period_end(starts: pa.Array, unit: str) -> pa.Array:
    """The end of a line that lasts one ``unit`` (hour, day, month) from its start; a month
    line starts at its month's beginning."""
    if unit == "month":
        return _month_ends(starts)
    return pc.add(starts, _UNIT_SECONDS[unit])


def month_start(starts: pa.Array) -> pa.Array:
    out: list[float | None] = []
    for value in starts.to_pylist():
        if value is None:
            out.append(None)
        else:
            day = datetime.fromtimestamp(value, UTC)
            out.append(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp())
    return pa.array(out, pa.float64())


def convert(
    block: TextBlock,
    columns: formats.TextColumns,
    keys: KeyMaker,
    *,
    provider: str | None = None,
    time_unit: str = "hour",
    digests: list[bytes] | None = None,
) -> tuple[pa.Table, list[Reject]]:
    """Parse a format's text columns into canonical lines (and rejects)."""
    problems = Problems()
    rows = block.rows
    nulls = pa.nulls(rows, pa.string())

    def col(name: str) -> pa.Array:
        value = columns.get(name)
        return nulls if value is None else value

    start = times(col("start"), "charge period start", problems)
    if time_unit == "month":
        start = month_start(start)
    end = times(col("end"), "charge period end", problems, required=False)
    end = pc.coalesce(end, period_end(start, time_unit))
    billed = money(col("billed_cost"), "billed cost", problems)
    effective = pc.coalesce(money(col("effective_cost"), "effective cost", problems), billed)
    listed = money(col("list_cost"), "list cost", problems)
    quantity = number(col("quantity"), "quantity", problems)
    providers = col("provider") if provider is None else pa.array([provider] * rows, pa.string())
    providers = text(providers)
    problems.add(pc.is_null(providers), lambda _r: "provider: missing (give --provider)")
    if digests is None:
        digests = row_digests(block)
    line_keys = keys.keys(digests)
    given = columns.get("line_key")
    key_column = pa.array(line_keys, pa.string())
    if given is not None:
        key_column = pc.coalesce(text(given), key_column)
    canonical: dict[str, Any] = {
        name: text(col(name))
        for name in (
            "billing_account", "sub_account", "sub_account_name", "project_ext", "service",
            "service_category", "sku", "metric", "region", "resource", "charge_frequency",
            "description", "unit",
        )
    }  # fmt: skip
    canonical.update(
        line_key=key_column,
        row_hash=hashes(digests),
        provider=providers,
        charge_category=text(col("charge_category")),
        quantity=quantity,
        billed_cost=billed,
        effective_cost=effective,
        list_cost=listed,
        currency=pc.utf8_upper(text(col("currency"))),
        tags=normalise_tags(col("tags"), "tags", problems),
        start_ts=start,
        end_ts=end,
    )
    return finish(block, canonical, problems)


# ---------------------------------------------------------------------------------------------
# Record formats: NDJSON, JSON (an array, or an object holding one) and CSV records


def _open_text(path: Path) -> IO[str]:
    try:
        if path.name.endswith(".gz"):
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from exc


def _record_list(document: Any, path: Path, records_path: str | None) -> list[Any]:
    if records_path:
        document = formats.lookup(document, records_path) if isinstance(document, dict) else None
        if not isinstance(document, list):
            raise InputError(f"{path}: {records_path!r} is not a list of records")
        return document
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        return [document]
    raise InputError(f"{path}: neither a JSON array nor an object of records")


def read_records(
    path: Path, *, delimiter: str = ",", records_path: str | None = None
) -> Iterator[tuple[int, Any, str]]:
    """``(line or item number, record, raw text)`` of a JSON, NDJSON or CSV file.

    A line of NDJSON that is not JSON comes back with ``record`` None (a reject)."""
    name = path.name.lower().removesuffix(".gz")
    with _open_text(path) as handle:
        try:
            if name.endswith((".ndjson", ".jsonl")):
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        yield number, json.loads(line), line.strip()
                    except ValueError:
                        yield number, None, line.strip()
            elif name.endswith(".json"):
                try:
                    document = json.load(handle)
                except ValueError as exc:
                    raise InputError(f"{path}: not valid JSON: {exc}") from exc
                for number, item in enumerate(_record_list(document, path, records_path), 1):
                    yield number, item, json.dumps(item, sort_keys=True, default=str)
            else:
                reader = csv.DictReader(handle, delimiter=delimiter)
                if not reader.fieldnames:
                    raise InputError(f"{path}: no header line")
                for row in reader:
                    raw = delimiter.join("" if v is None else str(v) for v in row.values())
                    yield reader.line_num, row, raw
        except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{path}: read failed: {exc}") from exc


Expand = Callable[[Mapping[str, Any]], Iterator[tuple[str, formats.Line]]]


def record_blocks(
    path: Path, expand: Expand, *, delimiter: str = ",", records_path: str | None = None
) -> Iterator[tuple[TextBlock, list[bytes], list[Reject]]]:
    """Blocks of canonical text lines from a record file, with each line's digest."""
    lines: list[formats.Line] = []
    numbers: list[int] = []
    raws: list[str] = []
    digests: list[bytes] = []
    rejects: list[Reject] = []

    def block() -> tuple[TextBlock, list[bytes], list[Reject]]:
        names = sorted({k for line in lines for k in line})
        table = pa.table({n: pa.array([line.get(n) for line in lines], pa.string()) for n in names})
        made = TextBlock(str(path), table, numbers[0] if numbers else 1, list(numbers), list(raws))
        return made, list(digests), list(rejects)

    for line_no, record, raw in read_records(path, delimiter=delimiter, records_path=records_path):
        if not isinstance(record, Mapping):
            rejects.append(Reject(str(path), line_no, "not a JSON object", raw[:2000]))
            continue
        try:
            expanded = list(expand(record))
        except ValueError as exc:
            rejects.append(Reject(str(path), line_no, str(exc), raw[:2000]))
            continue
        whole = hashlib.blake2b(raw.encode(), digest_size=16).digest()
        for suffix, line in expanded:
            lines.append(line)
            numbers.append(line_no)
            raws.append(raw)
            digests.append(
                whole
                if not suffix
                else hashlib.blake2b(whole + suffix.encode(), digest_size=16).digest()
            )
        if len(lines) >= RECORDS_PER_BLOCK:
            yield block()
            lines, numbers, raws, digests, rejects = [], [], [], [], []
    if lines or rejects:
        yield block()


# ---------------------------------------------------------------------------------------------


class BillingReader:
    """Canonical line batches from billing files of one format.

    ``provider`` overrides the provider the files name (or stands in for the one they do
    not name). ``mapping`` is a :class:`meterbook.connectors.billing.mapped.Mapping` for the
    ``mapped`` format.
    """

    def __init__(
        self,
        fmt: str,
        *,
        provider: str | None = None,
        mapping: Any = None,
        delimiter: str = ",",
    ) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"--format: unknown billing format {fmt!r} ({', '.join(FORMATS)})")
        if fmt == "mapped" and mapping is None:
            raise ConfigError("--format mapped needs --mapping FILE")
        self.format = fmt
        self.provider = provider
        self.mapping = mapping
        self.delimiter = delimiter

    @property
    def default_provider(self) -> str | None:
        if self.provider:
            return self.provider
        if self.format == "mapped":
            return str(self.mapping.provider) if self.mapping.provider else None
        return formats.PROVIDERS.get(self.format)

    def batches(self, path: Path) -> Iterator[CostBatch]:
        keys = KeyMaker()
        provider = self.default_provider if self.format != "focus" else self.provider
        if self.format in formats.COLUMN_FORMATS:
            convert_block = formats.COLUMN_FORMATS[self.format]
            unit = formats.TIME_UNITS.get(self.format, "hour")
            for block in read_table_file(path, self.delimiter):
                columns = convert_block(block)
                table, rejects = convert(block, columns, keys, provider=provider, time_unit=unit)
                digest_keys = columns.get("line_key") is None
                yield CostBatch(str(path), table, rejects, block.rows, digest_keys)
            return
        if self.format == "mapped":
            expand: Expand = self.mapping.expand
            unit = self.mapping.time_unit
            delimiter = self.mapping.delimiter
            records_path = self.mapping.records
        else:
            expand = formats.RECORD_FORMATS[self.format]
            unit, delimiter, records_path = "hour", self.delimiter, None
        for block, digests, early in record_blocks(
            path, expand, delimiter=delimiter, records_path=records_path
        ):
            if not block.rows:
                yield CostBatch(str(path), COST_SCHEMA.empty_table(), early, 0)
                continue
            table, rejects = convert(
                block,
                {n: block.table[n].combine_chunks() for n in block.table.column_names},
                keys,
                provider=provider,
                time_unit=unit,
                digests=digests,
            )
            rejected = sorted(early + rejects, key=lambda r: r.line)
            digest_keys = "line_key" not in block.table.column_names
            yield CostBatch(str(path), table, rejected, block.rows, digest_keys)
