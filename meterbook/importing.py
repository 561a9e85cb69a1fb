"""Running an import: connector batches in, ledger batches out, the run recorded throughout.

Each batch (records, rejects, rollup deltas and the run's counters) is one transaction, so a
killed import leaves only whole batches, and running it again completes it exactly: natural
keys make the repeated part "unchanged". With ``strict`` the whole import is one transaction
that the first reject rolls back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from meterbook.connectors.base import Connector, Reject
from meterbook.errors import ConcurrentImportError, MeterbookError, StoreError, StrictImportError
from meterbook.pipeline import (
    QUEUE_BATCHES,
    Batch,
    IoBatch,
    can_fork,
    few_collections,
    parallel_batches,
    read_batches,
    read_io_batches,
)
from meterbook.store.core import Store
from meterbook.store.ingest import BatchCounts, LedgerWriter
from meterbook.store.io_ingest import IoLogWriter
from meterbook.store.runs import add_progress, finish_run, start_run

log = logging.getLogger(__name__)

#: Called after each batch with (items read, characters read, total characters or None).
Progress = Callable[[int, int, int | None], None]


@dataclass
class ImportResult:
    """What an import did."""

    run_id: int
    kind: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    first_rejects: list[Reject] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def unit(self) -> str:
        """What the counts count: blocks for IO logs, records otherwise."""
        return "blocks" if self.kind == "iolog" else "records"

    def summary(self) -> str:
        if self.unit == "records":
            text = (f"{self.inserted:,} inserted, {self.updated:,} updated, "
                    f"{self.unchanged:,} unchanged, {self.rejected:,} rejected")  # fmt: skip
        else:
            text = (f"{self.unit}: {self.inserted:,} inserted, {self.updated:,} updated, "
                    f"{self.unchanged:,} unchanged; {self.rejected:,} lines rejected")  # fmt: skip
        skipped = ", ".join(f"{n:,} {what}" for what, n in sorted(self.skipped.items()))
        return text + (f"; skipped {skipped}" if skipped else "")


#: Records per batch handed from the reader to the writer (transactions hold several).
CHUNK = 10_000
#: IO-log blocks per batch handed from the reader to the writer.
IO_BLOCKS = 24
#: IO-log batches the reader may have ready ahead of the writer (about 16 x 0.3 MB). Each
#: process keeps a core busy and either one is sometimes slower (the writer while it applies
#: the day rollups at a commit, the reader on a large block): with room for only two
#: batches the other one then waits. A year's import took 36.0 s on average instead of 43.1
#: (three interleaved pairs), peak memory 184 MB instead of 171.
IO_QUEUE = 16


def run_import(
    store: Store,
    connector: Connector,
    *,
    batch_size: int = 10_000,
    strict: bool = False,
    parallel: bool | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import everything ``connector`` yields into ``store``, ``batch_size`` records per
    transaction.

    ``parallel`` reads in a separate process (default: when the machine has two cores).
    """
    inputs = [f.name for f in connector.inputs]
    options = {**connector.describe(), "strict": strict, "batch_size": batch_size}
    run_id = start_run(store.engine, connector.kind, inputs, options)
    result = ImportResult(run_id, connector.kind)
    started = time.perf_counter()
    chunk = min(CHUNK, batch_size)
    produce: Callable[[], Iterator[Any]]
    writer: Any
    depth = QUEUE_BATCHES
    if connector.record_type == "io":
        writer = IoLogWriter(run_id, store.zone)
        depth = IO_QUEUE

        def produce() -> Iterator[Any]:
            return read_io_batches(connector, IO_BLOCKS)
    else:
        writer = LedgerWriter(connector.kind, run_id, store.zone)

        def produce() -> Iterator[Any]:
            return read_batches(connector, chunk, store.zone)

    if parallel is None:
        parallel = can_fork() and not connector.follow
    if any(f.name == "-" for f in connector.inputs):
        parallel = False  # a child process gets /dev/null as its standard input
    if parallel:
        engine = store.engine
        batches: Iterator[Any] = parallel_batches(
            produce, lambda: engine.dispose(close=False), depth
        )
    else:
        batches = produce()
    pending = _Pending()
    with store.engine.connect() as conn, few_collections():
        _for_bulk_writes(conn, writer)
        transaction = conn.begin()
        try:
            for batch in batches:
                if strict and batch.rejects:
                    first = batch.rejects[0]
                    raise StrictImportError(
                        f"{first.file}: line {first.line}: {first.reason} "
                        "(--strict: nothing was imported)"
                    )
                pending.add(writer.write(conn, batch), batch)
                if (batch.flush or pending.records >= batch_size
                        or len(pending.rejects) >= batch_size):  # fmt: skip
                    pending.commit(conn, writer, result)
                    if not strict:
                        transaction.commit()
                        transaction = conn.begin()
                if progress:
                    progress(batch.items, batch.read, batch.total)
            pending.commit(conn, writer, result)
            transaction.commit()
        except BaseException as exc:
            transaction.rollback()
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            status, message = _failure(exc)
            finish_run(store.engine, run_id, status, message)
            # Bulk paths call the driver directly: its errors count as the database's too.
            driver = store.engine.dialect.loaded_dbapi
            if isinstance(exc, IntegrityError | driver.IntegrityError):
                raise ConcurrentImportError(
                    "another import wrote the same records at the same time; run this one again"
                ) from exc
            if isinstance(exc, SQLAlchemyError | driver.Error):
                raise StoreError(f"database error during import: {_first_line(exc)}") from exc
            raise
    result.seconds = time.perf_counter() - started
    if result.rejected and not result.records:
        finish_run(store.engine, run_id, "failed", f"every line was rejected; {result.summary()}")
    else:
        finish_run(store.engine, run_id, "ok", result.summary())
    log.info("import run %d: %s", run_id, result.summary())
    return result


