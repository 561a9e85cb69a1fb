"""The reader process: batches arrive in order, and it runs ahead of the writer by at most
the queue's depth; an import process does without pandas."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from collections.abc import Iterator
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import pytest

from meterbook.errors import FatalSourceError
from meterbook.pipeline import can_fork, parallel_batches
from meterbook.samples import slurm as slurm_sample

needs_fork = pytest.mark.skipif(not can_fork(), reason="needs fork and two cores")

_context = multiprocessing.get_context("fork")


def _made_when_idle(depth: int, produced: Synchronized[int]) -> int:
    """Take one batch, then wait until the reader stops making more; how many it made."""
    batches = parallel_batches(lambda: _count(produced, 40), depth=depth)
    assert next(batches) == 0
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < 1.0:  # one second without a new batch: it waits
        now = produced.value
        if now != seen:
            seen, since = now, time.monotonic()
        time.sleep(0.02)
    rest = list(batches)
    assert rest == list(range(1, 40))  # nothing lost or reordered while it waited
    return int(seen)


def _count(produced: Synchronized[int], n: int) -> Iterator[int]:
    for i in range(n):
        with produced.get_lock():
            produced.value += 1
        yield i


@needs_fork
@pytest.mark.parametrize("depth", [2, 8])
def test_the_reader_runs_ahead_by_the_queue_depth_and_no_further(depth: int) -> None:
    produced = _context.Value("i", 0)
    made = _made_when_idle(depth, produced)
    # One batch taken, ``depth`` waiting in the queue, one more made and waiting to be put.
    assert depth + 1 <= made <= depth + 2


@needs_fork
def test_an_error_in_the_reader_reaches_the_writer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise FatalSourceError("the source went away")

    with pytest.raises(FatalSourceError, match="went away"):
        list(parallel_batches(failing, depth=4))


_WITHOUT_PANDAS = """
import sys
from meterbook.cli import main
main(sys.argv[1:])
loaded = "pandas" in sys.modules
import pandas  # still importable for anyone who asks
print("pandas loaded by the import:", loaded)
"""


def test_an_import_command_does_not_load_pandas(tmp_path: Path) -> None:
    """pyarrow would load pandas (47 MB) on its first Python list; an import never needs it."""
    log = tmp_path / "jobs.log"
    with log.open("w") as out:
        slurm_sample.write(out, 300)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    run = [sys.executable, "-c", _WITHOUT_PANDAS, "--db", url]
    subprocess.run([*run, "db", "upgrade"], check=True, capture_output=True, cwd=tmp_path)
    done = subprocess.run(
        [*run, "import", "slurm", str(log), "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert '"inserted": 300' in done.stdout
    assert "pandas loaded by the import: False" in done.stdout
    # The same program without the import command's choice does load it (the check can fail).
    plain = subprocess.run(
        [sys.executable, "-c", "import sys, pyarrow as pa; pa.array([1]); "
         "print('pandas' in sys.modules)"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert plain.stdout.strip() == "True"
