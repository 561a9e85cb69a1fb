"""Billing line items as columns: the canonical schema, readers, and vectorised parsers.

Every billing format becomes :data:`COST_SCHEMA` tables: one row per line item with the
ledger's names. Readers hand the formats their input as tables of *text* columns (CSV and
CSV.gz streamed in blocks, Parquet by row groups, every value as the file wrote it), so that
each format parses numbers, money and times the same way, and a bad value becomes a reject
naming its line and field instead of stopping the import.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from meterbook.connectors.base import Reject
from meterbook.connectors.columns import Problems
from meterbook.errors import InputError

#: Money in the ledger: 38 digits, 18 after the point (the most any sample file carries).
MONEY = pa.decimal128(38, 18)
#: FOCUS charge categories: every line has one of them.
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")

#: The canonical billing line; times are Unix epoch seconds (UTC), ``[start, end)``.
COST_SCHEMA = pa.schema(
    [
        ("line_key", pa.string()),
        ("row_hash", pa.int64()),
        ("line_no", pa.int64()),
        ("provider", pa.string()),
        ("billing_account", pa.string()),
        ("sub_account", pa.string()),
        ("sub_account_name", pa.string()),
        ("project_ext", pa.string()),
        ("service", pa.string()),
        ("service_category", pa.string()),
        ("sku", pa.string()),
        ("metric", pa.string()),
        ("region", pa.string()),
        ("resource", pa.string()),
        ("charge_category", pa.string()),
        ("charge_frequency", pa.string()),
        ("description", pa.string()),
        ("quantity", pa.float64()),
        ("unit", pa.string()),
        ("billed_cost", MONEY),
        ("effective_cost", MONEY),
        ("list_cost", MONEY),
        ("currency", pa.string()),
        ("tags", pa.string()),
        ("start_ts", pa.float64()),
        ("end_ts", pa.float64()),
    ]
)
#: Text columns a format may leave out (they become nulls).
OPTIONAL_TEXT = tuple(
    f.name for f in COST_SCHEMA if pa.types.is_string(f.type) and f.name != "line_key"
)

_NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
_NULL_TEXT = ["", "NULL", "null"]

# ---------------------------------------------------------------------------------------------
# Reading


class TextBlock:
    """A block of input rows as text columns, with the file's line number of each row."""

    def __init__(
        self,
        file: str,
        table: pa.Table,
        first_line: int,
        lines: list[int] | None = None,
        raws: list[str] | None = None,
    ) -> None:
        self.file = file
        self.table = table
        self.first_line = first_line
        self.lines = lines
        self.raws = raws
        self._lower = {n.lower(): n for n in table.column_names}

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    def line_numbers(self) -> pa.Array:
        if self.lines is not None:
            return pa.array(self.lines, pa.int64())
        return pa.array(range(self.first_line, self.first_line + self.rows), pa.int64())

    def line(self, row: int) -> int:
        return self.lines[row] if self.lines is not None else self.first_line + row

    def has(self, name: str) -> bool:
        return name.lower() in self._lower

    def get(self, *names: str) -> pa.Array:
        """The first of ``names`` that the file has (case-insensitive), else nulls."""
        for name in names:
            actual = self._lower.get(name.lower())
            if actual is not None:
                return self.table[actual].combine_chunks()
        return pa.nulls(self.rows, pa.string())

    def raw(self, row: int) -> str:
        """One row back as text, for a reject."""
        if self.raws is not None:
            return self.raws[row][:2000]
        values = [self.table[n][row].as_py() for n in self.table.column_names]
        return ",".join("" if v is None else str(v) for v in values)[:2000]


