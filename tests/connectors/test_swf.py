"""The SWF connector."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from meterbook.connectors.base import Reject, UsageRecord
from meterbook.connectors.swf import SwfConnector
from meterbook.errors import InputError
from tests.conftest import shared

HEADER = """; Version: 2.2
; Computer: Test Cluster
; UnixStartTime: 1000000000
; TimeZoneString: US/Pacific
; MaxProcs: 64
; Queue: 0 interactive
; Queue: 1 batch
"""


def items(path: Path, **options: object) -> tuple[list[UsageRecord], list[Reject]]:
    connector = SwfConnector([str(path)], **options)  # type: ignore[arg-type]
    records, rejects = [], []
    for item in connector.items():
        (rejects if isinstance(item, Reject) else records).append(item)
    return records, rejects  # type: ignore[return-value]


def test_fields_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "tiny.swf"
    path.write_text(
        HEADER
        + "\n".join(
            [
                "1 0 60 3600 32 -1 1024 32 7200 -1 1 7 2 -1 1 -1 -1 -1",
                "2 100 -1 60 1 -1 -1 1 -1 -1 0 8 2 -1 0 -1 -1 -1",
                "3 200 10 -1 4 -1 -1 4 -1 -1 5 8 2 -1 1 -1 -1 -1",
                "4 300 0 10 128 -1 -1 128 -1 -1 1 8 2 -1 1 -1 -1 -1",
                "5 300 0 10",
                "6 x 0 10 1 -1 -1 1 -1 -1 1 8 2 -1 1 -1 -1 -1",
            ]
        )
        + "\n"
    )
    records, rejects = items(path)
    first, second, third = records
    assert first.key == "1" and first.source == "tiny" and first.resource == "Test Cluster"
    assert first.submit == datetime.fromtimestamp(1_000_000_000, UTC)
    assert first.start == datetime.fromtimestamp(1_000_000_060, UTC)
    assert (first.end - first.start).total_seconds() == 3600  # type: ignore[operator]
    assert (first.cpus, first.user, first.project, first.partition, first.state) == (
        32,
        "u7",
        "g2",
        "batch",
        "COMPLETED",
    )
    assert first.mem_gb == pytest.approx(1024 * 32 / 1024**2)
    assert first.timelimit_s == 7200
    # No wait time: the submit time given is the start, so there is no submit time.
    assert second.submit is None and second.start is not None and second.state == "FAILED"
    # No run time: no start, no end.
    assert third.start is None and third.end is None and third.state == "CANCELLED"
    assert [(r.line, r.reason) for r in rejects] == [
        (11, "128 allocated processors exceed MaxProcs 64"),
        (12, "expected 18 fields, found 4"),
        (13, "not an integer: 'x'"),
    ]


def test_prefix_and_names(tmp_path: Path) -> None:
    path = tmp_path / "a.swf"
    path.write_text(HEADER + "1 0 0 10 1 -1 -1 1 -1 -1 1 3 1 -1 -1 -1 -1 -1\n")
    records, _ = items(path, trace="ctc", cluster="ctc-sp2", prefix="ctc-")
    assert (records[0].source, records[0].resource, records[0].user) == ("ctc", "ctc-sp2", "ctc-u3")


def test_needs_unix_start_time(tmp_path: Path) -> None:
    path = tmp_path / "b.swf"
    path.write_text("; Computer: X\n1 0 0 10 1 -1 -1 1 -1 -1 1 3 1 -1 -1 -1 -1 -1\n")
    with pytest.raises(InputError, match="UnixStartTime"):
        items(path)


def test_the_nasa_trace() -> None:
    records, rejects = items(shared("swf", "NASA-iPSC-1993-3.1-cln.swf.gz"))
    assert len(records) == 18239 and not rejects
    assert {r.resource for r in records} == {"Intel iPSC/860"}
    assert {r.partition for r in records} <= {"interactive", "batch", None}
