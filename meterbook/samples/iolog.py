"""A generator of realistic NFS IO logs (bpftrace histograms, one block per hour).

Deterministic for a seed. Users have roles (stud, staff, guest, ueb) and affiliations, and a
few change role during the year; machines belong to groups; activity follows working hours and
weekdays; each (user, machine) pair that is active in an hour writes a read and often a write
histogram of request sizes, around a size the user tends to use, with the heavy tail of real
file servers (now and then a user above 250,000 operations in an hour). Output has the real
layout: local time and epoch in block headers, padded columns, interior zero buckets, ``[0]``
and ``[1]`` buckets, bars scaled to the largest count.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from meterbook.connectors.iolog.parse import bucket_label

ZONE = ZoneInfo("Europe/Zurich")
GROUPS = ("tik", "itet", "infk", "mavt", "phys", "math", "biol")
ROLES = (("stud", 0.55), ("staff", 0.30), ("guest", 0.10), ("ueb", 0.05))
_FIRST = "abcdefghjklmnprstvwz"
_LAST = (
    "muller", "meier", "schmid", "keller", "weber", "huber", "frei", "baumann", "fischer",
    "brunner", "gerber", "moser", "wyss", "zimmermann", "graf", "roth", "bieri", "kunz",
)  # fmt: skip
BAR = 52


@dataclass
class _User:
    name: str
    role: str
    affiliation: str
    machines: tuple[str, ...]
    size: float  # log2 of the request size this user tends to use
    activity: float
    role_change: tuple[int, str] | None  # (block index, new role)


def _users(rng: random.Random, count: int, machines: list[tuple[str, str]]) -> list[_User]:
    out = []
    names: set[str] = set()
    for _ in range(count):
        name = f"{rng.choice(_FIRST)}{rng.choice(_LAST)}"
        while name in names:
            name = f"{name[:12]}{rng.randint(2, 99)}"
        names.add(name)
        affiliation = rng.choice(GROUPS)
        role = rng.choices([r for r, _ in ROLES], [w for _, w in ROLES])[0]
        own = [m for m, g in machines if g == affiliation] or [m for m, _ in machines]
        mine = tuple(rng.sample(own, k=min(len(own), rng.choice((1, 1, 2, 3)))))
        if rng.random() < 0.5:
            mine += (rng.choice([m for m, _ in machines if m.startswith("login")] or [mine[0]]),)
        change = None
        if role == "stud" and rng.random() < 0.08:
            change = (rng.randrange(1000, 8000), "staff")
        out.append(_User(name, role, affiliation, mine, rng.gauss(14.0, 1.6),
                         rng.paretovariate(1.3), change))  # fmt: skip
    return out


def _machines(rng: random.Random, count: int) -> list[tuple[str, str]]:
    out = []
    for i in range(count):
        group = GROUPS[i % len(GROUPS)]
        kind = ("gpu", "cpu", "login", "ws")[rng.choices(range(4), (3, 4, 1, 2))[0]]
        name = f"{kind}-{chr(97 + i % 5)}{i:02d}" if kind == "login" else f"{kind}{i:02d}"
        out.append((name, group))
    return out


def _histogram(rng: random.Random, ops: int, center: float) -> dict[int, int]:
    """Operations spread over power-of-two buckets around 2**center, with small requests."""
    spread = rng.uniform(0.8, 2.2)
    weights = {}
    for k in range(2, 36):
        weights[k] = math.exp(-(((k - 1 - center) / spread) ** 2) / 2)
    if rng.random() < 0.12:  # now and then a few empty or one-byte requests
        weights[0] = 0.002
        weights[1] = 0.004
    total = sum(weights.values())
    counts = {}
    for k, w in weights.items():
        expected = ops * w / total
        n = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        if n:
            counts[k] = n
    return counts


def _lines(direction: str, machine: str, group: str, user: _User, role: str,
           counts: dict[int, int]) -> list[str]:  # fmt: skip
    lines = [f"@{direction}_client({machine},{group})[{user.name}({role}/{user.affiliation})]:"]
    low, high = min(counts), max(counts)
    peak = max(counts.values())
    for k in range(low, high + 1):
        n = counts.get(k, 0)
        bar = "@" * round(BAR * n / peak)
        lines.append(f"{bucket_label(k):<18}{n:>8} |{bar:<{BAR}}|")
    return lines


def blocks(
    hours: int,
    *,
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    users: int = 300,
    machines: int = 40,
    seed: int = 11,
) -> Iterator[str]:
    """Yield ``hours`` blocks of log text, one per hour from ``start``."""
    rng = random.Random(seed)
    hosts = _machines(rng, machines)
    groups = dict(hosts)
    people = _users(rng, users, hosts)
    for index in range(hours):
        moment = start + timedelta(hours=index, minutes=1, seconds=9 + rng.randint(-3, 3))
        local = moment.astimezone(ZONE)
        busy = 0.04 + 0.22 * math.exp(-(((local.hour - 14) / 4.0) ** 2))
        if local.weekday() >= 5:
            busy *= 0.35
        text = [f"Log: {local:%Y-%m-%d %H:%M:%S} ({int(moment.timestamp())})"]
        for user in people:
            if rng.random() > busy * min(user.activity, 4.0) / 1.6:
                continue
            role = user.role
            if user.role_change and index >= user.role_change[0]:
                role = user.role_change[1]
            for machine in rng.sample(user.machines, k=1 if rng.random() < 0.75 else
                                      min(2, len(user.machines))):  # fmt: skip
                heavy = rng.random() < 0.002
                ops = int(rng.lognormvariate(math.log(1500), 1.8)) + 1
                if heavy:
                    ops = rng.randint(300_000, 2_000_000)
                center = user.size + rng.gauss(0, 0.7)
                for direction, chance, share in (("rd", 0.85, 1.0), ("wr", 0.6, 0.4)):
                    if rng.random() < chance:
                        counts = _histogram(rng, max(int(ops * share), 1), center)
                        if counts:
                            text += _lines(direction, machine, groups[machine], user, role,
                                           counts)  # fmt: skip
        yield "\n".join(text) + "\n"


def write_files(
    folder: Path, hours: int, *, rotate_days: int = 7, name: str = "nfsdiostats", **options: object
) -> list[Path]:
    """Write ``hours`` of blocks into files rotated every ``rotate_days`` days, named
    ``<name>-YYYY-MM-DD.log`` after their first day; returns the files in order."""
    folder.mkdir(parents=True, exist_ok=True)
    start = options.get("start", datetime(2025, 1, 1, tzinfo=UTC))
    assert isinstance(start, datetime)
    files: list[Path] = []
    out = None
    per_file = rotate_days * 24
    try:
        for index, block in enumerate(blocks(hours, **options)):  # type: ignore[arg-type]
            if index % per_file == 0:
                if out is not None:
                    out.close()
                day = (start + timedelta(hours=index)).astimezone(ZONE)
                path = folder / f"{name}-{day:%Y-%m-%d}.log"
                files.append(path)
                out = path.open("w", encoding="utf-8")
                out.write("Attaching 4 probes...\n")
            assert out is not None
            out.write(block)
    finally:
        if out is not None:
            out.close()
    return files
