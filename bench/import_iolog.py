"""Benchmark: `meterbook import iolog` of a year of hourly NFS IO logs, and the IO analytics.

Generates one year of hourly blocks (8,760) for 300 users and 40 machines, in weekly files,
then in one run:

* the parse-only reference: a plain Python loop that reads every file line by line and applies
  the importer's three regular expressions (block header, histogram header, bucket line);
* `meterbook import iolog` of the folder into a fresh SQLite file (bucket lines/s, peak memory:
  proportional set size of the importing process and its reader);
* every analytics query of `meterbook io` over the whole year, each against the import time.

    python bench/import_iolog.py                 # a year
    python bench/import_iolog.py --hours 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date
from pathlib import Path

from import_slurm import timed  # the same process-tree memory sampling

from meterbook.connectors.iolog.parse import BUCKET_FAST, LOG, SECTION
from meterbook.periods import Period
from meterbook.samples import iolog as sample
from meterbook.settings import Settings
from meterbook.store.core import open_store
from meterbook.store.queries import io as q

OUT = Path(__file__).parent / "out"


def sample_files(hours: int) -> list[Path]:
    folder = OUT / f"iolog-{hours}"
    done = folder / ".complete"
    if not done.exists():
        for old in folder.glob("*.log"):
            old.unlink()
        sample.write_files(folder, hours, users=300, machines=40)
        done.write_text("")
    return sorted(folder.glob("*.log"))


def parse_only(files: list[Path]) -> tuple[float, int]:
    """Read every line and apply the importer's regular expressions, nothing more."""
    started = time.perf_counter()
    buckets = 0
    for path in files:
        with path.open("rb") as fh:
            for line in fh:
                if line.startswith(b"Log:"):
                    LOG.match(line)
                elif line.startswith(b"@"):
                    SECTION.match(line)
                elif BUCKET_FAST.match(line):
                    buckets += 1
    return time.perf_counter() - started, buckets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=8760)
    args = parser.parse_args()
    files = sample_files(args.hours)
    size = sum(f.stat().st_size for f in files) / 2**20
    print(f"{args.hours:,} hourly blocks, 300 users x 40 machines, {len(files)} files, "
          f"{size:,.0f} MB")  # fmt: skip
    reference, buckets = parse_only(files)
    with tempfile.TemporaryDirectory(prefix="meterbook-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'io.db'}"
        command = [sys.executable, "-m", "meterbook", "--db", url]
        timed([*command, "db", "upgrade"])
        seconds, peak, _ = timed([*command, "import", "iolog", str(files[0].parent),
                                  "--settle", "0", "--json"])  # fmt: skip
        print(f"parse-only reference {reference:8.2f} s   import {seconds:8.2f} s   "
              f"ratio {seconds / reference:5.2f}   {buckets / seconds:>10,.0f} bucket lines/s   "
              f"peak {peak / 2**20:,.0f} MB")  # fmt: skip
        store = open_store(Settings(database_url=url))
        with store.engine.connect() as conn:
            everything = Period(date(1970, 1, 1), date(2100, 1, 1), "all")
            first = q.io_stats(conn, q.IoScope(everything, UTC)).first
            assert first is not None
            year = Period(first.date(), first.date().replace(year=first.year + 1), "year")
            scope = q.IoScope(year, store.zone)
            some_user = q.io_users(conn, scope, 1)[0].user
            some_machine = q.io_machines(conn, scope, 1)[0].machine
            queries = {
                "stats": lambda: q.io_stats(conn, scope),
                "users": lambda: q.io_users(conn, scope),
                "machines": lambda: q.io_machines(conn, scope),
                "user (hour grain)": lambda: q.io_user(conn, scope, some_user, "hour"),
                "machine (day grain)": lambda: q.io_machine(conn, scope, some_machine, "day"),
                "timeseries hour": lambda: q.io_timeseries(conn, scope, "hour"),
                "timeseries day": lambda: q.io_timeseries(conn, scope, "day"),
                "timeseries month": lambda: q.io_timeseries(conn, scope, "month"),
                "patterns": lambda: q.io_patterns(conn, scope),
                "sizes": lambda: q.io_sizes(conn, scope),
                "sizes by role": lambda: q.io_sizes(conn, scope, "role"),
                "sizes by group": lambda: q.io_sizes(conn, scope, "group"),
                "top (last 24 blocks)": lambda: q.io_top(conn, scope),
                "history (top 5 per block)": lambda: q.io_history(conn, scope),
                "heavy": lambda: q.io_heavy(conn, scope),
            }
            worst = 0.0
            for name, query in queries.items():
                started = time.perf_counter()
                query()
                took = time.perf_counter() - started
                worst = max(worst, took)
                print(f"  {name:<28}{took:8.3f} s   {100 * took / seconds:5.2f} % of the import")
            print(f"slowest query: {100 * worst / seconds:.2f} % of the import (goal: under 5 %)")
        store.engine.dispose()


if __name__ == "__main__":
    main()