def _for_bulk_writes(conn: Connection, writer: Any) -> None:
    """Apply the writer's SQLite settings for this import's connection (it closes after)."""
    if conn.dialect.name == "sqlite" and writer.sqlite_pragmas:
        for pragma in writer.sqlite_pragmas:
            conn.exec_driver_sql(pragma)
        conn.commit()


class _Pending:
    """What the open transaction holds, until it commits."""

    def __init__(self) -> None:
        self.counts = BatchCounts()
        self.rejects: list[Reject] = []
        self.records = 0
        self.last: Batch | IoBatch | None = None

    def add(self, counts: BatchCounts, batch: Batch | IoBatch) -> None:
        self.counts.inserted += counts.inserted
        self.counts.updated += counts.updated
        self.counts.unchanged += counts.unchanged
        self.records += batch.size
        self.rejects.extend(batch.rejects)
        self.last = batch

    def commit(self, conn: Connection, writer: LedgerWriter, result: ImportResult) -> None:
        """Put the rollups and the run's progress into the transaction, and count them."""
        writer.flush(conn)
        skipped = self.last.skipped if self.last else {}
        items = self.last.items if self.last else 0
        c = self.counts
        add_progress(
            conn,
            writer.run_id,
            inserted=c.inserted,
            updated=c.updated,
            unchanged=c.unchanged,
            skipped=sum(skipped.values()),
            lines_read=items + sum(skipped.values()),
            batch_rejects=self.rejects,
        )
        result.inserted += c.inserted
        result.updated += c.updated
        result.unchanged += c.unchanged
        result.rejected += len(self.rejects)
        result.skipped = dict(skipped)
        result.first_rejects.extend(self.rejects[: 5 - len(result.first_rejects)])
        self.counts, self.rejects, self.records = BatchCounts(), [], 0


def _failure(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, StrictImportError):
        return "rolled back", str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "interrupted; the batches committed before remain"
    if isinstance(exc, MeterbookError):
        return "failed", str(exc)
    if isinstance(exc, IntegrityError):
        return "failed", "another import wrote the same records at the same time"
    return "failed", f"{type(exc).__name__}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
