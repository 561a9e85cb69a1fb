"""The reader process: batches arrive in order, and it runs ahead of the writer by at most
the queue's depth."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator

import pytest

from meterbook.errors import FatalSourceError
from meterbook.pipeline import can_fork, parallel_batches

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs fork and two cores")

_context = multiprocessing.get_context("fork")


def _made_when_idle(depth: int, produced: object) -> int:
    """Take one batch, then wait until the reader stops making more; how many it made."""
    batches = parallel_batches(lambda: _count(produced, 40), depth=depth)
    assert next(batches) == 0
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < 1.0:  # one second without a new batch: it waits
        now = produced.value  # type: ignore[attr-defined]
        if now != seen:
            seen, since = now, time.monotonic()
        time.sleep(0.02)
    rest = list(batches)
    assert rest == list(range(1, 40))  # nothing lost or reordered while it waited
    return int(seen)


def _count(produced: object, n: int) -> Iterator[int]:
    for i in range(n):
        with produced.get_lock():  # type: ignore[attr-defined]
            produced.value += 1  # type: ignore[attr-defined]
        yield i


@pytest.mark.parametrize("depth", [2, 8])
def test_the_reader_runs_ahead_by_the_queue_depth_and_no_further(depth: int) -> None:
    produced = _context.Value("i", 0)
    made = _made_when_idle(depth, produced)
    # One batch taken, ``depth`` waiting in the queue, one more made and waiting to be put.
    assert depth + 1 <= made <= depth + 2


def test_an_error_in_the_reader_reaches_the_writer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise FatalSourceError("the source went away")

    with pytest.raises(FatalSourceError, match="went away"):
        list(parallel_batches(failing, depth=4))
