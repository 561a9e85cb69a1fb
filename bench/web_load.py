"""Benchmark: the API under load against DuckDB scanning the raw records.

Builds (once, kept under bench/out/) a SQLite ledger of N Slurm jobs over a year (default
10,000,000), starts `meterbook serve` on it, and runs a bounded load: C concurrent clients
(default 20) for S seconds (default 60), each looping over the main aggregate endpoints:

* month x top users:   /api/v1/usage?period=2026-06&by=user&top=10
* year x daily series: /api/v1/usage?period=2026&by=day
* project detail:      /api/v1/usage?period=2026&account=<busiest>&by=user

It prints p50/p95/p99 latency, requests/s, errors and the server's resident memory (start,
peak, end). In the same run, the reference: DuckDB (in process) loading the raw records of the
same file and answering the same three aggregates by scanning them (CPU hours with jobs split
at the period's edges, as the rollups split them), each timed over several runs. Goal: the
API's p95 at most the DuckDB time of the same aggregate, no errors, memory flat.

    python bench/web_load.py                       # 10,000,000 jobs (builds for a while)
    python bench/web_load.py --jobs 1000000 --seconds 30
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
from serving import meterbook, serving

from meterbook.samples import slurm as sample

OUT = Path(__file__).parent / "out"
START = datetime(2026, 1, 1, tzinfo=UTC)
PASSWORD = "bench-password-1"


def run(*args: str, db: Path, stdin: str | None = None) -> str:
    return meterbook("--db", f"sqlite:///{db}", *args, stdin=stdin)


def build(jobs: int) -> tuple[Path, Path]:
    """The jobs file and a ledger with them (built once per N)."""
    OUT.mkdir(exist_ok=True)
    log = OUT / f"slurm-year-{jobs}.log"
    db = OUT / f"web-{jobs}.db"
    if not log.exists():
        started = time.perf_counter()
        tmp = log.with_suffix(".tmp")
        with tmp.open("w") as out:
            sample.write(out, jobs, start=START, days=365, users=600, accounts=120)
        tmp.replace(log)
        print(f"generated {jobs:,} jobs in {time.perf_counter() - started:.0f} s")
    if not db.exists():
        started = time.perf_counter()
        tmp_db = db.with_suffix(".tmp.db")
        for leftover in OUT.glob(tmp_db.name + "*"):
            leftover.unlink()
        run("db", "upgrade", db=tmp_db)
        run("import", "slurm", str(log), "--cluster", "aurora", db=tmp_db)
        run(
            "users",
            "create",
            "bench",
            "--role",
            "analyst",
            "--password-stdin",
            db=tmp_db,
            stdin=PASSWORD + "\n",
        )
        for suffix in ("-wal", "-shm"):
            Path(str(tmp_db) + suffix).unlink(missing_ok=True)
        tmp_db.replace(db)
        print(f"imported into {db.name} in {time.perf_counter() - started:.0f} s")
    return log, db


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def busiest_account(db: Path) -> str:
    out = run(
        "usage", "--period", "2026", "--by", "account", "--top", "1", "--format", "csv", db=db
    )
    return out.splitlines()[1].split(",")[0]


def load(
    base: str, cookies: httpx.Cookies, paths: list[str], clients: int, seconds: float, pid: int
) -> dict[str, object]:
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors: list[str] = []
    stop = time.monotonic() + seconds
    memory: list[int] = [rss(pid)]
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as http:
            turn = index
            while time.monotonic() < stop:
                path = paths[turn % len(paths)]
                turn += 1
                began = time.perf_counter()
                try:
                    response = http.get(path)
                    ok = response.status_code == 200
                except httpx.HTTPError as exc:
                    ok, response = False, None
                    error = f"{type(exc).__name__}"
                took = time.perf_counter() - began
                with lock:
                    latencies[path].append(took)
                    if not ok:
                        errors.append(error if response is None else str(response.status_code))

    def watch() -> None:
        while time.monotonic() < stop:
            memory.append(rss(pid))
            time.sleep(0.5)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    watcher = threading.Thread(target=watch)
    began = time.perf_counter()
    for t in [*threads, watcher]:
        t.start()
    for t in [*threads, watcher]:
        t.join()
    elapsed = time.perf_counter() - began
    memory.append(rss(pid))
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed, "memory": memory}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def duckdb_reference(log: Path, account: str, runs: int) -> dict[str, list[float]]:
    """Load the raw records into DuckDB, then time the three aggregates scanning them."""
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(f"""
        CREATE TABLE jobs AS SELECT
            column08 AS usr, column05 AS account, column18::DOUBLE AS cpus,
            epoch(strptime(column12, '%Y-%m-%dT%H:%M:%S')) AS start_ts,
            epoch(strptime(column13, '%Y-%m-%dT%H:%M:%S')) AS end_ts
        FROM read_csv('{log}', delim='|', header=false, all_varchar=true, quote='')
        WHERE column12 <> 'Unknown' AND column13 <> 'Unknown' AND column12 <> 'None'
    """)
    print(
        f"DuckDB loaded the raw records in {time.perf_counter() - started:.1f} s "
        f"({con.execute('SELECT count(*) FROM jobs').fetchone()[0]:,} rows)"
    )  # type: ignore[index]
    june = (
        datetime(2026, 6, 1, tzinfo=UTC).timestamp(),
        datetime(2026, 7, 1, tzinfo=UTC).timestamp(),
    )
    year = (START.timestamp(), datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    overlap = "greatest(0, least(end_ts, {b}) - greatest(start_ts, {a}))"
    queries = {
        "month x top users": f"""SELECT usr, sum(cpus * {overlap.format(a=june[0], b=june[1])})
            / 3600 AS h FROM jobs WHERE start_ts < {june[1]} AND end_ts > {june[0]}
            GROUP BY usr ORDER BY h DESC LIMIT 10""",
        "year x daily series": f"""SELECT d, sum(cpus * greatest(0, least(end_ts, d + 86400)
            - greatest(start_ts, d))) / 3600 FROM jobs, (SELECT unnest(range({year[0]:.0f},
            {year[1]:.0f}, 86400))::DOUBLE AS d) days WHERE start_ts < d + 86400
            AND end_ts > d AND start_ts < {year[1]} AND end_ts > {year[0]} GROUP BY d
            ORDER BY d""",
        "project detail": f"""SELECT usr, sum(cpus * {overlap.format(a=year[0], b=year[1])})
            / 3600 FROM jobs WHERE account = '{account}' AND start_ts < {year[1]}
            AND end_ts > {year[0]} GROUP BY usr""",
    }
    times: dict[str, list[float]] = {}
    for name, sql in queries.items():
        times[name] = []
        for _ in range(runs):
            began = time.perf_counter()
            con.execute(sql).fetchall()
            times[name].append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--duckdb-runs", type=int, default=5)
    args = parser.parse_args()
    log, db = build(args.jobs)
    account = busiest_account(db)
    with serving(("--db", f"sqlite:///{db}")) as (base, server):
        signed = httpx.post(f"{base}/api/v1/session", json={"login": "bench", "password": PASSWORD})
        signed.raise_for_status()
        paths = {
            "month x top users": "/api/v1/usage?period=2026-06&by=user&top=10",
            "year x daily series": "/api/v1/usage?period=2026&by=day",
            "project detail": f"/api/v1/usage?period=2026&account={account}&by=user",
        }
        for path in paths.values():  # warm up: caches, first-query plans
            httpx.get(base + path, cookies=signed.cookies, timeout=120).raise_for_status()
        result = load(
            base, signed.cookies, list(paths.values()), args.clients, args.seconds, server.pid
        )
    reference = duckdb_reference(log, account, args.duckdb_runs)
    latencies = result["latencies"]
    assert isinstance(latencies, dict)
    total = sum(len(v) for v in latencies.values())
    errors = result["errors"]
    memory = result["memory"]
    assert isinstance(errors, list) and isinstance(memory, list)
    print(
        f"\n{args.jobs:,} jobs, {args.clients} clients for {args.seconds:.0f} s: "
        f"{total:,} requests, {total / float(result['elapsed']):.1f} requests/s, "  # type: ignore[arg-type]
        f"{len(errors)} errors"
    )
    print(
        f"server memory: {memory[0] / 2**20:.0f} MB at start, {max(memory) / 2**20:.0f} MB "
        f"peak, {memory[-1] / 2**20:.0f} MB at the end"
    )
    print(
        f"{'aggregate':22} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'DuckDB ms':>10} "
        f"{'p95/DuckDB':>11}"
    )
    for name, path in paths.items():
        values = latencies[path]
        duck = statistics.median(reference[name])
        p95 = pct(values, 0.95)
        print(
            f"{name:22} {pct(values, 0.50) * 1000:9.1f} {p95 * 1000:9.1f} "
            f"{pct(values, 0.99) * 1000:9.1f} {duck * 1000:10.1f} {p95 / duck:11.2f}"
        )


if __name__ == "__main__":
    main()
