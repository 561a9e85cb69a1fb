"""Vectorised parsing helpers: pyarrow compute over a block of lines, rejects kept per line.

Values that repeat (states, TRES strings, time limits) are parsed once per distinct value with
the same scalar parsers the row code uses; values that do not (timestamps, numbers) are parsed
by pyarrow kernels. Every failure is recorded against its row with a reason naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, tzinfo
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from meterbook.connectors.base import FieldError, Reject

T = TypeVar("T")
_NO_TIME = pa.array(["", "unknown", "none", "n/a"])
_INTEGER = r"^-?\d+$"


class Problems:
    """The first problem of each row of a block, by row position."""

    def __init__(self) -> None:
        self.reasons: dict[int, str] = {}

    def add(self, mask: pa.Array, reason: Callable[[int], str]) -> None:
        """Record ``reason(row)`` for each row where ``mask`` is true (nulls count as false)."""
        if not pc.any(mask).as_py():
            return
        for row in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            if row not in self.reasons:
                self.reasons[row] = reason(row)

    def forget(self, mask: pa.Array) -> None:
        """Drop the problems of rows where ``mask`` is true (rows skipped on purpose)."""
        for row in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            self.reasons.pop(row, None)

    def add_row(self, row: int, reason: str) -> None:
        self.reasons.setdefault(row, reason)

    def rejects(self, file: str, numbers: Sequence[int], lines: Sequence[str]) -> list[Reject]:
        return [Reject(file, numbers[i], why, lines[i]) for i, why in sorted(self.reasons.items())]

    def keep_mask(self, length: int) -> pa.Array:
        """True for rows without a problem."""
        keep = [True] * length
        for row in self.reasons:
            keep[row] = False
        return pa.array(keep, pa.bool_())


def blank_to_null(column: pa.Array) -> pa.Array:
    """Empty strings become nulls."""
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def integers(column: pa.Array, name: str, problems: Problems) -> pa.Array:
    """Decimal integers (empty: null); anything else is a problem."""
    text = blank_to_null(column)
    valid = pc.match_substring_regex(text, _INTEGER)
    problems.add(
        pc.and_(pc.is_valid(text), pc.invert(valid)),
        lambda i: f"{name}: not an integer: {column[i].as_py()!r}",
    )
    return pc.cast(pc.if_else(valid, text, pa.scalar(None, pa.string())), pa.int64())


def times(
    column: pa.Array,
    name: str,
    zone: tzinfo,
    problems: Problems,
    fallback: Callable[[str, tzinfo], float | None],
) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS`` in ``zone`` as UTC epoch seconds (float64).

    ``Unknown``, ``None`` and empty are null. Other spellings go through ``fallback`` (the scalar
    parser, which raises :class:`FieldError`); what it refuses is a problem.
    """
    absent = pc.is_in(pc.utf8_lower(column), value_set=_NO_TIME)
    stamps = pc.strptime(column, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    if zone is not UTC:
        stamps = pc.assume_timezone(
            stamps, timezone=str(zone), ambiguous="earliest", nonexistent="earliest"
        )
    seconds = pc.cast(pc.cast(stamps, pa.int64()), pa.float64())
    odd = pc.and_(pc.invert(absent), pc.is_null(stamps))
    if not pc.any(odd).as_py():
        return seconds
    values = seconds.to_pylist()
    for row in pc.indices_nonzero(odd).to_pylist():
        text = column[row].as_py()
        try:
            values[row] = fallback(text, zone)
        except FieldError as exc:
            problems.add_row(row, f"{name}: {exc}")
    return pa.array(values, pa.float64())


def per_value(
    column: pa.Array, name: str, parse: Callable[[str], T | None], problems: Problems
) -> tuple[list[T | None], pa.Array]:
    """Parse each distinct value once: ``(results by distinct value, index of each row's)``.

    A value that raises :class:`FieldError` yields None and a problem on each of its rows.
    """
    distinct = pc.unique(column)
    results: list[T | None] = []
    errors: dict[int, str] = {}
    for j, text in enumerate(distinct.to_pylist()):
        try:
            results.append(parse(text))
        except FieldError as exc:
            results.append(None)
            errors[j] = f"{name}: {exc}"
    index = pc.index_in(column, value_set=distinct)
    if errors:
        bad = pc.is_in(index, value_set=pa.array(list(errors), pa.int32()))
        problems.add(bad, lambda i: errors[index[i].as_py()])
    return results, index


def pick(
    results: Sequence[Any], index: pa.Array, position: int | None, kind: pa.DataType
) -> pa.Array:
    """Column of ``results[index[row]][position]`` (or the whole result when position is None)."""
    values = [None if r is None else (r if position is None else r[position]) for r in results]
    return pc.take(pa.array(values, kind), index)
