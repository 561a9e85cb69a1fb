"""Benchmark: `meterbook import billing --format focus` against DuckDB's load of the same CSV.

Generates a FOCUS 1.0 CSV of N rows (default 2,000,000; the 44 columns of the FOCUS sample,
`NULL` as the null word): 3 providers, 100 sub-accounts, 40 services, hourly charge periods over
September 2024 plus a few monthly lines (tax, recurring fees, storage), tags JSON on most rows,
credits, costs with 11 decimals. The generator (`meterbook.samples.billing`) is deterministic
(fixed seed), streams, sums the BilledCost exactly (integers of 1e-11); the file is cached in
bench/out. Then, in one run, each in its own process:

* the reference: DuckDB `CREATE TABLE t AS SELECT * FROM read_csv('FILE')` into a database file;
* `import_billing` (the library behind `meterbook import billing --format focus`) into a fresh
  SQLite file and into a fresh PostgreSQL database (`--databases`).

Prints seconds, rows/s and peak memory (ru_maxrss of the process) of each, the ratio of each
import to the reference, and checks that the stored rows and SUM(billed_cost) equal the
generator's. `--flat-check` imports a quarter of the rows into SQLite too and prints both
peaks. The results go to bench/out/import_focus.json. Needs `pip install -e .[bench]` (DuckDB).

    python bench/import_focus.py                                  # 2,000,000 rows, both stores
    python bench/import_focus.py --rows 200000 --databases sqlite --flat-check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from meterbook.samples.billing import SEED, VERSION, write_focus

OUT = Path(__file__).parent / "out"
#: Cached files of another generator version are made again.
GENERATOR = VERSION
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL = 5.0


# ---------------------------------------------------------------------------------------------
# The sample file (meterbook.samples.billing writes it), cached in bench/out


def sample_file(rows: int) -> tuple[Path, Decimal]:
    """The cached FOCUS file of ``rows`` rows and its exact BilledCost total."""
    path = OUT / f"focus-{rows}.csv"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        known = json.loads(meta.read_text())
        if known.get("rows") == rows and known.get("generator") == GENERATOR:
            return path, Decimal(known["billed_total"])
    OUT.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        total = write_focus(out, rows)
    tmp.replace(path)
    meta.write_text(
        json.dumps({"rows": rows, "generator": GENERATOR, "seed": SEED, "billed_total": str(total)})
    )
    return path, total


# ---------------------------------------------------------------------------------------------
# Children: each measured load runs in its own process


def child(kind: str, *args: str) -> None:
    if kind == "duckdb":
        import duckdb

        source, target = args
        with duckdb.connect(target) as con:
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{source}')")
            row = con.execute("SELECT count(*) FROM t").fetchone()
        print(json.dumps({"rows": row[0] if row else 0}))
        return
    from meterbook.settings import Settings
    from meterbook.store.core import open_store, upgrade_store

    url = args[0]
    if kind == "upgrade":
        upgrade_store(Settings(database_url=url))[0].engine.dispose()
        return
    from meterbook.connectors.billing.connector import BillingReader
    from meterbook.spend import import_billing

    store = open_store(Settings(database_url=url))
    result = import_billing(store, BillingReader("focus"), [args[1]])
    store.engine.dispose()
    reasons = [f"line {r.line}: {r.reason}" for r in result.first_rejects]
    print(json.dumps({"inserted": result.inserted, "rejected": result.rejected,
                      "first_rejects": reasons}))  # fmt: skip


def measured(*args: str) -> tuple[float, int, dict[str, Any]]:
    """Run this script as a child; returns (seconds, peak RSS bytes, its JSON output)."""
    command = [sys.executable, __file__, "--child", *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # ru_maxrss of that process
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if proc.returncode != 0:
        sys.exit(f"{args[0]} failed ({proc.returncode}): {errors.strip()[-2000:]}")
    return seconds, usage.ru_maxrss * 1024, json.loads(text) if text.strip() else {}


# ---------------------------------------------------------------------------------------------
# meterbook imports and their checks: stored rows and the BilledCost total


@dataclass
class Imported:
    seconds: float
    peak: int  # bytes
    stored: int  # SELECT COUNT(*) FROM cost_lines
    total: Decimal  # SELECT SUM(billed_cost) FROM cost_lines
    exact: Decimal | None  # SQLite: the exact sum of the stored values
    rejected: int
    first_rejects: list[str]


def import_sqlite(path: Path, work: Path, name: str) -> Imported:
    """Into a fresh SQLite file. SQLite keeps money as doubles, so its SUM is a double; each
    stored value (at most 15 significant digits here) reads back exactly as text, so their
    exact sum must be the generator's."""
    db = work / f"{name}.db"
    url = f"sqlite:///{db}"
    measured("upgrade", url)
    seconds, peak, out = measured("import", url, str(path))
    with closing(sqlite3.connect(db)) as con:
        count, total = con.execute("SELECT COUNT(*), SUM(billed_cost) FROM cost_lines").fetchone()
        values = con.execute("SELECT CAST(billed_cost AS TEXT) FROM cost_lines")
        exact = sum((Decimal(v) for (v,) in values), Decimal(0))
    db.unlink()
    return Imported(seconds, peak, count, Decimal(repr(total or 0)), exact, out["rejected"],
                    out["first_rejects"])  # fmt: skip


