"""Reading a connector in prepared batches, in this process or in a reader process beside it.

A prepared batch holds up to ``batch_size`` records as columns with their derived quantities
and their day contributions by name (:mod:`meterbook.accounting`): everything that needs no
database. On a machine with two cores or more a forked reader process prepares the next batches
while this process writes the current one; the queue between them is bounded, so memory stays
flat however large the input.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import queue as queue_module
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from meterbook.accounting import INPUTS, NAME_DIMS, contributions, derive
from meterbook.connectors.base import (
    Connector,
    RecordBatch,
    Reject,
    UsageRecord,
    records_to_table,
)
from meterbook.errors import FatalSourceError
from meterbook.ioledger import PreparedBlock, prepare_block

#: Batches the reader may have ready ahead of the writer, by default (record batches of
#: 10,000 are a few megabytes each: two keep the writer fed without adding to memory).
QUEUE_BATCHES = 2
B = TypeVar("B")


@dataclass
class Batch:
    """Records (prepared columns), their rollup by name, rejects, and the reader's totals."""

    table: pa.Table
    rollup: pa.Table | None
    rejects: list[Reject]
    items: int
    skipped: dict[str, int] = field(default_factory=dict)
    read: int = 0
    total: int | None = None
    flush: bool = False

    @property
    def size(self) -> int:
        """Records in the batch: what a transaction's size is counted in."""
        return int(self.table.num_rows)


def prepare(table: pa.Table, zone: tzinfo) -> tuple[pa.Table, pa.Table]:
    """Derived columns of a batch of records, and its day contributions by name."""
    derived = derive(table)
    dims = derived.select([*INPUTS, *NAME_DIMS])
    for name in NAME_DIMS:
        index = dims.schema.get_field_index(name)
        dims = dims.set_column(index, name, pc.fill_null(dims[name], ""))
    return derived, contributions(dims, NAME_DIMS, zone)


class _Collector:
    """Gathers items until a batch is full."""

    def __init__(self, connector: Connector, zone: tzinfo) -> None:
        self.connector = connector
        self.zone = zone
        self.tables: list[pa.Table] = []
        self.records: list[UsageRecord] = []
        self.rejects: list[Reject] = []
        self.rows = 0
        self.items = 0

    def add(self, item: UsageRecord | Reject | RecordBatch) -> None:
        if isinstance(item, RecordBatch):
            self._flush_records()
            self.tables.append(item.table)
            self.rows += item.table.num_rows
            self.items += item.table.num_rows
            return
        self.items += 1
        if isinstance(item, Reject):
            self.rejects.append(item)
        else:
            self.records.append(item)
            self.rows += 1

    def _flush_records(self) -> None:
        if self.records:
            self.tables.append(records_to_table(self.records))
            self.records = []

    def take(self, limit: int | None = None) -> Batch:
        """A batch of at most ``limit`` records (all gathered so far when None)."""
        self._flush_records()
        table = pa.concat_tables(self.tables) if self.tables else None
        rest: list[pa.Table] = []
        if table is not None and limit is not None and table.num_rows > limit:
            table, rest = table.slice(0, limit), [table.slice(limit)]
        if table is not None and table.num_rows:
            derived, rollup = prepare(table, self.zone)
        else:
            derived, rollup = _EMPTY, None
        skipped = dict(self.connector.skipped)
        batch = Batch(derived, rollup, self.rejects, self.items, skipped, *self.connector.progress)
        self.tables, self.rejects = rest, []
        self.rows = sum(t.num_rows for t in rest)
        return batch


def read_batches(connector: Connector, batch_size: int, zone: tzinfo) -> Iterator[Batch]:
    """Prepared batches from ``connector``, read in this process."""
    collector = _Collector(connector, zone)
    for item in connector.items():
        collector.add(item)
        while collector.rows >= batch_size or len(collector.rejects) >= batch_size:
            yield collector.take(batch_size)
    yield collector.take()


