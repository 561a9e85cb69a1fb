"""Benchmark: `meterbook collect` of Alibaba CloudMonitor metrics from the local CMS server.

14 days of 200 ECS instances x 4 metrics at a 300 s period: 3,225,600 points in 2,240 pages of
1,440 (the issue's "about 3.2 million points"; `--period 60` gives 16 million). The server runs
in its own process (as a network peer would), then, in one run:

* the network + parse reference: the same client (the official SDK, every page requested and
  its Datapoints parsed into columns) making the same requests, storing nothing;
* `meterbook collect` into a fresh database (SQLite unless --db), storing every point with its
  hourly rollup in one transaction.

It prints points/s, the ratio of the collection to the reference (the goal: at most 2) and the
peak memory of each process (the goal: flat, independent of the number of points).

    python bench/collect_cms.py
    python bench/collect_cms.py --days 3 --instances 50
    python bench/collect_cms.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from import_slurm import timed  # the same process-tree memory sampling

START = datetime(2025, 2, 13, tzinfo=UTC)
METRICS = ["CPUUtilization", "memory_usedutilization", "cpu_total", "diskusage_utilization"]
KEY = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "bench-id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "bench-key"}


def instance_ids(count: int) -> list[str]:
    return [f"i-bench{n:04d}" for n in range(count)]


def serve(count: int) -> None:
    """Run the CMS server until standard input closes; print its endpoint first."""
    from meterbook.samples.cms_server import CmsServer

    with CmsServer(dict.fromkeys(instance_ids(count), "ECS"),
                   access_keys={KEY["ALIBABA_CLOUD_ACCESS_KEY_ID"]:
                                KEY["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]}) as server:  # fmt: skip
        print(server.endpoint, flush=True)
        sys.stdin.read()


def reference(endpoint: str, count: int, days: int, period: int) -> None:
    """The same requests through the same client, parsed into columns, nothing stored."""
    from meterbook.connectors.alibaba.client import CmsClient

    client = CmsClient("bench", KEY["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                       KEY["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], "cn-hongkong",
                       endpoint=endpoint, protocol="http")  # fmt: skip
    points = 0
    end = START + timedelta(days=days)
    for metric in METRICS:
        for batch in client.fetch("acs_ecs_dashboard", metric, instance_ids(count), START, end,
                                  period):  # fmt: skip
            points += batch.table.num_rows
    print(json.dumps({"points": points, "calls": client.stats.calls}))


def config_text(endpoint: str, count: int, period: int, url: str) -> str:
    members = ", ".join(f'{{ id = "{i}" }}' for i in instance_ids(count))
    return f"""[database]
url = "{url}"

[sources.bench]
type = "alibaba-cms"
region = "cn-hongkong"
endpoint = "{endpoint}"
protocol = "http"
period = {period}
[sources.bench.metrics]
ECS = {json.dumps(METRICS)}
[sources.bench.inventory.PROD]
web = [{members}]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--period", type=int, default=300, choices=(60, 300, 900, 3600))
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reference", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.instances)
        return
    if args.reference:
        reference(args.reference, args.instances, args.days, args.period)
        return
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(KEY)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--instances", str(args.instances)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    endpoint = server.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as work:
            url = args.db or f"sqlite:///{Path(work) / 'bench.db'}"
            config = Path(work) / "meterbook.toml"
            config.write_text(config_text(endpoint, args.instances, args.period, url))
            base = [sys.executable, "-m", "meterbook", "--config", str(config)]
            subprocess.run([*base, "db", "upgrade"], check=True, env=env, capture_output=True)
            ref_s, ref_peak, ref_out = timed(
                [sys.executable, __file__, "--reference", endpoint, "--instances",
                 str(args.instances), "--days", str(args.days), "--period", str(args.period)],
                env,
            )  # fmt: skip
            last = START + timedelta(days=args.days - 1)
            got_s, got_peak, got_out = timed(
                [*base, "collect", "bench", "--from", START.date().isoformat(), "--to",
                 last.date().isoformat(), "--json"],
                env,
            )  # fmt: skip
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    ref = json.loads(ref_out)
    got = json.loads(got_out)
    if got["samples"] != ref["points"]:
        sys.exit(f"collected {got['samples']:,} samples but the reference saw {ref['points']:,}")
    points = ref["points"]
    print(f"{args.instances} instances x {len(METRICS)} metrics, {args.days} days at "
          f"{args.period} s: {points:,} points, {ref['calls']:,} calls "
          f"({time.strftime('%Y-%m-%d %H:%M')})")  # fmt: skip
    print(f"{'':34}{'seconds':>9}{'points/s':>12}{'peak MB':>10}")
    print(f"{'reference (network + parse)':34}{ref_s:9.2f}{points / ref_s:12,.0f}"
          f"{ref_peak / 2**20:10.0f}")  # fmt: skip
    print(f"{'meterbook collect (' + url.split(':')[0] + ')':34}{got_s:9.2f}"
          f"{points / got_s:12,.0f}{got_peak / 2**20:10.0f}")  # fmt: skip
    print(f"ratio collect / reference: {got_s / ref_s:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()