def _header(path: Path, delimiter: str) -> list[str]:
    opener: Any = gzip.open if path.name.endswith(".gz") else Path.open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle, delimiter=delimiter), [])
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def read_csv(path: Path, delimiter: str = ",", block_bytes: int = 8 << 20) -> Iterator[TextBlock]:
    """Stream a CSV (or CSV.gz) file as text blocks; ``NULL`` and empty fields are nulls."""
    names = _header(path, delimiter)
    if not names or not any(n.strip() for n in names):
        raise InputError(f"{path}: no header line")
    duplicated = [n for n, k in Counter(names).items() if k > 1]
    if duplicated:
        raise InputError(f"{path}: column {duplicated[0]!r} appears twice in the header")
    options = pa_csv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=_NULL_TEXT,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    read = pa_csv.ReadOptions(column_names=names, use_threads=True)
    parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    line = 2
    with _open_bytes(path) as handle:
        try:
            for index, chunk in enumerate(record_chunks(handle, block_bytes)):
                if index == 0:
                    if not _record_end(chunk):
                        return  # the header alone, without a newline
                    read.skip_rows = 1  # the header
                elif read.skip_rows:
                    read.skip_rows = 0
                read.block_size = _ARROW_BLOCK
                table = _parse_piece(chunk, read, parse, options)
                if table.num_rows:
                    block = TextBlock(str(path), table, line)
                    line += block.rows
                    yield block
        except pa.ArrowInvalid as exc:
            raise InputError(f"{path}: not a readable CSV file: {exc}") from exc
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{path}: cannot read: {exc}") from exc


_ARROW_BLOCK = 1 << 20


def _parse_piece(
    chunk: bytes,
    read: pa_csv.ReadOptions,
    parse: pa_csv.ParseOptions,
    options: pa_csv.ConvertOptions,
) -> pa.Table:
    """One piece parsed; again as a single block when a record is longer than Arrow's block."""
    try:
        return pa_csv.read_csv(
            pa.BufferReader(chunk), read_options=read, parse_options=parse, convert_options=options
        )
    except pa.ArrowInvalid:
        if read.block_size > len(chunk):
            raise
        read.block_size = len(chunk) + 1
        return pa_csv.read_csv(
            pa.BufferReader(chunk), read_options=read, parse_options=parse, convert_options=options
        )


def _open_bytes(path: Path) -> IO[bytes]:
    """A file (gzip-compressed when its name ends in .gz) for reading bytes."""
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror}") from exc


def record_chunks(handle: IO[bytes], size: int) -> Iterator[bytes]:
    """The bytes of a CSV file in pieces of about ``size`` that end where a record ends.

    Arrow's own streaming reader reads the whole file ahead and holds it (memory grows with
    the file); parsing pieces like these one at a time keeps it flat. A newline ends a record
    when an even number of quotes comes before it (a doubled quote counts two).
    """
    pending = b""
    while True:
        data = handle.read(size)
        if not data:
            if pending:
                yield pending
            return
        buffer = pending + data if pending else data
        cut = _record_end(buffer)
        if cut:
            yield buffer[:cut]
            pending = buffer[cut:]
        else:
            pending = buffer


def _record_end(buffer: bytes) -> int:
    """Just after the last newline of ``buffer`` that is outside quotes (0: none)."""
    quotes = buffer.count(b'"')
    end = len(buffer)
    newline = buffer.rfind(b"\n")
    while newline >= 0:
        quotes -= buffer.count(b'"', newline + 1, end)
        if quotes % 2 == 0:
            return newline + 1
        end = newline + 1
        newline = buffer.rfind(b"\n", 0, newline)
    return 0


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.cast(pa.string())
    if pa.types.is_map(kind) or pa.types.is_struct(kind) or pa.types.is_list(kind):
        values: list[str | None] = []
        for value in column.to_pylist():
            if value is None:
                values.append(None)
            elif pa.types.is_map(kind):
                values.append(json.dumps(dict(value), sort_keys=True))
            else:
                values.append(json.dumps(value, sort_keys=True, default=str))
        return pa.array(values, pa.string())
    if pa.types.is_timestamp(kind):
        utc = column.cast(pa.timestamp("us", tz="UTC")) if kind.tz else column
        return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S")
    return column.cast(pa.string())


