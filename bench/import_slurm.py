"""Benchmark: `meterbook import slurm` against the raw load speed of the same database.

Generates N jobs in the Open XDMoD 26-field layout (default 1,000,000), then, in one run:

* SQLite: the sqlite3 command-line tool's `.import` of the file into a plain 26-column table
  (the store's raw speed limit), then `meterbook import slurm` into a fresh SQLite file;
* PostgreSQL: `COPY ... FROM STDIN` of the same file into a plain table (through psql when
  it is installed, else psycopg), then `meterbook import slurm` into a fresh database.

Prints both times, the ratio, rows/s and the peak memory of the import (proportional set
size summed over the meterbook process and its reader process, sampled every 20 ms).

    python bench/import_slurm.py                 # 1,000,000 jobs, SQLite and PostgreSQL
    python bench/import_slurm.py --jobs 200000 --no-postgres
    python bench/import_slurm.py --jobs 200000 --no-postgres --rates   # with a rate card

``--rates`` loads a small rate card (CPU-, GPU-, memory GB-, node-hours; a GPU model and a
partition narrowing some) before the import, so every record is also rated and charged.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from meterbook.samples import slurm as sample

OUT = Path(__file__).parent / "out"
COLUMNS = ", ".join(f"c{i} text" for i in range(26))


def sample_file(jobs: int) -> Path:
    path = OUT / f"slurm-{jobs}.log"
    if not path.exists():
        OUT.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as out:
            sample.write(out, jobs)
        tmp.replace(path)
    return path


def _tree_rss(pid: int) -> int:
    """Proportional resident bytes (PSS) of a process and its children (Linux /proc).

    PSS splits pages shared by the forked reader and its parent between them, so the sum is
    the memory the import really holds.
    """
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a command; return (seconds, peak resident bytes of its tree, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    peak = 0
    done = threading.Event()

    def sample_rss() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        sys.exit(f"{command[0]} failed ({proc.returncode}): {err.strip()}")
    return seconds, peak, out


def meterbook(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "meterbook", "--db", url, *args]


EXTRA: list[str] = []
RATES: list[Path] = []
RATE_CARD = """quantity,gpu_model,partition,currency,effective_from,price
cpu_hours,,,EUR,2020-01-01,0.02
cpu_hours,,gpu,EUR,2020-01-01,0.03
gpu_hours,,,EUR,2020-01-01,1.00
gpu_hours,a100,,EUR,2020-01-01,1.50
mem_gb_hours,,,EUR,2020-01-01,0.002
node_hours,,,EUR,2025-01-01,0.10
"""


def _load_rates(url: str) -> None:
    for path in RATES:
        timed(meterbook(url, "rates", "import", str(path)))


def bench_sqlite(path: Path, work: Path) -> dict[str, float]:
    if shutil.which("sqlite3") is None:
        sys.exit("the sqlite3 command-line tool is needed for the reference (apt install sqlite3)")
    ref_db = work / "reference.db"
    ref, _, _ = timed(
        [
            "sqlite3",
            str(ref_db),
            f"CREATE TABLE jobs ({COLUMNS});",
            ".mode list",
            ".separator |",
            f".import {path} jobs",
        ]
    )
    url = f"sqlite:///{work / 'meterbook.db'}"
    timed(meterbook(url, "db", "upgrade"))
    _load_rates(url)
    seconds, peak, out = timed(meterbook(url, "import", "slurm", str(path), "--json", *EXTRA))
    return {
        "reference": ref,
        "meterbook": seconds,
        "peak": peak,
        "inserted": json.loads(out)["inserted"],
    }


def bench_postgres(path: Path, url: str) -> dict[str, float]:
    base = make_url(url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"meterbook_bench_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    target = base.set(database=name)
    plain = target.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE jobs ({COLUMNS})")
        copy = f"\\copy jobs FROM '{path}' WITH (FORMAT text, DELIMITER '|')"
        if shutil.which("psql"):
            ref, _, _ = timed(["psql", plain, "-q", "-c", copy])
        else:
            started = time.perf_counter()
            with (
                psycopg.connect(plain) as conn,
                conn.cursor() as cur,
                cur.copy("COPY jobs FROM STDIN WITH (FORMAT text, DELIMITER '|')") as out,
                path.open("rb") as src,
            ):
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            ref = time.perf_counter() - started
        mb_url = target.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        timed(meterbook(mb_url, "db", "upgrade"))
        _load_rates(mb_url)
        seconds, peak, out = timed(
            meterbook(mb_url, "import", "slurm", str(path), "--json", *EXTRA)
        )
        return {
            "reference": ref,
            "meterbook": seconds,
            "peak": peak,
            "inserted": json.loads(out)["inserted"],
        }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(store: str, reference: str, jobs: int, r: dict[str, float]) -> None:
    ratio = r["meterbook"] / r["reference"]
    print(
        f"{store:<10} {reference:<22} {r['reference']:8.2f} s   meterbook {r['meterbook']:8.2f} s"
        f"   ratio {ratio:5.2f}   {jobs / r['meterbook']:>9,.0f} rows/s"
        f"   peak {r['peak'] / 2**20:6.0f} MB"
    )
    if r["inserted"] != jobs:
        sys.exit(f"{store}: expected {jobs:,} records inserted, got {r['inserted']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--batch-size", type=int, help="passed to meterbook import")
    parser.add_argument("--rates", action="store_true", help="rate the records (a rate card)")
    args = parser.parse_args()
    if args.rates:
        OUT.mkdir(exist_ok=True)
        card = OUT / "rates.csv"
        card.write_text(RATE_CARD)
        RATES.append(card)
    if args.batch_size:
        EXTRA.extend(["--batch-size", str(args.batch_size)])
    started = time.perf_counter()
    path = sample_file(args.jobs)
    size = path.stat().st_size / 2**20
    print(
        f"{args.jobs:,} jobs, {size:,.0f} MB ({path.name}, ready in "
        f"{time.perf_counter() - started:.0f} s); {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="meterbook-bench-") as tmp:
        report("SQLite", "sqlite3 .import", args.jobs, bench_sqlite(path, Path(tmp)))
    if not args.no_postgres:
        report("PostgreSQL", "COPY (psql \\copy)", args.jobs, bench_postgres(path, args.postgres))


if __name__ == "__main__":
    main()