class _NoPandas:
    """An import hook that says pandas is not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r} (not loaded by imports)")


def forgo_pandas() -> None:
    """Let pyarrow conclude, once for this process, that pandas is not installed.

    pyarrow loads pandas the first time it is given a Python list (to check whether it is a
    pandas object), and pandas makes 47 MB of resident memory, in an import that never uses
    it (pandas is installed for the forecasts' statsmodels). pyarrow looks once and keeps the
    answer: pandas is hidden for that one look, then importable again for anyone who asks.
    Nothing happens when pandas is already loaded. For import commands only: pyarrow's
    pandas-specific paths are then off for the process, and a process that forecasts hands
    pandas objects to pyarrow.
    """
    if "pandas" in sys.modules:
        return
    hook = _NoPandas()
    sys.meta_path.insert(0, hook)
    try:
        pa.array([0])  # pyarrow's one look for pandas
    finally:
        sys.meta_path.remove(hook)


@contextmanager
def few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely: imports make many short-lived, acyclic objects
    and a collection scans every live one (the batches in flight), again and again."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _glibc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _glibc_trim() if sys.platform.startswith("linux") else None


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc only; elsewhere nothing).

    Imports allocate and free large buffers batch after batch; glibc keeps the freed space
    in a fragmented heap, so a process's memory would creep up with the input's size although
    what it holds stays the same. Called once a batch, it keeps that memory flat."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


#: Seconds between two trims of the reader's heap (a trim walks the heap: a millisecond or two,
#: too much after every small batch of IO-log blocks).
_TRIM_EVERY = 0.25


def _produce(
    produce: Callable[[], Iterator[Any]], out: Any, after_fork: Callable[[], None] | None
) -> None:
    if after_fork is not None:
        after_fork()
    try:
        trimmed = time.monotonic()
        with few_collections():
            for batch in produce():
                out.put(("batch", batch))
                if time.monotonic() - trimmed >= _TRIM_EVERY:
                    trim_heap()
                    trimmed = time.monotonic()
        out.put(("done", None))
    except BaseException as exc:  # sent to the parent, which raises it
        out.put(("error", exc))


def parallel_batches(
    produce: Callable[[], Iterator[B]],
    after_fork: Callable[[], None] | None = None,
    depth: int = QUEUE_BATCHES,
) -> Iterator[B]:
    """The batches ``produce()`` yields, produced in a forked reader process.

    ``after_fork`` runs first in the child (for example to let go of inherited database
    connections). The reader waits when ``depth`` batches are ready and not yet taken.
    Closing the iterator early stops the reader.
    """
    context = multiprocessing.get_context("fork")
    channel = context.Queue(maxsize=depth)
    reader = context.Process(
        target=_produce, args=(produce, channel, after_fork), name="meterbook-reader", daemon=True
    )
    reader.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=1.0)
            except queue_module.Empty:
                if not reader.is_alive():
                    raise FatalSourceError(
                        f"the reader process stopped unexpectedly (exit code {reader.exitcode})"
                    ) from None
                continue
            if kind == "batch":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()
        channel.close()


def can_fork() -> bool:
    """Whether a reader process is worth starting: fork exists and there are two cores."""
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


_EMPTY = pa.table({})


@dataclass
class IoBatch:
    """Blocks of IO logs, the files' progress up to them, rejects and the reader's totals.

    ``flush`` asks for a commit now (the reader caught up while following files).
    """

    blocks: list[PreparedBlock]
    files: list[Any]
    rejects: list[Reject]
    items: int
    skipped: dict[str, int] = field(default_factory=dict)
    read: int = 0
    total: int | None = None
    flush: bool = False

    @property
    def size(self) -> int:
        """Histograms in the batch: what a transaction's size is counted in."""
        return sum(len(b.sessions) for b in self.blocks)


def read_io_batches(connector: Connector, blocks_per_batch: int) -> Iterator[IoBatch]:
    """Batches of prepared IO-log blocks, read in this process."""
    from meterbook.connectors.iolog import FileState, Idle, IoBlock

    blocks: list[IoBlock] = []
    files: dict[str, FileState] = {}
    rejects: list[Reject] = []
    items = 0

    def batch(flush: bool = False) -> IoBatch:
        prepared = [prepare_block(b) for b in blocks]
        return IoBatch(prepared, list(files.values()), rejects, items, dict(connector.skipped),
                       *connector.progress, flush=flush)  # fmt: skip

    for item in connector.items():
        if isinstance(item, Idle):
            yield batch(flush=True)
            blocks, files, rejects = [], {}, []
            continue
        items += 1
        if isinstance(item, IoBlock):
            blocks.append(item)
        elif isinstance(item, FileState):
            files[item.path] = item
        elif isinstance(item, Reject):
            rejects.append(item)
        if len(blocks) >= blocks_per_batch:
            yield batch()
            blocks, files, rejects = [], {}, []
    yield batch()
