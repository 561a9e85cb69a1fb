"""Benchmark: every dashboard page on the demo data, against the app's own floor.

Builds (once, kept under bench/out/demo-N) the quick start's demo ledger (`meterbook demo
--no-serve`, N Slurm jobs, default 50,000 as the quick start), starts `meterbook serve` on it,
signs in as an admin, and loads every page of the menu, the search page and one detail page
of each kind (user, project, team, division, machine) R times each (default 5), one request
at a time. It prints each page's median and slowest time, and the ratio of the median to the
reference measured in the same run: `/api/v1/me`, the cheapest signed-in request (session
lookup, routing, a JSON answer), the app's floor on this machine. Goal (issue 8): no page
above one second on the demo data.

    python bench/pages.py
    python bench/pages.py --jobs 200000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx
from serving import meterbook, serving

OUT = Path(__file__).parent / "out"
PASSWORD = "bench-password-1"
MENU = ["/", "/explorer", "/users", "/projects", "/teams", "/divisions", "/machines", "/io",
        "/spend", "/reports", "/imports", "/admin", "/search?q=a"]  # fmt: skip


def build(jobs: int) -> Path:
    """The demo folder with a bench admin (built once per N)."""
    folder = OUT / f"demo-{jobs}"
    if (folder / "built").exists():
        return folder
    OUT.mkdir(exist_ok=True)
    started = time.perf_counter()
    meterbook("demo", "--dir", str(folder), "--jobs", str(jobs), "--no-serve")
    meterbook("users", "create", "bench", "--role", "admin", "--password-stdin", cwd=folder,
              stdin=PASSWORD + "\n")  # fmt: skip
    (folder / "built").write_text("")
    print(f"built the demo ledger of {jobs:,} jobs in {time.perf_counter() - started:.0f} s")
    return folder


def signed_in(base: str, login: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, headers={"accept": "text/html"})
    response = client.post("/api/v1/session", json={"login": login, "password": PASSWORD})
    response.raise_for_status()
    return client


def details(client: httpx.Client) -> list[str]:
    """One detail page of each kind, found by the search API."""
    found = []
    for kind, detail in (("user", ""), ("project", ""), ("team", ""), ("division", ""),
                         ("resource", "machine")):  # fmt: skip
        rows = client.get("/api/v1/search", params={"q": "e", "kind": kind, "limit": 200})
        links = [r["link"] for r in rows.json()["rows"] if r["link"]
                 and (not detail or r["detail"] == detail)]  # fmt: skip
        if links:
            found.append(links[0])
    return found


def timed(client: httpx.Client, path: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path)
        took = time.perf_counter() - began
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}: {response.text[:200]}")
        times.append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = build(args.jobs)
    with serving(cwd=folder) as (base, _server):
        admin = signed_in(base, "bench")
        floor = statistics.median(timed(admin, "/api/v1/me", max(args.runs, 20)))
        pages = [*MENU, *details(admin)]
        print(f"{args.jobs:,} demo jobs, {args.runs} loads per page, one at a time")
        print(f"reference /api/v1/me: median {floor * 1000:.1f} ms")
        print(f"{'page':40} {'median ms':>10} {'max ms':>8} {'/ reference':>12}")
        slowest = 0.0
        for path in pages:
            times = timed(admin, path, args.runs)
            slowest = max(slowest, max(times))
            median = statistics.median(times)
            print(f"{path:40} {median * 1000:10.1f} {max(times) * 1000:8.1f} "
                  f"{median / floor:12.1f}")  # fmt: skip
        print(f"slowest page load: {slowest * 1000:.0f} ms (goal: under 1000 ms)")


if __name__ == "__main__":
    main()
