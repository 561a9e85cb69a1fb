"""The connector contract.

A connector has a ``kind`` (``slurm``, ``swf`` ...), documents its natural key, takes typed
options (secrets as :class:`pydantic.SecretStr`) and yields, from :meth:`Connector.items`,
:class:`UsageRecord` objects (or, for speed, :class:`RecordBatch` columns of them) and
:class:`Reject` objects. It counts what it deliberately skipped
(for example job steps) in :attr:`Connector.skipped`, so that nothing disappears unreported.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, ClassVar, TextIO, cast

import pyarrow as pa

from meterbook.errors import InputError


class FieldError(ValueError):
    """A value that cannot be parsed; the message says which and why."""


@dataclass(slots=True)
class UsageRecord:
    """One unit of usage in the ledger's canonical form.

    ``source`` names the stream the record belongs to (a cluster for Slurm, a trace for SWF);
    ``key`` is its natural key inside that stream. Times are aware UTC datetimes and the
    interval is ``[start, end)``; the ledger derives hours from it and the rates (CPUs, GPUs,
    nodes, memory). ``fingerprint``, when set, is text that determines every field (the input
    line plus the options that shaped it): the ledger compares its hash to tell an unchanged
    record from an updated one without hashing every field.
    """

    source: str
    key: str
    resource: str | None
    workload_type: str
    state: str
    user: str | None = None
    uid: int | None = None
    project: str | None = None
    group: str | None = None
    partition: str | None = None
    qos: str | None = None
    state_reason: str | None = None
    name: str | None = None
    submit: datetime | None = None
    eligible: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    timelimit_s: int | None = None
    cpus: float | None = None
    gpus: float | None = None
    gpu_type: str | None = None
    nodes: int | None = None
    mem_gb: float | None = None
    io_ops: int | None = None
    cost: Decimal | None = None
    currency: str | None = None
    exit_code: str | None = None
    hosts: str | None = None
    attrs: dict[str, Any] | None = None
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    """An input line that could not become a record, with where and why."""

    file: str
    line: int
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """Many records at once, as columns: a :data:`RECORD_SCHEMA` table.

    Connectors reading large files build these with vectorised parsing (pyarrow compute)
    instead of one :class:`UsageRecord` per line; the ledger treats both the same way.
    ``fingerprint`` must be set on every row.
    """

    table: pa.Table


@dataclass(frozen=True, slots=True)
class MetricBatch:
    """Metric samples as columns: a :data:`METRIC_SCHEMA` table.

    ``resource`` names the measured thing as the source knows it (an instance id, a workbench),
    ``metric`` the metric as the source names it, ``ts`` the sample time in Unix epoch seconds
    (UTC). A source giving one value per sample puts it in ``average`` and leaves the
    minimum and maximum null. The natural key is (source, resource, metric, ts).
    """

    table: pa.Table


#: Metric samples as columns.
METRIC_SCHEMA = pa.schema(
    [
        ("resource", pa.string()),
        ("metric", pa.string()),
        ("ts", pa.float64()),
        ("average", pa.float64()),
        ("minimum", pa.float64()),
        ("maximum", pa.float64()),
    ]
)

Item = UsageRecord | Reject | RecordBatch

#: The canonical record as columns; times are Unix epoch seconds (UTC).
RECORD_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("key", pa.string()),
        ("resource", pa.string()),
        ("workload_type", pa.string()),
        ("state", pa.string()),
        ("user", pa.string()),
        ("uid", pa.int64()),
        ("project", pa.string()),
        ("group", pa.string()),
        ("partition", pa.string()),
        ("qos", pa.string()),
        ("state_reason", pa.string()),
        ("name", pa.string()),
        ("submit_ts", pa.float64()),
        ("eligible_ts", pa.float64()),
        ("start_ts", pa.float64()),
        ("end_ts", pa.float64()),
        ("timelimit_s", pa.int64()),
        ("cpus", pa.float64()),
        ("gpus", pa.float64()),
        ("gpu_type", pa.string()),
        ("nodes", pa.int64()),
        ("mem_gb", pa.float64()),
        ("io_ops", pa.int64()),
        ("cost", pa.decimal128(18, 6)),
        ("currency", pa.string()),
        ("exit_code", pa.string()),
        ("hosts", pa.string()),
        ("attrs", pa.string()),
        ("fingerprint", pa.string()),
    ]
)

_TIME_FIELDS = {
    "submit_ts": "submit",
    "eligible_ts": "eligible",
    "start_ts": "start",
    "end_ts": "end",
}


def dump_attrs(attrs: dict[str, Any] | None) -> str | None:
    """Attributes as compact JSON with sorted keys (None when there are none)."""
    return None if not attrs else json.dumps(attrs, separators=(",", ":"), sort_keys=True)


def records_to_table(records: list[UsageRecord]) -> pa.Table:
    """Row records as a :data:`RECORD_SCHEMA` table.

    A record without a fingerprint gets one from its content, so that "unchanged" is decided
    by every field.
    """
    columns: dict[str, list[Any]] = {}
    for name in RECORD_SCHEMA.names:
        attr = _TIME_FIELDS.get(name)
        if attr is not None:
            columns[name] = [
                None if (v := getattr(r, attr)) is None else v.timestamp() for r in records
            ]
        elif name == "attrs":
            columns[name] = [dump_attrs(r.attrs) for r in records]
        elif name == "fingerprint":
            continue
        else:
            columns[name] = [getattr(r, name) for r in records]
    columns["fingerprint"] = [
        r.fingerprint
        if r.fingerprint is not None
        else repr(tuple(columns[n][i] for n in RECORD_SCHEMA.names[:-1]))
        for i, r in enumerate(records)
    ]
    return pa.table(columns, schema=RECORD_SCHEMA)


@dataclass
class InputFile:
    """A named text input: a path, ``-`` for stdin, gzip-compressed when it ends in ``.gz``.

    :meth:`check` fails early (before any import starts) when a path cannot be read; the file
    is opened only when :meth:`lines` is iterated, so many inputs never hold many handles.
    """

    name: str
    size: int | None = None
    chars_read: int = 0

    @classmethod
    def check(cls, name: str) -> InputFile:
        if name == "-":
            return cls("-")
        path = Path(name)
        if path.is_dir():
            raise InputError(f"{name}: is a directory, not a file")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InputError(f"{name}: cannot open: {exc.strerror}") from exc
        return cls(name, None if name.endswith(".gz") else size)

    def _open(self) -> TextIO:
        if self.name == "-":
            buffer = getattr(sys.stdin, "buffer", None)
            if buffer is None:  # already text (a program that replaced sys.stdin)
                return sys.stdin
            # Decoded like files: bad bytes become U+FFFD instead of stopping the import.
            return io.TextIOWrapper(buffer, encoding="utf-8", errors="replace", newline="\n")
        try:
            raw = Path(self.name).open("rb")  # noqa: SIM115  (closed with the wrapper)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot open: {exc.strerror}") from exc
        binary: IO[bytes] = raw
        if self.name.endswith(".gz"):
            binary = cast(IO[bytes], gzip.GzipFile(fileobj=raw))
        return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n")

    def lines(self) -> Iterator[tuple[int, str]]:
        """Yield ``(line_number, line)`` without the line ending, counting what was read."""
        stream = self._open()
        try:
            for number, line in enumerate(stream, 1):
                self.chars_read += len(line)
                yield number, line.rstrip("\r\n")
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{self.name}: read failed: {exc}") from exc
        finally:
            if self.name != "-":
                stream.close()
            elif isinstance(stream, io.TextIOWrapper) and stream is not sys.stdin:
                stream.detach()  # leave standard input itself open


class Connector(ABC):
    """A source of usage records."""

    kind: ClassVar[str]
    natural_key: ClassVar[str]
    #: What the connector yields: usage records, or IO-log blocks ("io").
    record_type: ClassVar[str] = "usage"
    #: Whether it keeps reading as its inputs grow (then it never ends by itself).
    follow: bool = False

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()
        self.inputs: list[InputFile] = []

    @abstractmethod
    def items(self) -> Iterator[Item]:
        """Yield records and rejects, streaming: never hold the whole input."""

    def describe(self) -> dict[str, Any]:
        """Options worth recording with the import run (never secrets)."""
        return {}

    @property
    def progress(self) -> tuple[int, int | None]:
        """``(read, total)`` in characters over all inputs, for progress bars."""
        total = None
        if self.inputs and all(f.size is not None for f in self.inputs):
            total = sum(f.size or 0 for f in self.inputs)
        return sum(f.chars_read for f in self.inputs), total
