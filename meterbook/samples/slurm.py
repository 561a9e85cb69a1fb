"""A generator of realistic Slurm accounting in the Open XDMoD 26-field sacct layout.

Deterministic for a seed. It produces what real clusters show: daily and weekly arrival
cycles, log-normal run times cut by time limits, CPU, GPU (typed and untyped TRES), large
memory and debug partitions, job arrays, requeued jobs listed twice (``--duplicates``), jobs
cancelled before they started (``Unknown`` start), ``CANCELLED by <uid>`` states, memory
requests per node and per CPU, and compressed node lists.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import TextIO


@dataclass(frozen=True)
class Partition:
    name: str
    prefix: str
    nodes: int
    cores: int
    mem_gb: int
    gpus: int
    gpu_type: str | None
    max_hours: int
    share: float


PARTITIONS = (
    Partition("standard", "cpn", 400, 64, 256, 0, None, 72, 0.62),
    Partition("gpu", "gpu", 40, 48, 512, 4, "a100", 48, 0.16),
    Partition("largemem", "mem", 16, 96, 2048, 0, None, 168, 0.07),
    Partition("debug", "dbg", 8, 64, 256, 0, None, 1, 0.15),
)
QOS = ("normal", "normal", "normal", "high", "low")
STATES = (
    ("COMPLETED", 0.70),
    ("FAILED", 0.12),
    ("CANCELLED", 0.08),
    ("TIMEOUT", 0.05),
    ("OUT_OF_MEMORY", 0.025),
    ("PREEMPTED", 0.015),
    ("NODE_FAIL", 0.01),
)
_SCIENCES = (
    "astro",
    "bio",
    "chem",
    "climate",
    "cs",
    "econ",
    "eng",
    "geo",
    "math",
    "med",
    "neuro",
    "phys",
    "stats",
)


@dataclass
class _Person:
    name: str
    uid: int
    accounts: tuple[str, ...]
    activity: float
    gpu_user: bool


def _people(rng: random.Random, users: int, accounts: int) -> list[_Person]:
    names = [f"{rng.choice(_SCIENCES)}-{i:02d}" for i in range(accounts)]
    out = []
    for i in range(users):
        own = rng.sample(names, k=1 if rng.random() < 0.8 else 2)
        out.append(
            _Person(
                f"user{i:04d}", 200000 + i, tuple(own), rng.paretovariate(1.2), rng.random() < 0.25
            )
        )
    return out


def _hostlist(prefix: str, first: int, count: int) -> str:
    if count == 1:
        return f"{prefix}-{first:04d}"
    return f"{prefix}-[{first:04d}-{first + count - 1:04d}]"


def _hms(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{days}-{h:02d}:{m:02d}:{s:02d}" if days else f"{h:02d}:{m:02d}:{s:02d}"


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


DEMO_START = datetime(2026, 8, 1, tzinfo=UTC)
DEMO_END = datetime(2026, 11, 1, tzinfo=UTC)


def generate(
    jobs: int,
    *,
    start: datetime = DEMO_START,
    days: int = (DEMO_END - DEMO_START).days,
    cluster: str = "aurora",
    users: int = 160,
    accounts: int = 32,
    seed: int = 7,
) -> Iterator[str]:
    """Yield ``jobs`` lines (without newline) of submissions spread over ``days``."""
    rng = random.Random(seed)
    people = _people(rng, users, accounts)
    weights = [p.activity for p in people]
    span = days * 86400
    job_id = 1000
    # Arrays and requeues make about 1.37 lines per submission. Should the submissions drawn
    # for the span give fewer lines than asked, the rest are submitted on its last day.
    planned = sorted(_arrival(rng, span) for _ in range(int(jobs / 1.37) + 1))
    last_day = [max(span - 86400, 0) + rng.randrange(min(span, 86400)) for _ in range(jobs)]
    emitted = 0
    for offset in chain(planned, sorted(last_day)):
        person = rng.choices(people, weights)[0]
        submit = start + timedelta(seconds=offset)
        job_id += 1
        array = rng.random() < 0.06
        tasks = rng.randint(2, 12) if array else 1
        for task in range(tasks):
            raw = job_id if task == 0 else job_id + task
            label = f"{job_id}_{task}" if array else str(job_id)
            for line in _job(rng, person, cluster, label, raw, submit):
                yield line
                emitted += 1
                if emitted >= jobs:
                    return
        job_id += tasks


def _arrival(rng: random.Random, span: int) -> int:
    """Arrival times that follow working hours and weekdays."""
    while True:
        t = rng.randrange(span)
        hour = (t // 3600) % 24
        weekday = (t // 86400 + 5) % 7  # 2026-08-01 is a Saturday
        weight = (0.35 + 0.65 * math.exp(-(((hour - 14) / 4.5) ** 2))) * (
            0.55 if weekday >= 5 else 1.0
        )
        if rng.random() < weight:
            return t


def _job(
    rng: random.Random, person: _Person, cluster: str, label: str, raw: int, submit: datetime
) -> Iterator[str]:
    part = rng.choices(
        PARTITIONS, [p.share * (3 if p.gpus and person.gpu_user else 1) for p in PARTITIONS]
    )[0]
    account = rng.choice(person.accounts)
    nodes = 1 if part.name == "debug" or rng.random() < 0.7 else rng.choice((2, 2, 4, 8, 16))
    nodes = min(nodes, part.nodes)
    cpus_per_node = part.cores if nodes > 1 or rng.random() < 0.3 else rng.choice((1, 4, 8, 16, 32))
    cpus = nodes * cpus_per_node
    gpus = nodes * rng.choice((1, 2, 4)) if part.gpus else 0
    limit = min(part.max_hours * 3600, rng.choice((1, 2, 4, 8, 12, 24, 48, 72, 168)) * 3600)
    wait = int(rng.expovariate(1 / (600 if part.name == "debug" else 5400)))
    run = int(min(rng.lognormvariate(math.log(2400), 1.5), limit + 30))
    state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
    if run >= limit:
        state = "TIMEOUT"

    def line(submit: datetime, start: datetime | None, end: datetime, state: str) -> str:
        return _line(rng, cluster, label, raw, part, account, person, submit, start, end, state,
                     nodes, cpus, gpus, limit)  # fmt: skip

    requeued = state in ("NODE_FAIL", "PREEMPTED") and rng.random() < 0.6
    if requeued:
        first_start = submit + timedelta(seconds=wait)
        first_end = first_start + timedelta(seconds=max(run // 3, 5))
        yield line(submit, first_start, first_end, state)
        submit, state = first_end, "COMPLETED"
    never_ran = state == "CANCELLED" and rng.random() < 0.25
    if never_ran:
        start, end = None, submit + timedelta(seconds=wait // 2)
    else:
        start = submit + timedelta(seconds=wait)
        end = start + timedelta(seconds=run)
    yield line(submit, start, end, state)


def _line(
    rng: random.Random,
    cluster: str,
    label: str,
    raw: int,
    part: Partition,
    account: str,
    person: _Person,
    submit: datetime,
    start: datetime | None,
    end: datetime,
    state: str,
    nodes: int,
    cpus: int,
    gpus: int,
    limit: int,
) -> str:
    ran = start is not None
    elapsed = int((end - start).total_seconds()) if start is not None else 0
    if state == "CANCELLED":
        state = f"CANCELLED by {person.uid if rng.random() < 0.9 else 0}"
    per_cpu = rng.random() < 0.3
    mem_mb = (
        (part.mem_gb * 1024 // part.cores) * (cpus // nodes)
        if per_cpu
        else rng.choice((4000, 8000, 16000, 64000, part.mem_gb * 1000))
    )
    reqmem = f"{mem_mb // max(cpus // nodes, 1)}Mc" if per_cpu else f"{mem_mb}Mn"
    total_mem = mem_mb * nodes
    gres = ""
    if gpus:
        gres = (
            f"gres/gpu:{part.gpu_type}={gpus},gres/gpu={gpus},"
            if rng.random() < 0.7
            else f"gres/gpu={gpus},"
        )
    reqtres = f"cpu={cpus},{gres}mem={total_mem}M,node={nodes}"
    alloctres = f"billing={cpus},cpu={cpus},{gres}mem={total_mem}M,node={nodes}" if ran else ""
    first_node = rng.randrange(1, part.nodes - nodes + 2)
    nodelist = _hostlist(part.prefix, first_node, nodes) if ran else "None assigned"
    exit_code = "0:0" if state == "COMPLETED" else rng.choice(("1:0", "0:9", "2:0", "0:15"))
    fields = (
        label,
        str(raw),
        cluster,
        part.name,
        rng.choice(QOS),
        account,
        account,
        str(50000 + zlib.crc32(account.encode()) % 1000),
        person.name,
        str(person.uid),
        _ts(submit),
        _ts(submit),
        _ts(start) if start else "Unknown",
        _ts(end),
        _hms(elapsed),
        exit_code,
        state,
        str(nodes if ran else 0),
        str(cpus if ran else 0),
        str(cpus),
        reqmem,
        reqtres,
        alloctres,
        _hms(limit),
        nodelist,
        f"job-{rng.getrandbits(32):08x}",
    )
    return "|".join(fields)


def write(out: TextIO, jobs: int, **options: object) -> int:
    """Write ``jobs`` lines to ``out``; returns the count written."""
    count = 0
    for line in generate(jobs, **options):  # type: ignore[arg-type]
        out.write(line)
        out.write("\n")
        count += 1
    return count
