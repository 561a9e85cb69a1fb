"""NFS IO logs: hourly bpftrace histograms of request sizes per machine and user.

Natural key: source (the log stream, by default the file name without rotation suffixes) +
block epoch. A file is read from where the last import stopped: the importer passes the stored
:class:`FileState` of each path, and a file whose device, inode or first line changed, or that
shrank, is read again from the start (its blocks already stored are then unchanged, so nothing
is counted twice). The last block of a file is complete once another block follows it, or once
the file ends with a newline and has not changed for ``settle`` seconds; until then it is left
for the next run.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from meterbook.connectors.base import Connector, FieldError, InputFile, Reject
from meterbook.connectors.iolog.parse import (
    BUCKET,
    BUCKET_FAST,
    LOG,
    SectionHeader,
    bucket_of,
    parse_section,
)
from meterbook.errors import InputError

_ROTATION = re.compile(r"(\.log)?(\.\d+)?(\.gz)?$|[-_.]\d{4}-?\d{2}-?\d{2}(\.log)?$")
_HEAD_BYTES = 4096


@dataclass(slots=True)
class Section:
    """One histogram: a block's operations of one user on one machine in one direction."""

    header: SectionHeader
    buckets: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(slots=True)
class IoBlock:
    """One hourly block of a log."""

    source: str
    epoch: int
    logged_at: str
    file: str
    line: int
    sections: dict[tuple[int, str, str], Section] = field(default_factory=dict)
    #: A 64-bit digest of the block's text: equal digests, unchanged block.
    digest: int = 0


@dataclass(frozen=True, slots=True)
class FileState:
    """How far a log file has been imported."""

    path: str
    source: str
    device: int
    inode: int
    head_digest: str
    offset: int
    lines: int
    size: int
    last_block_ts: int | None
    #: Everything in the file is imported (no block left pending).
    complete: bool = False


@dataclass(frozen=True, slots=True)
class Idle:
    """Following has caught up with every file: what was read can be committed."""


def source_name(path: str) -> str:
    """The log stream a file belongs to: its name without rotation or date suffixes."""
    name = Path(path).name
    stem = _ROTATION.sub("", name)
    return stem or name


