"""The scalar parsers of sacct values."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterbook.connectors.base import FieldError
from meterbook.connectors.slurm.parse import (
    expand_hostlist,
    gpus_from_tres,
    parse_duration,
    parse_mem_gb,
    parse_reqmem,
    parse_state,
    parse_time,
    parse_timelimit,
    parse_tres,
    summarize_tres,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5-00:00:26", 432026),
        ("10-13:27:06", 912426),
        ("00:00:24", 24),
        ("30:00", 1800),
        ("01:02:03", 3723),
        ("00:01.500", 1.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@given(st.integers(0, 400), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_duration_round_trip(d: int, h: int, m: int, s: int) -> None:
    text = f"{d}-{h:02d}:{m:02d}:{s:02d}" if d else f"{h:02d}:{m:02d}:{s:02d}"
    assert parse_duration(text) == d * 86400 + h * 3600 + m * 60 + s


@pytest.mark.parametrize("text", ["abc", "1-2", "12:", "-1:00:00"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(FieldError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Partition_Limit", None),
        ("UNLIMITED", None),
        ("", None),
        ("5-00:00:00", 432000),
        ("10", 600),
        ("37-14:00:00", 3247200),
    ],
)
def test_time_limits(text: str, seconds: int | None) -> None:
    assert parse_timelimit(text) == seconds


def test_states() -> None:
    assert parse_state("CANCELLED by 380693") == ("CANCELLED", "by 380693")
    assert parse_state("COMPLETED") == ("COMPLETED", None)
    assert parse_state("CANCELLED+") == ("CANCELLED", None)
    assert parse_state("OUT_OF_MEMORY") == ("OUT_OF_MEMORY", None)
    assert parse_state("CD") == ("COMPLETED", None)
    for bad in ("", "hello", "COMPLETED soon", "cancelled by me"):
        with pytest.raises(FieldError):
            parse_state(bad)


def test_times_utc_and_local() -> None:
    assert parse_time("2016-12-22T07:15:13", UTC) == datetime(2016, 12, 22, 7, 15, 13, tzinfo=UTC)
    assert parse_time("Unknown", UTC) is None
    assert parse_time("None", UTC) is None
    berlin = ZoneInfo("Europe/Berlin")
    # Summer time: UTC+2.
    assert parse_time("2024-07-01T12:00:00", berlin) == datetime(2024, 7, 1, 10, tzinfo=UTC)
    with pytest.raises(FieldError, match="invalid time"):
        parse_time("yesterday", UTC)


def test_memory_sizes() -> None:
    assert parse_mem_gb("62.50G") == 62.5
    assert parse_mem_gb("31000M") == pytest.approx(31000 / 1024)
    assert parse_mem_gb("1T") == 1024
    assert parse_mem_gb("2048K") == pytest.approx(2048 / 1024**2)
    with pytest.raises(FieldError):
        parse_mem_gb("12Q")


def test_reqmem_scopes_and_the_old_per_cpu_flag() -> None:
    assert parse_reqmem("8000Mn") == (pytest.approx(8000 / 1024), "n")
    assert parse_reqmem("3000Mc") == (pytest.approx(3000 / 1024), "c")
    assert parse_reqmem("4Gc") == (4.0, "c")
    # 2147486648 = 2**31 + 3000: Slurm's old "per CPU" bit on a value of 3000 MB.
    assert parse_reqmem("2147486648Mn") == (pytest.approx(3000 / 1024), "c")
    assert parse_reqmem("") is None
    assert parse_reqmem("0") is None
    with pytest.raises(FieldError):
        parse_reqmem("lotsMn")


def test_tres_and_gpus() -> None:
    tres = parse_tres("billing=64,cpu=64,gres/gpu=2,mem=62.50G,node=8")
    assert tres["cpu"] == "64"
    assert gpus_from_tres(tres) == (2, None)
    # Typed and untyped together: the untyped entry is the total, not added again.
    assert gpus_from_tres(parse_tres("cpu=8,gres/gpu:a100=4,gres/gpu=4")) == (4, "a100")
    # Typed only: the typed entries add up.
    assert gpus_from_tres(parse_tres("gres/gpu:a100=2,gres/gpu:v100=1")) == (3, "a100,v100")
    assert summarize_tres("billing=64,cpu=64,mem=62.50G,node=8") == (64, 8, None, None, 62.5)
    with pytest.raises(FieldError):
        parse_tres("cpu")


def test_hostlists() -> None:
    assert expand_hostlist("cpn-f13-03-[01-02],cpn-f13-04-[01-02]") == [
        "cpn-f13-03-01",
        "cpn-f13-03-02",
        "cpn-f13-04-01",
        "cpn-f13-04-02",
    ]
    assert expand_hostlist("gpu[7,09-10]") == ["gpu7", "gpu09", "gpu10"]
    assert expand_hostlist("None assigned") == []
    assert expand_hostlist("node1") == ["node1"]
    with pytest.raises(FieldError):
        expand_hostlist("n[a-b]")


@given(st.text("abcxyz-", min_size=1, max_size=6), st.integers(0, 500), st.integers(0, 40))
def test_hostlist_ranges_count(prefix: str, low: int, span: int) -> None:
    hosts = expand_hostlist(f"{prefix}[{low:03d}-{low + span:03d}]")
    assert len(hosts) == span + 1
    assert hosts[0] == f"{prefix}{low:03d}"
