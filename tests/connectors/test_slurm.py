"""The Slurm connector: both layouts, every quirk, rejects with line numbers."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from meterbook.connectors.base import RecordBatch, Reject
from meterbook.connectors.slurm import SlurmConnector
from meterbook.errors import InputError
from tests.conftest import DATA


def read(
    files: list[str], **options: object
) -> tuple[list[dict[str, object]], list[Reject], SlurmConnector]:
    options.setdefault("zone", UTC)
    connector = SlurmConnector(files, **options)  # type: ignore[arg-type]
    tables, rejects = [], []
    for item in connector.items():
        if isinstance(item, RecordBatch):
            tables.append(item.table)
        else:
            assert isinstance(item, Reject)
            rejects.append(item)
    rows = pa.concat_tables(tables).to_pylist() if tables else []
    return rows, rejects, connector


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_xdmod_layout_and_its_quirks() -> None:
    rows, rejects, _ = read([str(DATA / "xdmod-quirks.log")])
    by_key = {r["key"].split("/")[1]: r for r in rows}
    assert sorted(by_key) == ["9001", "9002", "9003", "9004", "9005"]
    first = by_key["9001"]
    assert first["key"] == "2024-03-01T10:00:00/9001"
    assert (first["cpus"], first["nodes"], first["mem_gb"], first["gpus"]) == (64, 2, 250.0, None)
    assert first["user"] == "alice" and first["uid"] == 2001 and first["project"] == "astro"
    assert first["timelimit_s"] == 86400 and first["hosts"] == "cpn-[01-02]"
    gpu = by_key["9002"]
    assert (gpu["gpus"], gpu["gpu_type"], gpu["state"]) == (4, "a100", "TIMEOUT")
    old = by_key["9003"]
    assert (old["gpus"], old["gpu_type"]) == (2, "v100")
    assert old["mem_gb"] == pytest.approx(8 * 3000 / 1024)  # the bit-31 per-CPU flag
    assert old["attrs"] == '{"reqmem":"2147486648Mn"}'  # the raw value is kept
    assert old["timelimit_s"] is None
    never = by_key["9004"]
    assert never["start_ts"] is None and never["hosts"] is None
    assert (never["state"], never["state_reason"]) == ("CANCELLED", "by 2002")
    assert by_key["9005"]["timelimit_s"] == 600
    reasons = {r.line: r.reason for r in rejects}
    assert reasons == {
        6: "expected 26 fields (Open XDMoD 26-field layout), found 19",
        7: "Start: invalid time 'soon'",
        8: "End 2024-03-01T14:00:00 is before Start 2024-03-01T15:00:00",
    }
    assert all(r.raw.startswith("900") for r in rejects)


def test_parsable2_header_steps_local_time() -> None:
    rows, rejects, connector = read(
        [str(DATA / "sacct-parsable2-local.txt")], zone=ZoneInfo("Europe/Berlin"), cluster="lab"
    )
    assert rejects == []
    assert connector.skipped == {"job steps (folded into their job)": 3, "repeated header lines": 1}
    jobs = {r["key"].split("/")[-1]: r for r in rows}
    assert sorted(jobs) == ["501", "503", "504"]
    # 22:00 CET is 21:00 UTC; 05:00 on the night summer time starts is 03:00 UTC.
    assert jobs["501"]["submit_ts"] == ts("2024-03-30T21:00:00")
    assert jobs["501"]["end_ts"] - jobs["501"]["start_ts"] == 5 * 3600
    assert jobs["501"]["source"] == "lab"
    assert jobs["503"]["mem_gb"] == 4.0  # 2G per CPU x 2 CPUs
    assert jobs["504"]["end_ts"] is None and jobs["504"]["state"] == "RUNNING"


def test_header_without_cluster_needs_the_option(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="header lacks Cluster"):
        list(SlurmConnector([str(DATA / "sacct-parsable2-local.txt")], zone=UTC).items())


def test_header_must_name_start_and_end(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("JobID|User|Cluster\n1|a|c\n")
    with pytest.raises(InputError, match="line 1: header lacks start, end"):
        list(SlurmConnector([str(path)], zone=UTC).items())


def test_gzip_and_blank_lines(tmp_path: Path) -> None:
    lines = (DATA / "xdmod-quirks.log").read_text().splitlines()[:2]
    path = tmp_path / "sacct.log.gz"
    with gzip.open(path, "wt") as out:
        out.write(lines[0] + "\n\n" + lines[1] + "\n")
    rows, rejects, connector = read([str(path)])
    assert len(rows) == 2 and not rejects
    assert connector.skipped == {"blank lines": 1}


def test_missing_file_fails_before_reading() -> None:
    with pytest.raises(InputError, match=r"nope\.log: cannot open"):
        SlurmConnector(["nope.log"], zone=UTC)


def test_fingerprint_depends_on_options() -> None:
    utc, _, _ = read([str(DATA / "xdmod-quirks.log")])
    local, _, _ = read([str(DATA / "xdmod-quirks.log")], zone=ZoneInfo("Europe/Berlin"))
    assert utc[0]["fingerprint"] != local[0]["fingerprint"]
    assert utc[0]["start_ts"] - local[0]["start_ts"] == 3600


def test_many_blocks_keep_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import meterbook.connectors.slurm as slurm

    monkeypatch.setattr(slurm, "BLOCK_LINES", 3)
    good = (DATA / "xdmod-quirks.log").read_text().splitlines()[0]
    lines = [good.replace("9001|9001", f"{n}|{n}") for n in range(1, 11)]
    lines[7] = "broken"
    path = tmp_path / "blocks.log"
    path.write_text("\n".join(lines) + "\n")
    rows, rejects, _ = read([str(path)])
    assert len(rows) == 9
    assert [(r.line, r.raw) for r in rejects] == [(8, "broken")]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sacct.txt"
    path.write_text(text)
    return str(path)


def test_alloc_tres_alone_gives_cpus_and_nodes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "JobID|Cluster|User|Account|Submit|Start|End|State|AllocTRES\n"
        "7|c|u|a|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|"
        "cpu=4,mem=8G,node=2\n",
    )
    rows, rejects, _ = read([path])
    assert not rejects
    assert (rows[0]["cpus"], rows[0]["nodes"], rows[0]["mem_gb"]) == (4, 2, 8.0)


def test_unknown_states_and_overlong_names_are_rejected(tmp_path: Path) -> None:
    line = (DATA / "xdmod-quirks.log").read_text().splitlines()[0]
    fields = line.split("|")
    odd_state = fields.copy()
    odd_state[16] = "hello world"
    long_partition = fields.copy()
    long_partition[0] = long_partition[1] = "9100"
    long_partition[3] = ",".join(f"partition{i:02d}" for i in range(20))
    path = write(tmp_path, "|".join(odd_state) + "\n" + "|".join(long_partition) + "\n")
    rows, rejects, _ = read([path])
    assert rows == []
    assert [r.reason for r in rejects] == [
        "State: unknown state 'hello world'",
        "Partition: longer than 120 characters",
    ]


def test_header_must_name_state(tmp_path: Path) -> None:
    path = write(tmp_path, "JobID|Cluster|Start|End|AllocCPUS\n1|c|x|y|1\n")
    with pytest.raises(InputError, match="header lacks state"):
        read([path])


def test_a_byte_order_mark_before_the_header(tmp_path: Path) -> None:
    text = (DATA / "sacct-parsable2-local.txt").read_text()
    rows, rejects, _ = read([write(tmp_path, "\ufeff" + text)], cluster="lab")
    assert len(rows) == 3 and not rejects


def test_the_same_file_in_another_zone_keeps_its_keys() -> None:
    utc, _, _ = read([str(DATA / "xdmod-quirks.log")])
    local, _, _ = read([str(DATA / "xdmod-quirks.log")], zone=ZoneInfo("Europe/Berlin"))
    assert [r["key"] for r in utc] == [r["key"] for r in local]
    with_cluster, _, _ = read([str(DATA / "xdmod-quirks.log")], cluster="aurora")
    assert [r["fingerprint"] for r in with_cluster] == [r["fingerprint"] for r in utc]
