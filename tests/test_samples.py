"""The sample generator: exact size, reproducible, and as varied as real sacct output."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

import pyarrow as pa

from meterbook.connectors.base import RecordBatch
from meterbook.connectors.slurm import SlurmConnector
from meterbook.samples import slurm as sample


def test_exact_size_and_reproducible() -> None:
    lines = list(sample.generate(4000, seed=11))
    assert len(lines) == 4000
    assert lines == list(sample.generate(4000, seed=11))
    assert lines != list(sample.generate(4000, seed=12))


def test_it_looks_like_a_cluster(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.log"
    with path.open("w") as out:
        sample.write(out, 6000)
    fields = [line.split("|") for line in path.read_text().splitlines()]
    assert {len(f) for f in fields} == {26}
    states = Counter(f[16].split()[0] for f in fields)
    assert {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"} <= set(states)
    assert any("_" in f[0] for f in fields), "job arrays"
    assert any(f[12] == "Unknown" for f in fields), "jobs that never started"
    assert any("gres/gpu:a100" in f[22] for f in fields), "typed GPUs"
    assert any(f[20].endswith("Mc") for f in fields) and any(f[20].endswith("Mn") for f in fields)
    raw = Counter(f[1] for f in fields)
    requeued = [j for j, n in raw.items() if n > 1]
    assert requeued, "requeued jobs listed twice"
    months = Counter(f[10][:7] for f in fields)
    assert set(months) == {"2026-08", "2026-09", "2026-10"}
    assert min(months.values()) > 1500
    # Every generated line imports; requeued runs stay separate records.
    tables = [
        i.table for i in SlurmConnector([str(path)], zone=UTC).items() if isinstance(i, RecordBatch)
    ]
    keys = pa.concat_tables(tables)["key"].to_pylist()
    assert len(keys) == len(set(keys)) == 6000


def test_io_logs_look_like_a_file_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from meterbook.connectors.iolog import IoBlock, IoLogConnector
    from meterbook.samples import iolog

    files = iolog.write_files(tmp_path, 24 * 15, users=80, machines=10, rotate_days=7)
    assert [f.name for f in files] == [
        "nfsdiostats-2025-01-01.log",
        "nfsdiostats-2025-01-08.log",
        "nfsdiostats-2025-01-15.log",
    ]
    assert list(iolog.blocks(5, seed=3)) == list(iolog.blocks(5, seed=3))
    blocks = [
        b for b in IoLogConnector([str(tmp_path)], settle=0).items() if isinstance(b, IoBlock)
    ]
    assert len(blocks) == 24 * 15
    sections = [s for b in blocks for s in b.sections.values()]
    roles = {s.header.role for s in sections}
    assert roles <= {"stud", "staff", "guest", "ueb"} and len(roles) >= 3
    assert {s.header.direction for s in sections} == {0, 1}
    sizes = {k for s in sections for k in s.buckets}
    assert {0, 1} & sizes and max(sizes) >= 25  # tiny requests and large ones
    busy = [len(b.sections) for b in blocks]
    assert max(busy) > 3 * (min(busy) + 1)  # working hours and nights
