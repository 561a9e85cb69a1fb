"""The pure rating logic: day parts add up to the charge exactly, in any time zone; the
matching rule without a database."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from meterbook.periods import split_seconds
from meterbook.rating import RateBook, RateCard, Version, day_parts, normal_scope, rate_record

ZONES = [UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]


@given(
    start=st.floats(1.6e9, 1.8e9),
    hours=st.floats(0.01, 24 * 40),
    amount=st.decimals("0", "1000000", places=6),
    zone=st.sampled_from(ZONES),
)
def test_day_parts_add_up_and_follow_the_overlap(
    start: float, hours: float, amount: Decimal, zone: object
) -> None:
    record = {"start_ts": start, "end_ts": start + hours * 3600}
    parts = list(day_parts(record, "cpu_hours", [amount], zone))  # type: ignore[arg-type]
    assert sum((p[1][0] for p in parts), Decimal(0)) == amount
    pieces = list(split_seconds(start, start + hours * 3600, zone))  # type: ignore[arg-type]
    assert [p[0] for p in parts] == [p[0] for p in pieces]
    span = record["end_ts"] - record["start_ts"]  # the record's seconds (not hours * 3600,
    # which floating point makes differ from the end minus the start)
    for (_, (value,)), (_, seconds, _) in zip(parts[:-1], pieces, strict=False):
        # Every part but the last is its share, rounded to 6 decimals.
        share = amount * Decimal(seconds) / Decimal(span)
        assert abs(value - share) <= Decimal("0.0000005")


def _card(id_: int, quantity: str, price: str, **scope: str) -> RateCard:
    return RateCard(id_, quantity, normal_scope(scope), "EUR", None,
                    [Version(1, date(2020, 1, 1), Decimal(price))])  # fmt: skip


def test_most_specific_match_and_provider_cost() -> None:
    book = RateBook([
        _card(1, "cpu_hours", "1"),
        _card(2, "cpu_hours", "2", cluster="lab"),
        _card(3, "cpu_hours", "3", cluster="lab", partition="gpu"),
        _card(4, "io_ops", "0.001", environment="prod"),
    ])  # fmt: skip
    base = {"start_ts": 1.7e9, "end_ts": 1.7e9 + 7200, "cpus": 4, "io_ops": 1000,
            "cluster": "lab", "partition": "gpu", "environment": "prod"}  # fmt: skip
    charges = {c.quantity: (c.rate_id, c.units, c.amount) for c in rate_record(book, base, UTC)}
    assert charges == {
        "cpu_hours": (3, Decimal(8), Decimal(24)),
        "io_ops": (4, Decimal(1000), Decimal(1)),
    }
    other = {**base, "partition": "cpu", "environment": "test"}
    assert [(c.rate_id, c.amount) for c in rate_record(book, other, UTC)] == [(2, Decimal(16))]
    assert rate_record(book, {**base, "cost": Decimal(5)}, UTC) == []
