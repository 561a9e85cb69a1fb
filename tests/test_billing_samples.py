"""The FOCUS billing generator: reproducible, any calendar month, files that import cleanly."""

from __future__ import annotations

import calendar
import csv
import gzip
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from meterbook.connectors.billing.connector import BillingReader
from meterbook.samples import billing
from meterbook.spend import import_billing
from meterbook.store.core import Store

TIME = "%Y-%m-%d %H:%M:%S"


def focus(
    rows: int, seed: int = billing.SEED, month: date | None = None, charges_seed: str | None = None
) -> tuple[str, Decimal]:
    """The text of a file and the total the generator returned (``month`` None: its default)."""
    out = io.StringIO(newline="")
    if month is None:
        total = billing.write_focus(out, rows, seed, charges_seed=charges_seed)
    else:
        total = billing.write_focus(out, rows, seed, month=month, charges_seed=charges_seed)
    return out.getvalue(), total


def records(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def billed(rows: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))


def test_reproducible_for_a_seed() -> None:
    text, total = focus(1500, seed=3)
    assert focus(1500, seed=3) == (text, total)
    other, _ = focus(1500, seed=4)
    assert other != text
    rows = records(text)
    assert len(rows) == 1500
    assert list(rows[0]) == list(billing.COLUMNS)


def test_charges_seed_keeps_the_sub_accounts_and_changes_the_charges() -> None:
    known = {(a.provider, a.id, a.name) for a in billing.sub_accounts(7)}
    assert len(known) == sum(billing.SUB_ACCOUNTS.values())
    texts = [focus(3000, seed=7, charges_seed=month)[0] for month in ("a", "b")]
    assert texts[0] != texts[1]
    for text in texts:
        seen = {(r["ProviderName"], r["SubAccountId"], r["SubAccountName"]) for r in records(text)}
        assert seen <= known
        assert len(seen) > len(known) // 2
    # Without a charges seed the charges follow on from the seed's own stream.
    assert focus(3000, seed=7)[0] not in texts


@pytest.mark.parametrize(
    "month", [None, date(2026, 9, 1), date(2026, 10, 17), date(2026, 12, 1), date(2028, 2, 1)]
)
def test_the_hours_of_the_month(month: date | None) -> None:
    rows = records(focus(2000, month=month)[0])
    year, number = (2024, 9) if month is None else (month.year, month.month)
    first = datetime(year, number, 1)
    hours = calendar.monthrange(year, number)[1] * 24
    after = first + timedelta(hours=hours)
    expected = {(first + timedelta(hours=h)).strftime(TIME) for h in range(hours)}
    hourly, monthly = set(), 0
    for r in rows:
        assert (r["BillingPeriodStart"], r["BillingPeriodEnd"]) == (
            first.strftime(TIME),
            after.strftime(TIME),
        )
        start = datetime.strptime(r["ChargePeriodStart"], TIME)
        end = datetime.strptime(r["ChargePeriodEnd"], TIME)
        if end - start == timedelta(hours=1):
            hourly.add(r["ChargePeriodStart"])
        else:
            assert (start, end) == (first, after)
            monthly += 1
    # 1,998 hourly rows go hour by hour through the month: every hour has some, none is outside.
    assert hourly == expected
    assert monthly == 2


def test_the_total_is_the_sum_of_billed_cost() -> None:
    text, total = focus(5000, seed=11, month=date(2026, 10, 1))
    rows = records(text)
    assert billed(rows) == total
    assert {r["ChargeCategory"] for r in rows} >= {"Usage", "Tax", "Purchase"}


def test_a_file_imports_without_rejects(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "focus-2026-09-01.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        total = billing.write_focus(out, 3000, 5, month=date(2026, 9, 1), charges_seed="x")
    result = import_billing(store, BillingReader("focus"), [str(path)])
    assert (result.inserted, result.rejected, result.first_rejects) == (3000, 0, [])
    with path.open(encoding="utf-8", newline="") as read:
        assert billed(list(csv.DictReader(read))) == total


def test_files_of_months(tmp_path: Path) -> None:
    months = [date(2026, 8, 1), date(2026, 9, 1)]
    written = billing.write_files(tmp_path / "a", months, 1200, seed=9)
    assert [p.name for p, _ in written] == ["focus-2026-08-01.csv.gz", "focus-2026-09-01.csv.gz"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [p.name for p, _ in written]
    accounts = []
    for (path, total), month in zip(written, months, strict=True):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as read:
            rows = list(csv.DictReader(read))
        assert len(rows) == 1200 and billed(rows) == total
        assert {r["BillingPeriodStart"][:7] for r in rows} == {f"{month:%Y-%m}"}
        accounts.append({r["SubAccountId"] for r in rows})
    assert written[0][1] != written[1][1]
    ids = {a.id for a in billing.sub_accounts(9)}
    assert accounts[0] <= ids and accounts[1] <= ids
    # The same files again, byte for byte (no time stamp in the gzip header).
    again = billing.write_files(tmp_path / "b", months, 1200, seed=9)
    for (one, _), (other, _) in zip(written, again, strict=True):
        assert one.read_bytes() == other.read_bytes()
