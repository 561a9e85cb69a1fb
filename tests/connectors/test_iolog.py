"""The IO-log connector: the format, rejects, incremental reading, complete blocks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterbook.connectors.base import FieldError, Reject
from meterbook.connectors.iolog import FileState, IoBlock, IoLogConnector, source_name
from meterbook.connectors.iolog.parse import bucket_label, bucket_low, bucket_of, parse_section
from tests.conftest import DATA

SMALL = DATA / "nfsdiostats-small.log"


def read(
    paths: list[Path], **options: object
) -> tuple[list[IoBlock], list[Reject], list[FileState]]:
    options.setdefault("settle", 0)
    connector = IoLogConnector([str(p) for p in paths], **options)  # type: ignore[arg-type]
    blocks, rejects, states = [], [], []
    for item in connector.items():
        if isinstance(item, IoBlock):
            blocks.append(item)
        elif isinstance(item, Reject):
            rejects.append(item)
        else:
            states.append(item)
    return blocks, rejects, states


def test_buckets() -> None:
    assert bucket_of(b"0", b"", None, None) == 0
    assert bucket_of(b"1", b"", None, None) == 1
    assert bucket_of(b"2", b"", b"4", b"") == 2
    assert bucket_of(b"16", b"K", b"32", b"K") == 15
    assert bucket_of(b"512", b"K", b"1", b"M") == 20
    assert bucket_of(b"8", b"T", b"16", b"T") == 44
    for bad in ((b"3", b"K", b"6", b"K"), (b"2", b"", None, None), (b"16", b"T", b"32", b"T")):
        with pytest.raises(FieldError):
            bucket_of(*bad)
    assert bucket_label(15) == "[16K, 32K)" and bucket_label(0) == "[0]"
    assert bucket_low(15) == 16 * 1024 and bucket_low(1) == 1 and bucket_low(0) == 0


@given(st.integers(2, 44))
def test_labels_round_trip(index: int) -> None:
    label = bucket_label(index).encode()
    low, high = label[1:-1].split(b", ")
    unit = {b"K": b"K", b"M": b"M", b"G": b"G", b"T": b"T"}
    split = [(v[:-1], unit[v[-1:]]) if v[-1:] in unit else (v, b"") for v in (low, high)]
    assert bucket_of(split[0][0], split[0][1], split[1][0], split[1][1]) == index


def test_section_headers() -> None:
    header = parse_section(b"@wr_client(login-a11,itet)[bob_2(stud/tik)]:\n")
    assert header is not None
    assert (
        header.direction,
        header.machine,
        header.group,
        header.user,
        header.role,
        header.affiliation,
    ) == (1, "login-a11", "itet", "bob_2", "stud", "tik")
    assert parse_section(b"@xx_client(a,b)[c(d/e)]:") is None


def test_the_small_log() -> None:
    blocks, rejects, states = read([SMALL])
    assert [b.epoch for b in blocks] == [1741305669, 1741309270, 1741312868]
    first = blocks[0]
    assert first.logged_at == "2025-03-07 01:01:09" and first.line == 2
    carol = first.sections[(1, "gpu10", "carol")]
    assert dict(carol.buckets) == {0: 4, 1: 2, 2: 19, 21: 129624}
    bob = first.sections[(0, "login-a11", "bob")]
    assert dict(bob.buckets) == {18: 1, 21: 3} and bob.header.group == "itet"
    alice = blocks[1].sections[(1, "gpu03", "alice")]
    assert dict(alice.buckets) == {44: 1}  # the T suffix is 2**40 bytes, not 0
    assert blocks[1].sections[(0, "gpu03", "alice")].header.role == "staff"
    assert [(r.line, r.reason) for r in rejects] == [
        (20, "bucket [3072, 6144) is not a power-of-two range"),
        (23, "not a block header, histogram header or bucket"),
    ]
    assert states[-1].complete and states[-1].offset == SMALL.stat().st_size
    assert len({b.digest for b in blocks}) == 3


def test_source_names() -> None:
    assert source_name("/x/nfsdiostats.log") == "nfsdiostats"
    assert source_name("nfsdiostats.log.1") == "nfsdiostats"
    assert source_name("nfsdiostats-2025-03-07.log") == "nfsdiostats"
    assert source_name("nfsdiostats_20250307.log") == "nfsdiostats"


def test_the_last_block_waits_until_it_settles(tmp_path: Path) -> None:
    path = tmp_path / "live.log"
    path.write_bytes(SMALL.read_bytes())
    blocks, _, states = read([path], settle=3600)
    assert [b.epoch for b in blocks] == [1741305669, 1741309270]
    assert not states[-1].complete and states[-1].last_block_ts == 1741309270
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert len(read([path], settle=3600)[0]) == 3


def test_a_half_written_line_is_left_for_later(tmp_path: Path) -> None:
    path = tmp_path / "cut.log"
    path.write_bytes(SMALL.read_bytes().rstrip(b"\n")[:-10])
    blocks, rejects, states = read([path])
    assert len(blocks) == 2 and states[-1].offset < path.stat().st_size
    assert [r.line for r in rejects] == [20, 23]


def test_reading_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "grow.log"
    text = SMALL.read_bytes()
    cut = text.index(b"Log: 2025-03-07 03")
    path.write_bytes(text[:cut])
    blocks, _, states = read([path])
    assert len(blocks) == 2
    path.write_bytes(text)
    more, rejects, _ = read([path], known={str(path.resolve()): states[-1]})
    assert [b.epoch for b in more] == [1741312868] and more[0].line == 24
    assert rejects == []


def test_rotation_and_truncation_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "rot.log"
    path.write_bytes(SMALL.read_bytes())
    _, _, states = read([path])
    known = {str(path.resolve()): states[-1]}
    # Truncated and rewritten with one new block: read again from the start.
    path.write_bytes(
        b"Log: 2025-03-08 01:01:09 (1741392069)\n@rd_client(a,b)[c(d/e)]:\n[1K, 2K) 7 |@|\n"
    )
    connector = IoLogConnector([str(path)], settle=0, known=known)
    blocks = [i for i in connector.items() if isinstance(i, IoBlock)]
    assert [b.epoch for b in blocks] == [1741392069]
    assert connector.skipped["rotated or truncated files read from the start"] == 1


def test_a_directory_in_time_order(tmp_path: Path) -> None:
    text = SMALL.read_text()
    first, second = text.split("Log: 2025-03-07 03")
    (tmp_path / "b-old.log").write_text(first)
    (tmp_path / "a-new.log").write_text("Log: 2025-03-07 03" + second)
    (tmp_path / "notes.txt").write_text("ignored")
    blocks, _, _ = read([tmp_path])
    assert [b.epoch for b in blocks] == [1741305669, 1741309270, 1741312868]


#: Lines of every kind the reader meets: good ones, padded ones, and each kind of bad one.
_LINES = [
    "Log: 2025-03-07 01:01:09 (1741305669)",
    "Log: 2025-03-07 02:01:09 (1741309269)",
    "Log: broken header",
    "Lorem: not a header",
    "@rd_client(gpu03,tik)[alice(guest/tik)]:",
    "@wr_client(gpu03,tik)[alice(guest/tik)]:",
    "@rd_client(cpu1,hpc)[bob(staff/hpc)]:",
    "@rd_client(bad header",
    "[0]                    4 |@                                                   |",
    "[1]  7",
    "[16K, 32K)             1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|",
    "[1M, 2M)   0 |   |",
    "[2, 4)   12   ",
    "[3K, 6K)   2 |@|",
    "[2]   1",
    "[16T, 32T)   1",
    "[2, 4) 5 |x] 6 z",
    "[2, 4) oops",
    "",
    "   ",
    "garbage line",
]


@given(st.lists(st.sampled_from(_LINES), max_size=60), st.booleans(),
       st.sampled_from([1, 7, 64, 1 << 22]))  # fmt: skip
def test_the_fast_reader_reads_as_the_line_by_line_one(
    lines: list[str], final_newline: bool, chunk: int
) -> None:
    import tempfile

    import meterbook.connectors.iolog as module

    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mixed.log"
        path.write_text(text)
        old_chunk, old_fast = module._CHUNK, module._Reading.fast
        try:
            module._Reading.fast, module._CHUNK = False, 1 << 22
            expected = read([path])
            module._Reading.fast, module._CHUNK = True, chunk
            assert read([path]) == expected
        finally:
            module._CHUNK, module._Reading.fast = old_chunk, old_fast


@given(st.lists(st.tuples(st.sampled_from(["ann", "bob", "cy"]), st.sampled_from(["m1", "m2"]),
                          st.integers(0, 1),
                          st.dictionaries(st.integers(0, 44), st.one_of(st.integers(1, 10**6),
                                                                        st.integers(1, 2**62)),
                                          max_size=6)),
                max_size=12))  # fmt: skip
def test_prepared_blocks_count_exactly(
    histograms: list[tuple[str, str, int, dict[int, int]]],
) -> None:
    """Operations and bytes are exact integers, even where 64 bits would overflow."""
    from meterbook.connectors.iolog import Section
    from meterbook.connectors.iolog.parse import SectionHeader
    from meterbook.ioledger import prepare_block

    block = IoBlock("s", 1741305669, "2025-03-07 01:01:09", "f.log", 1)
    for user, machine, direction, counts in histograms:
        header = SectionHeader(direction, machine, "g", user, "staff", "phys")
        section = block.sections.setdefault((direction, machine, user), Section(header))
        section.buckets.update(counts)
    prepared = prepare_block(block)
    expected = {(d, m, u): (sum(s.buckets.values()),
                            sum(c * bucket_low(i) for i, c in s.buckets.items()))
                for (d, m, u), s in block.sections.items()}  # fmt: skip
    got = {(r[2], r[1], r[0]): (r[6], r[7]) for r in prepared.sessions}
    assert got == expected
    assert prepared.buckets.tolist() == [
        [s.buckets.get(i, 0) for i in range(45)] for s in block.sections.values()
    ]
    for user, (machines, read_ops, write_ops, read_bytes, write_bytes, _) in prepared.users.items():
        mine = {k: v for k, v in expected.items() if k[2] == user}
        assert machines == len({k[1] for k in mine})
        assert (read_ops, write_ops) == tuple(sum(v[0] for k, v in mine.items() if k[0] == d)
                                              for d in (0, 1))  # fmt: skip
        assert (read_bytes, write_bytes) == tuple(sum(v[1] for k, v in mine.items() if k[0] == d)
                                                  for d in (0, 1))  # fmt: skip