def _head(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.sha256(fh.readline(_HEAD_BYTES)).hexdigest()


def _first_epoch(path: Path) -> float:
    """The epoch of a file's first block (for time order), else its modification time."""
    with path.open("rb") as fh:
        for _, line in zip(range(200), fh, strict=False):
            m = LOG.match(line)
            if m:
                return float(m[2])
    return path.stat().st_mtime


class IoLogConnector(Connector):
    """Reads IO log files (and every ``*.log`` of directories), once or following them."""

    kind: ClassVar[str] = "iolog"
    natural_key: ClassVar[str] = "source + block epoch"
    record_type: ClassVar[str] = "io"

    def __init__(
        self,
        paths: list[str],
        *,
        source: str | None = None,
        known: dict[str, FileState] | None = None,
        settle: float = 120.0,
        follow: bool = False,
        poll: float = 5.0,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.paths = [str(Path(p).resolve()) for p in paths]
        for path in self.paths:
            if not Path(path).exists():
                raise InputError(f"{path}: no such file or directory")
        self.source = source
        self.known = dict(known or {})
        self._stored = dict(known or {})  # as the ledger had them, to recognise renamed files
        self.settle = settle
        self.follow = follow
        self.poll = poll
        self.stop = stop or threading.Event()
        self.inputs = [InputFile(p) for p in self.files()]

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "settle": self.settle, "follow": self.follow}

    def files(self) -> list[str]:
        """Files to read, directories expanded to their ``*.log`` files in time order."""
        found: list[str] = []
        for path in self.paths:
            if Path(path).is_dir():
                logs = sorted(Path(path).glob("*.log"), key=lambda p: (_first_epoch(p), p.name))
                found.extend(str(p) for p in logs)
            else:
                found.append(path)
        return found

    def items(self) -> Iterator[Any]:
        while True:
            for path in self.files():
                yield from self._read(path)
            if not self.follow or self.stop.is_set():
                return
            yield Idle()
            if self.stop.wait(self.poll):
                return

    def _read(self, path: str) -> Iterator[Any]:
        file = Path(path)
        try:
            stat = file.stat()
            head = _head(file)
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
        source = self.source or source_name(path)
        state = self.known.get(path) or self._renamed(stat.st_dev, stat.st_ino, head)
        same = (
            state is not None
            and (state.device, state.inode, state.head_digest) == (stat.st_dev, stat.st_ino, head)
            and stat.st_size >= state.offset
        )
        if state is not None and not same:
            self.skipped["rotated or truncated files read from the start"] += 1
        offset, lines = (state.offset, state.lines) if same and state else (0, 0)
        if same and state and state.offset == stat.st_size:
            self.known[path] = replace(state, path=path, complete=True)
            return  # nothing new
        last_ts = state.last_block_ts if same and state else None
        settled = time.time() - stat.st_mtime >= self.settle
        progress = FileState(path, source, stat.st_dev, stat.st_ino, head, offset, lines,
                             stat.st_size, last_ts)  # fmt: skip
        for item in self._blocks(file, source, offset, lines, stat.st_size, settled):
            if isinstance(item, tuple):  # (block, end offset, end line)
                block, end, end_line = item
                progress = replace(progress, offset=end, lines=end_line, last_block_ts=block.epoch)
                yield block
            else:
                yield item
        progress = replace(progress, complete=progress.offset == stat.st_size)
        self.known[path] = progress
        yield progress

    def _renamed(self, device: int, inode: int, head: str) -> FileState | None:
        """The state of a known file that now has another name (rotated by renaming)."""
        for state in self._stored.values():
            if (state.device, state.inode, state.head_digest) == (device, inode, head):
                return state
        return None

    def _blocks(
        self, file: Path, source: str, offset: int, number: int, size: int, settled: bool
    ) -> Iterator[Any]:
        """Blocks with where they end, ``(block, offset, line)``, and their rejects, from
        ``offset`` to the end the file had when it was looked at.

        A block's rejects come with the block: those of a block left pending for the next run
        are reported by that run, once. This loop runs for every line of every log: it is
        written for speed (bucket lines first, bucket labels parsed once).
        """
        name = str(file)
        block: IoBlock | None = None
        buckets: defaultdict[int, int] | None = None
        rejects: list[Reject] = []
        labels = _LABELS
        match_bucket = BUCKET_FAST.match
        hasher = hashlib.blake2b(digest_size=8)
        last = b"\n"
        with file.open("rb") as fh:
            fh.seek(offset)
            for raw in fh:
                number += 1
                last = raw
                first = raw[0]
                if first != 76:  # not "L": part of the current block's text
                    hasher.update(raw)
                if first == 91:  # "[": a bucket line, the most common by far
                    m = match_bucket(raw)
                    if m is not None and buckets is not None:
                        index = labels.get(m[1])
                        if index is None:
                            index = _label_index(m[1])
                        if index >= 0:
                            count = int(m[2])
                            if count:
                                buckets[index] += count
                            continue
                    reason = _bucket_problem(raw, buckets)
                    if reason and block is not None:
                        rejects.append(_reject(name, number, reason, raw))
                    continue
                if first == 64:  # "@"
                    if block is None:
                        self.skipped["lines before the first block"] += 1
                        continue
                    header = parse_section(raw)
                    if header is None:
                        rejects.append(_reject(name, number, "unreadable histogram header", raw))
                        buckets = None
                        continue
                    key = (header.direction, header.machine, header.user)
                    section = block.sections.get(key)
                    if section is None:
                        section = block.sections[key] = Section(header)
                    buckets = section.buckets
                    continue
                if first == 76 and not raw.startswith(b"Log:"):
                    hasher.update(raw)
                elif first == 76:  # "Log:": a new block
                    here = fh.tell() - len(raw)
                    if here >= size:
                        break  # a block written after the file was looked at: next time
                    m = LOG.match(raw)
                    if m is None:
                        rejects.append(_reject(name, number, "unreadable block header", raw))
                        continue
                    if block is not None:
                        block.digest = _signed(hasher)
                        yield from rejects
                        yield block, here, number - 1
                    rejects, buckets = [], None
                    hasher = hashlib.blake2b(raw, digest_size=8)
                    block = IoBlock(source, int(m[2]), m[1].decode(errors="replace"), name, number)
                    continue
                if not raw.strip():
                    continue
                if block is None:
                    self.skipped["lines before the first block"] += 1
                    continue
                rejects.append(_reject(name, number, _NOT_A_LINE, raw))
            end = fh.tell()
        self._count(name, end - offset)
        complete = last.endswith(b"\n") and end == size and settled
        if block is not None and complete:
            block.digest = _signed(hasher)
            yield from rejects
            yield block, end, number

    def _count(self, path: str, read: int) -> None:
        for entry in self.inputs:
            if entry.name == path:
                entry.chars_read += read


_NOT_A_LINE = "not a block header, histogram header or bucket"


def _signed(hasher: Any) -> int:
    """A hasher's 64-bit digest as a signed integer (what a BIGINT column holds)."""
    return int.from_bytes(hasher.digest(), "big", signed=True)


#: Bucket labels seen, with their index (-1: not a valid bucket).
_LABELS: dict[bytes, int] = {}


def _label_index(label: bytes) -> int:
    m = BUCKET.match(label + b" 0")
    try:
        index = -1 if m is None else bucket_of(m[1], m[2], m[3], m[4])
    except FieldError:
        index = -1
    _LABELS[label] = index
    return index


def _bucket_problem(raw: bytes, buckets: defaultdict[int, int] | None) -> str | None:
    """Why a line starting with ``[`` is not a usable bucket line (None: it is)."""
    m = BUCKET.match(raw)
    if m is None:
        return _NOT_A_LINE
    if buckets is None:
        return "bucket line outside a histogram"
    try:
        bucket_of(m[1], m[2], m[3], m[4])
    except FieldError as exc:
        return str(exc)
    return None


def _reject(file: str, line: int, reason: str, raw: bytes) -> Reject:
    return Reject(file, line, reason, raw.decode(errors="replace"))