def import_postgres(path: Path, url: str) -> Imported:
    """Into a fresh PostgreSQL database, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"meterbook_bench_focus_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = base.set(database=name)
    try:
        mb_url = target.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        measured("upgrade", mb_url)
        seconds, peak, out = measured("import", mb_url, str(path))
        plain = target.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain) as conn:
            row = conn.execute("SELECT COUNT(*), SUM(billed_cost) FROM cost_lines").fetchone()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert row is not None
    return Imported(seconds, peak, int(row[0]), Decimal(row[1] or 0), None, out["rejected"],
                    out["first_rejects"])  # fmt: skip


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated, of sqlite and postgresql (default: both)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("MB_TEST_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server (a fresh database is made on it)",
    )
    parser.add_argument(
        "--flat-check",
        action="store_true",
        help="also import a quarter of the rows into SQLite; print both peaks",
    )
    args = parser.parse_args()  # fmt: skip
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown or not databases:
        parser.error(f"--databases: sqlite and/or postgresql, not {args.databases!r}")
    if args.flat_check and "sqlite" not in databases:
        parser.error("--flat-check compares with the SQLite import: keep sqlite in --databases")
    rows = args.rows

    started = time.perf_counter()
    path, expected = sample_file(rows)
    size = path.stat().st_size / 2**20
    when = time.strftime("%Y-%m-%d %H:%M")
    print(f"{rows:,} FOCUS rows, {size:,.0f} MB ({path.name}, ready in "
          f"{time.perf_counter() - started:.0f} s), BilledCost total {expected}; "
          f"{os.cpu_count()} CPUs; {when}")  # fmt: skip
    results: dict[str, Any] = {
        "date": when, "rows": rows, "file": path.name, "file_mb": round(size, 1),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "billed_total": str(expected), "goal_ratio": GOAL,
    }  # fmt: skip

    def show(label: str, seconds: float, peak: int, extra: str = "") -> None:
        print(f"{label:<30}{seconds:9.2f} s{rows / seconds:>11,.0f} rows/s"
              f"{peak / 2**20:>7,.0f} MB peak{extra}")  # fmt: skip

    def verdict(ok: bool) -> str:
        return "match" if ok else "MISMATCH"

    failed = False
    with tempfile.TemporaryDirectory(prefix="meterbook-bench-") as tmp:
        work = Path(tmp)
        reference = work / "reference.duckdb"
        ref_s, ref_peak, ref_out = measured("duckdb", str(path), str(reference))
        reference.unlink()
        show("reference: DuckDB read_csv", ref_s, ref_peak)
        if ref_out.get("rows") != rows:
            print(f"  warning: DuckDB loaded {ref_out.get('rows')} rows, not {rows:,}")
        results["reference"] = {
            "seconds": round(ref_s, 2), "rows_per_s": round(rows / ref_s),
            "peak_mb": round(ref_peak / 2**20), "rows": ref_out.get("rows"),
        }  # fmt: skip
        for db in databases:
            if db == "sqlite":
                got = import_sqlite(path, work, "full")
            else:
                got = import_postgres(path, args.postgres)
            ratio = got.seconds / ref_s
            show(f"meterbook import ({db})", got.seconds, got.peak,
                 f"   ratio {ratio:.2f} (goal <= {GOAL:g})")  # fmt: skip
            count_ok = got.stored == rows
            total_ok = (got.exact if got.exact is not None else got.total) == expected
            print(f"  rows stored {got.stored:,} ({verdict(count_ok)}); "
                  f"SUM(billed_cost) {got.total}", end="")  # fmt: skip
            if got.exact is None:
                print(f" ({verdict(total_ok)})")
            else:
                print(f" (a double: {got.total - expected:+}); exact sum of the stored values "
                      f"{got.exact} ({verdict(total_ok)})")  # fmt: skip
            if got.rejected:
                print(f"  rejected {got.rejected:,}: {got.first_rejects}")
            failed |= not (count_ok and total_ok)
            results[db] = {
                "seconds": round(got.seconds, 2), "rows_per_s": round(rows / got.seconds),
                "peak_mb": round(got.peak / 2**20), "ratio": round(ratio, 2),
                "rows_stored": got.stored, "rows_match": count_ok, "rejected": got.rejected,
                "sum_billed_cost": str(got.total), "total_match": total_ok,
            }  # fmt: skip
            if got.exact is not None:
                results[db]["exact_sum_of_stored_values"] = str(got.exact)
        if args.flat_check:
            quarter = rows // 4
            small, _ = sample_file(quarter)
            got = import_sqlite(small, work, "quarter")
            full_peak = results["sqlite"]["peak_mb"]
            quarter_peak = round(got.peak / 2**20)
            print(f"flat check (SQLite): peak {quarter_peak:,} MB at {quarter:,} rows, "
                  f"{full_peak:,} MB at {rows:,} rows")  # fmt: skip
            results["flat_check"] = {"rows": quarter, "peak_mb": quarter_peak,
                                     "seconds": round(got.seconds, 2), "full_rows": rows,
                                     "full_peak_mb": full_peak}  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "import_focus.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"results in {OUT / 'import_focus.json'}")
    if failed:
        sys.exit("the stored rows or the BilledCost total differ from the generator's")


if __name__ == "__main__":
    main()
