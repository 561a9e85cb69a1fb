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
        are reported by that run, once. The file is read in chunks of whole lines.
        """
        name = str(file)
        reading = _Reading(self.skipped, name, source, number)
        end = offset
        ends_with_newline = True
        with file.open("rb") as fh:
            fh.seek(offset)
            rest = b""
            while True:
                data = fh.read(_CHUNK)
                text = rest + data if rest else data
                if data:
                    cut = text.rfind(b"\n") + 1
                    if cut == 0:
                        rest = text
                        continue
                    text, rest = text[:cut], text[cut:]
                elif text:
                    ends_with_newline = False  # what is left at the end is a partial line
                else:
                    break
                yield from reading.chunk(b"\n" + text, end - 1, size)
                if reading.stopped_at is not None:
                    end = reading.stopped_at
                    break
                end += len(text)
                if not data:
                    break
        self._count(name, end - offset)
        block = reading.block
        if block is not None and ends_with_newline and end == size and settled:
            block.digest = _signed(reading.hasher)
            yield from reading.rejects
            yield block, end, reading.number

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
    """The bucket index of a label (-1: not a valid bucket), parsed once per distinct label."""
    known = _LABELS.get(label)
    if known is not None:
        return known
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


#: Bytes read at a time (whole lines are parsed, the partial last line waits for the next).
_CHUNK = 1 << 22
#: Bucket lines in the usual shape (a label of digits, units, comma and space; the count; a
#: bar or nothing), each found with the newline before it: what BUCKET_FAST reads of such a
#: line. The bar itself is not looked at (BUCKET_FAST takes anything after " |").
_BUCKETS = re.compile(rb"\n(\[[0-9KMGT, ]*[\])]) +(\d+)(?= +\||[ \t]*\n)")
#: The first line after a run of bucket lines.
_NOT_BUCKET = re.compile(rb"\n[^[]")


#: Histogram header lines seen, parsed (the same users on the same machines, hour after hour).
_HEADERS: dict[bytes, SectionHeader | None] = {}
_HEADERS_KEPT = 100_000


def _header(raw: bytes) -> SectionHeader | None:
    if len(_HEADERS) >= _HEADERS_KEPT:
        _HEADERS.clear()
    header = _HEADERS[raw] = parse_section(raw)
    return header


def _sum_new(buckets: defaultdict[int, int], found: list[tuple[bytes, bytes]]) -> bool:
    """Fill the empty ``buckets`` with the (label, count) pairs ``found`` when their labels
    are known, valid and distinct (the common case: one loop in C per step); False, with
    ``buckets`` left empty, when they are not."""
    labels, digits = zip(*found, strict=True)
    try:
        indexes = list(map(_LABELS.__getitem__, labels))
    except KeyError:
        return False
    if -1 in indexes:
        return False
    counts = list(map(int, digits))
    buckets.update(zip(indexes, counts, strict=True))
    if len(buckets) != len(indexes):  # a label twice: its counts add up
        buckets.clear()
        return False
    if 0 in counts:  # a bucket with no operations is not kept
        for index in [k for k, v in buckets.items() if not v]:
            del buckets[index]
    return True


class _Reading:
    """The state of reading one file: the block being read, the histogram its bucket lines
    go to, the block's rejects and digest.

    :meth:`line` takes any line the way the format says. :meth:`chunk` takes many lines at
    once and does the same faster: runs of bucket lines are matched and summed by two regular
    expressions over the whole run, histogram headers are parsed in place, and every other
    line (block headers, blank, malformed or unusable lines) goes to :meth:`line`. The
    digest covers the block's text from its header line on, as :meth:`line` feeds it.
    """

    #: Whether :meth:`chunk` takes the fast way (tests compare it with the line-by-line one).
    fast: ClassVar[bool] = True

    def __init__(self, skipped: Any, name: str, source: str, number: int) -> None:
        self.skipped = skipped
        self.name = name
        self.source = source
        self.number = number  # the last line read
        self.block: IoBlock | None = None
        self.buckets: defaultdict[int, int] | None = None
        self.rejects: list[Reject] = []
        self.hasher = hashlib.blake2b(digest_size=8)
        #: Where reading stopped at a block written after the file was looked at.
        self.stopped_at: int | None = None

    def chunk(self, text: bytes, at: int, size: int) -> Iterator[Any]:
        """The items of the lines of ``text`` read at ``at``: ``text[0]`` is the newline
        that ends the line before them; the last line may be partial."""
        headers = _HEADERS
        find_buckets = _BUCKETS.findall
        next_other = _NOT_BUCKET.search
        view = memoryview(text)
        pos, n = 1, len(text)
        complete = text.rfind(b"\n") + 1  # where a partial last line starts (or n)
        hashed = pos  # text[hashed:pos] is still to be added to the digest
        fast = self.fast
        while pos < n:
            first = text[pos]
            if fast and first == 91 and self.buckets is not None:  # "[": bucket lines
                other = next_other(text, pos)
                end = min(other.start() + 1 if other else n, complete)
                lines = text.count(b"\n", pos, end)
                found = find_buckets(text, pos - 1, end)
                if lines and len(found) == lines:  # every line has the usual shape
                    buckets = self.buckets
                    if not buckets and _sum_new(buckets, found):
                        self.number += lines
                        pos = end
                        continue
                    taken = 0
                    for label, digits in found:
                        index = _label_index(label)
                        if index < 0:
                            break
                        taken += 1
                        count = int(digits)
                        if count:
                            buckets[index] += count
                    self.number += taken
                    if taken == lines:
                        pos = end
                        continue
                    for _ in range(taken):  # the line with the unusable label goes below
                        pos = text.index(b"\n", pos) + 1
            elif fast and first == 64 and self.block is not None:  # "@": a histogram header
                eol = text.find(b"\n", pos) + 1 or n
                raw = text[pos:eol]
                header = headers.get(raw)
                if header is None:
                    header = _header(raw)
                if header is not None:
                    self.number += 1
                    self.buckets = self._histogram(header)
                    pos = eol
                    continue
            eol = text.find(b"\n", pos) + 1 or n
            self.hasher.update(view[hashed:pos])
            yield from self.line(text[pos:eol], at + pos, size)
            if self.stopped_at is not None:
                return
            pos = hashed = eol
        self.hasher.update(view[hashed:n])

    def line(self, raw: bytes, here: int, size: int) -> Iterator[Any]:
        """The items of one line ``raw`` read at ``here``."""
        self.number += 1
        number = self.number
        first = raw[0]
        if first != 76:  # not "L": part of the current block's text
            self.hasher.update(raw)
        if first == 91:  # "["
            m = BUCKET_FAST.match(raw)
            if m is not None and self.buckets is not None:
                index = _label_index(m[1])
                if index >= 0:
                    count = int(m[2])
                    if count:
                        self.buckets[index] += count
                    return
            reason = _bucket_problem(raw, self.buckets)
            if reason and self.block is not None:
                self.rejects.append(_reject(self.name, number, reason, raw))
            return
        if first == 64:  # "@"
            if self.block is None:
                self.skipped["lines before the first block"] += 1
                return
            header = parse_section(raw)
            if header is None:
                self.rejects.append(_reject(self.name, number, "unreadable histogram header", raw))
                self.buckets = None
                return
            self.buckets = self._histogram(header)
            return
        if first == 76 and not raw.startswith(b"Log:"):
            self.hasher.update(raw)
        elif first == 76:  # "Log:": a new block
            if here >= size:
                self.stopped_at = here + len(raw)  # written after the file was looked at
                return
            m = LOG.match(raw)
            if m is None:
                self.rejects.append(_reject(self.name, number, "unreadable block header", raw))
                return
            if self.block is not None:
                self.block.digest = _signed(self.hasher)
                yield from self.rejects
                yield self.block, here, number - 1
            self.rejects, self.buckets = [], None
            self.hasher = hashlib.blake2b(raw, digest_size=8)
            self.block = IoBlock(self.source, int(m[2]), m[1].decode(errors="replace"),
                                 self.name, number)  # fmt: skip
            return
        if not raw.strip():
            return
        if self.block is None:
            self.skipped["lines before the first block"] += 1
            return
        self.rejects.append(_reject(self.name, number, _NOT_A_LINE, raw))

    def _histogram(self, header: SectionHeader) -> defaultdict[int, int]:
        assert self.block is not None
        key = (header.direction, header.machine, header.user)
        section = self.block.sections.get(key)
        if section is None:
            section = self.block.sections[key] = Section(header)
        return section.buckets