def _nulls(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """The null words of CSV files (``NULL``, empty) as nulls in Parquet text too."""
    return pc.if_else(pc.is_in(column, pa.array(_NULL_TEXT)), pa.scalar(None, pa.string()), column)


def read_parquet(path: Path, rows: int = 65536) -> Iterator[TextBlock]:
    """Stream a Parquet file as text blocks (nested columns as JSON text)."""
    try:
        handle = pq.ParquetFile(str(path))
        line = 1
        for batch in handle.iter_batches(batch_size=rows):
            table = pa.Table.from_batches([batch])
            text = pa.table({n: _nulls(_as_text(table[n])) for n in table.column_names})
            block = TextBlock(str(path), text, line)
            line += block.rows
            yield block
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file: {exc}") from exc


def read_table_file(path: Path, delimiter: str = ",") -> Iterator[TextBlock]:
    """CSV, CSV.gz or Parquet by the file's name (``.parquet``/``.pq``), else CSV."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return read_parquet(path)
    return read_csv(path, delimiter)


# ---------------------------------------------------------------------------------------------
# Parsing text columns


def text(column: pa.Array) -> pa.Array:
    """Trimmed text; empty becomes null."""
    trimmed = pc.utf8_trim_whitespace(column)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def number(column: pa.Array, field: str, problems: Problems) -> pa.Array:
    """Floats from text; a value that is not a number is a problem of its row."""
    column = text(column)
    bad = pc.invert(pc.match_substring_regex(column, _NUMBER))
    problems.add(bad, lambda row: f"{field}: not a number: {column[row].as_py()!r}")
    clean = pc.if_else(bad, pa.scalar(None, pa.string()), column)
    return pc.cast(pc.utf8_trim_whitespace(clean), pa.float64())


def money(column: pa.Array, field: str, problems: Problems) -> pa.Array:
    """Exact decimals from text (18 places kept, more rounded half-even)."""
    column = text(column)
    bad = pc.invert(pc.match_substring_regex(column, _NUMBER))
    problems.add(bad, lambda row: f"{field}: not an amount: {column[row].as_py()!r}")
    clean = pc.utf8_trim_whitespace(pc.if_else(bad, pa.scalar(None, pa.string()), column))
    try:
        return pc.cast(clean, MONEY)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # more than 18 decimals or 20 integer digits somewhere: value by value
    values = []
    for row, value in enumerate(clean.to_pylist()):
        values.append(None if value is None else _decimal(value, field, row, problems))
    return pa.array(values, MONEY)


_QUANTUM = Decimal(1).scaleb(-18)


def _decimal(value: str, field: str, row: int, problems: Problems) -> Decimal | None:
    try:
        amount = Decimal(value).quantize(_QUANTUM)
    except InvalidOperation:
        problems.add_row(row, f"{field}: amount out of range: {value!r}")
        return None
    if amount.adjusted() >= 20:
        problems.add_row(row, f"{field}: amount out of range: {value!r}")
        return None
    return amount


# 2024-09-18, 2024-09-18 22:00, 2024-09-18T22:00:00.000Z, 2023-11-01 00:00:00.000000000Z,
# 2024-05-01 00:00:00 UTC, 2014-01-01T00:00:00-08:00
_ISO = (
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hm>\d{2}:\d{2})(?P<sec>:\d{2})?(?:\.\d+)?)?"
    r"\s*(?P<zone>Z|UTC|[+-]\d{2}:?\d{2})?\s*$"
)
# 9/2/2023 or 09/02/2023 (month first, as Azure writes it), optionally with a time.
_US = (
    r"^\s*(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
    r"(?:\s+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?\s*$"
)


def _pad2(column: pa.Array) -> pa.Array:
    return pc.utf8_lpad(column, width=2, padding="0")


def times(column: pa.Array, field: str, problems: Problems, *, required: bool = True) -> pa.Array:
    """Unix epoch seconds (float) from ISO 8601 or month-first US dates; naive times are UTC."""
    column = text(column)
    if required:
        problems.add(pc.is_null(column), lambda _row: f"{field}: missing")
    iso = pc.extract_regex(column, _ISO)
    date_part = pc.struct_field(iso, "date")
    hm = pc.struct_field(iso, "hm")
    sec = pc.struct_field(iso, "sec")
    zone = pc.struct_field(iso, "zone")
    us = pc.extract_regex(column, _US)
    us_date = pc.binary_join_element_wise(
        pc.struct_field(us, "y"),
        _pad2(pc.struct_field(us, "m")),
        _pad2(pc.struct_field(us, "d")),
        "-",
    )
    is_us = pc.is_valid(us_date)
    date_part = pc.if_else(is_us, us_date, date_part)
    clock = pc.if_else(
        pc.and_(pc.is_valid(hm), pc.not_equal(hm, "")),
        pc.binary_join_element_wise(hm, pc.if_else(pc.equal(sec, ""), ":00", sec), ""),
        pa.scalar("00:00:00"),
    )
    hour = pc.struct_field(us, "h")
    seconds_part = pc.struct_field(us, "s")
    us_clock = pc.if_else(
        pc.equal(hour, ""),
        pa.scalar("00:00:00"),
        pc.binary_join_element_wise(
            _pad2(hour),
            pc.struct_field(us, "mi"),
            pc.if_else(pc.equal(seconds_part, ""), pa.scalar("00"), seconds_part),
            ":",
        ),
    )
    clock = pc.if_else(is_us, us_clock, clock)
    joined = pc.binary_join_element_wise(date_part, clock, " ")
    try:
        parsed = pc.strptime(joined, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    except pa.ArrowInvalid:
        parsed = pa.nulls(len(column), pa.timestamp("s"))
    seconds = pc.cast(pc.cast(parsed, pa.int64()), pa.float64())
    offset = _offsets(pc.if_else(is_us, pa.scalar(""), zone))
    seconds = pc.subtract(seconds, offset)
    bad = pc.and_(pc.is_valid(column), pc.is_null(seconds))
    problems.add(bad, lambda row: f"{field}: not a date-time: {column[row].as_py()!r}")
    return seconds


def _offsets(zone: pa.Array) -> pa.Array:
    """Seconds east of UTC of ``+02:00``/``-0800``; Z, UTC and nothing are 0."""
    zone = pc.fill_null(zone, "")
    signed = pc.match_substring_regex(zone, r"^[+-]")
    digits = pc.replace_substring(pc.if_else(signed, zone, pa.scalar("+00:00")), ":", "")
    hours = pc.cast(pc.utf8_slice_codeunits(digits, 1, 3), pa.float64())
    minutes = pc.cast(pc.utf8_slice_codeunits(digits, 3, 5), pa.float64())
    size = pc.add(pc.multiply(hours, 3600.0), pc.multiply(minutes, 60.0))
    negative = pc.starts_with(digits, "-")
    return pc.if_else(negative, pc.negate(size), size)


# ---------------------------------------------------------------------------------------------
# Keys and finishing


def row_digests(block: TextBlock, columns: Sequence[str] | None = None) -> list[bytes]:
    """A 16-byte BLAKE2b digest of each row's values (all columns, or ``columns``)."""
    names = list(columns) if columns is not None else block.table.column_names
    parts = [pc.fill_null(block.table[n].combine_chunks(), "\x00") for n in names]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")
    header = "\x1f".join(names).encode()
    return [
        hashlib.blake2b(value.encode(), digest_size=16, key=header[:64]).digest()
        for value in joined.to_pylist()
    ]


class KeyMaker:
    """Stable keys for rows without a line id: the row's digest, and ``#N`` on the N-th
    identical row of the same file (a file may legitimately repeat a line).

    What it remembers of the rows seen is 8 bytes each (the digest's first half, in sorted
    runs), so a file of millions of lines costs megabytes, not the digests themselves. Two
    different rows sharing that half (about once in 10^7 files of 2 million lines) only
    number the second ``#2``: its key stays unique and the same on every import.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray[Any, np.dtype[np.uint64]]] = []
        self._counts: dict[int, int] = {}

    def _seen(self, prefixes: np.ndarray[Any, np.dtype[np.uint64]]) -> np.ndarray[Any, Any]:
        found = np.zeros(len(prefixes), dtype=bool)
        for run in self._runs:
            at = np.minimum(np.searchsorted(run, prefixes), len(run) - 1)
            found |= run[at] == prefixes
        return found

    def keys(self, digests: Sequence[bytes]) -> list[str]:
        keys = [d.hex() for d in digests]
        if not digests:
            return keys
        prefixes = np.frombuffer(b"".join(digests), dtype=np.uint64)[::2].copy()
        found = self._seen(prefixes)
        values, counts = np.unique(prefixes, return_counts=True)
        repeated = found | np.isin(prefixes, values[counts > 1])
        for row in np.flatnonzero(repeated).tolist():
            prefix = int(prefixes[row])
            n = self._counts.get(prefix, 1 if found[row] else 0) + 1
            self._counts[prefix] = n
            if n > 1:
                keys[row] = f"{keys[row]}#{n}"
        self._runs.append(values)
        runs = self._runs  # merged like a binary counter: few runs, each value merged rarely
        while len(runs) > 1 and len(runs[-2]) <= 2 * len(runs[-1]):
            merged = np.concatenate(runs[-2:])
            merged.sort()
            runs[-2:] = [merged]
        return keys


def hashes(digests: Sequence[bytes]) -> pa.Array:
    """The signed 64-bit change-detection hash of each digest (its first 8 bytes, big-endian)."""
    if not digests:
        return pa.array([], pa.int64())
    return pa.array(np.frombuffer(b"".join(digests), dtype=">i8")[::2].astype(np.int64))


def tags_json(pairs: dict[str, pa.Array], rows: int) -> pa.Array:
    """A JSON object per row from named text columns (keys with null values left out)."""
    if not pairs:
        return pa.nulls(rows, pa.string())
    lists = {k: v.to_pylist() for k, v in pairs.items()}
    out: list[str | None] = []
    for row in range(rows):
        found = {k: values[row] for k, values in lists.items() if values[row] not in (None, "")}
        out.append(json.dumps(found, sort_keys=True) if found else None)
    return pa.array(out, pa.string())


def normalise_tags(column: pa.Array, field: str, problems: Problems) -> pa.Array:
    """Tags given as a JSON object (or Azure's object without braces) as compact JSON.

    Each distinct text is parsed once (exports repeat a resource's tags on every line)."""
    if not len(column) or column.null_count == len(column):
        return pa.nulls(len(column), pa.string())
    encoded = pc.dictionary_encode(column)
    normal: list[str | None] = []
    wrong: list[int] = []
    for code, value in enumerate(encoded.dictionary.to_pylist()):
        body = value.strip()
        if not body:
            normal.append(None)
            continue
        if not body.startswith("{"):
            body = "{" + body + "}"
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            wrong.append(code)
            normal.append(None)
            continue
        normal.append(json.dumps(parsed, sort_keys=True) if parsed else None)
    if wrong:
        bad = pc.fill_null(pc.is_in(encoded.indices, pa.array(wrong, encoded.indices.type)), False)
        for row in np.flatnonzero(bad.to_numpy(zero_copy_only=False)).tolist():
            problems.add_row(row, f"{field}: not a JSON object: {column[row].as_py()[:80]!r}")
    return pc.take(pa.array(normal, pa.string()), encoded.indices)


def finish(
    block: TextBlock, columns: dict[str, Any], problems: Problems
) -> tuple[pa.Table, list[Reject]]:
    """The canonical table of a block's good rows, and a reject for each bad one.

    ``columns`` maps COST_SCHEMA names to arrays; missing optional text columns are nulls.
    Rows without a billed cost, a currency or a valid charge period are rejects too.
    """
    rows = block.rows
    problems.add(pc.is_null(columns["billed_cost"]), lambda _r: "billed cost: missing")
    problems.add(pc.is_null(columns["currency"]), lambda _r: "currency: missing")
    category = columns["charge_category"]
    problems.add(
        pc.invert(pc.is_in(category, pa.array(CHARGE_CATEGORIES))),
        lambda r: (
            f"charge category: not one of {', '.join(CHARGE_CATEGORIES)}: {category[r].as_py()!r}"
        ),
    )
    start, end = columns["start_ts"], columns["end_ts"]
    problems.add(
        pc.less(end, start), lambda _r: "charge period: ends before it starts"
    )  # fmt: skip
    full: dict[str, Any] = {}
    for field in COST_SCHEMA:
        value = columns.get(field.name)
        if value is None:
            value = pa.nulls(rows, field.type)
        elif isinstance(value, list):
            value = pa.array(value, field.type)
        full[field.name] = value.cast(field.type) if value.type != field.type else value
    full["line_no"] = block.line_numbers()
    table = pa.table(full, schema=COST_SCHEMA)
    if not problems.reasons:
        return table, []
    rejects = [
        Reject(block.file, block.line(row), why, block.raw(row))
        for row, why in sorted(problems.reasons.items())
    ]
    return table.filter(problems.keep_mask(rows)), rejects
