"""``meterbook import iolog`` and ``meterbook io ...``: NFS IO logs and their dashboard."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from meterbook.cli.context import AppContext, F, pass_app, stacked
from meterbook.cli.imports import common, import_, report_import
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.connectors.iolog import IoLogConnector
from meterbook.errors import ConfigError
from meterbook.iolog_files import archive, fully_imported
from meterbook.periods import resolve_period
from meterbook.store.io_ingest import move_file
from meterbook.store.queries import io as q


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM: following stops after the current transaction."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@import_.command(epilog="""\b
Examples:
  meterbook import iolog /srv/nfsdiostats/                  every *.log, in time order
  meterbook import iolog nfsdiostats.log --archive /srv/archive/nfs
  meterbook import iolog /var/log/nfsdiostats.log --follow  keep importing (a service)
""")  # fmt: skip
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...")
@click.option(
    "--source",
    metavar="NAME",
    help="Name of the log stream (default: the file name without date or rotation).",
)
@click.option(
    "--archive",
    "archive_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Move each completely imported file here (date-suffixed).",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep watching and importing as files grow; stop with Ctrl-C or SIGTERM.",
)
@click.option("--settle", type=click.FloatRange(0), metavar="SECONDS",
              help="Import a file's last block once the file is this old "
                   "(default [iolog] settle_seconds, 120).")  # fmt: skip
@common
@pass_app
def iolog(app: AppContext, paths: tuple[str, ...], source: str | None, archive_dir: Path | None,
          follow: bool, settle: float | None, strict: bool, as_json: bool,
          batch_size: int | None) -> None:  # fmt: skip
    """Import NFS IO logs (bpftrace histograms of request sizes, one block an hour).

    Reads and writes histograms per machine and user; a file is read from where the last
    import stopped, and read again from the start when it was rotated or truncated (blocks
    already stored are then unchanged). A directory means every *.log in it, oldest first.
    """
    if follow and archive_dir is not None:
        raise ConfigError("--archive and --follow do not go together: a followed file still grows")
    settings = app.settings()
    store = app.store()
    with store.engine.connect() as conn:
        known = q.file_states(conn)
    with _stop_on_signals() as stop:
        connector = IoLogConnector(
            list(paths), source=source, known=known, stop=stop, follow=follow,
            settle=settings.iolog_settle if settle is None else settle, poll=settings.iolog_poll,
        )  # fmt: skip
        report_import(app, connector, strict, as_json, batch_size)
    if archive_dir is None:
        return
    with store.engine.connect() as conn:
        stored = q.file_states(conn)
    for path in connector.files():
        state = stored.get(path)
        if state is None or not fully_imported(state):
            if not as_json:
                click.echo(f"kept {path}: not completely imported yet")
            continue
        target = archive(state, archive_dir, store.zone)
        with store.engine.begin() as conn:
            move_file(conn, state.path, str(target.resolve()))
        if not as_json:
            click.echo(f"archived {path} -> {target}")


# -- the dashboard ------------------------------------------------------------------------------


#: The options every IO view takes.
scope_options = stacked(
    click.option("--period", metavar="P", help="2025, 2025-Q1, 2025-03 or 2025-03-07."),
    click.option("--from", "start", metavar="DATE", help="First day (with --to)."),
    click.option("--to", "end", metavar="DATE", help="Last day, inclusive."),
    click.option("--source", metavar="NAME", help="Only this log stream."),
    format_option,
)


def _scope(app: AppContext, period: str | None, start: str | None, end: str | None,
           source: str | None) -> q.IoScope:  # fmt: skip
    return q.IoScope(resolve_period(period, start, end), app.store().zone, source)


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return str(size)


def _emit(fmt: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], data: Any,
          title: str, numeric_from: int = 1) -> None:  # fmt: skip
    if fmt == "json":
        print_json(data)
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(columns, [[_human(v) if isinstance(v, _Bytes) else v for v in row]
                              for row in rows], title=title, numeric_from=numeric_from)  # fmt: skip
        if not rows:
            click.echo("no IO data in this period (see `meterbook imports`)")


class _Bytes(int):
    """A byte count: printed human-readable in tables, as a number in CSV and JSON."""


OPS = ("read ops", "write ops", "read bytes", "write bytes")


def _ops(row: q.Ops) -> tuple[int, int, _Bytes, _Bytes]:
    return row.read_ops, row.write_ops, _Bytes(row.read_bytes), _Bytes(row.write_bytes)


@click.group(epilog="""\b
Examples:
  meterbook io stats --period 2025-03
  meterbook io users --from 2025-03-01 --to 2025-03-07 --top 20
  meterbook io user alice --period 2025-03 --grain hour
  meterbook io sizes --period 2025 --by role
  meterbook io heavy --period 2025-03
""")  # fmt: skip
def io() -> None:
    """IO analytics of NFS logs: totals, users, machines, sizes, time series, patterns.

    Operations are NFS requests; bytes are counted at each size bucket's lower bound
    ([16K, 32K) counts 16 KiB a request), so they are a floor, not an exact volume.
    """


@io.command(epilog="Example:\n\n  meterbook io stats --period 2025-03 --format json")
@scope_options
@pass_app
def stats(app: AppContext, period: str | None, start: str | None, end: str | None,
          source: str | None, fmt: str) -> None:  # fmt: skip
    """Totals: blocks, users, machines, sessions, operations and bytes, first and last block."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        s = q.io_stats(conn, scope)
    fields = [("blocks", s.blocks), ("users", s.users), ("machines", s.machines),
              ("sessions", s.sessions), ("read ops", s.read_ops), ("write ops", s.write_ops),
              ("read bytes", _Bytes(s.read_bytes)), ("write bytes", _Bytes(s.write_bytes)),
              ("first block", s.first.isoformat() if s.first else ""),
              ("last block", s.last.isoformat() if s.last else "")]  # fmt: skip
    data = {**asdict(s), "first": fields[8][1], "last": fields[9][1]}
    _emit(fmt, ["measure", "value"], fields, data, f"IO {scope.period.label}", 99)


@io.command(epilog="Example:\n\n  meterbook io users --period 2025-03 --top 10")
@scope_options
@click.option("--top", type=click.IntRange(1), metavar="N", help="Only the N most active.")
@pass_app
def users(app: AppContext, period: str | None, start: str | None, end: str | None,
          source: str | None, fmt: str, top: int | None) -> None:  # fmt: skip
    """Users by operations: role, affiliation, sessions (machine-hours), machines, IO."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        rows = q.io_users(conn, scope, top)
    columns = ["user", "role", "affiliation", "sessions", "machines", *OPS]
    table = [(r.user, r.role or "", r.affiliation or "", r.sessions, r.machines, *_ops(r))
             for r in rows]  # fmt: skip
    _emit(fmt, columns, table, [asdict(r) for r in rows], f"IO users {scope.period.label}", 3)


@io.command(epilog="Example:\n\n  meterbook io machines --period 2025-03")
@scope_options
@click.option("--top", type=click.IntRange(1), metavar="N", help="Only the N most active.")
@pass_app
def machines(app: AppContext, period: str | None, start: str | None, end: str | None,
             source: str | None, fmt: str, top: int | None) -> None:  # fmt: skip
    """Machines by operations: group, sessions (user-hours), users, IO."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        rows = q.io_machines(conn, scope, top)
    columns = ["machine", "group", "sessions", "users", *OPS]
    table = [(r.machine, r.group or "", r.sessions, r.users, *_ops(r)) for r in rows]
    _emit(fmt, columns, table, [asdict(r) for r in rows], f"IO machines {scope.period.label}", 2)


def _detail(fmt: str, detail: q.Detail, peer: str, part: str, title: str) -> None:
    peers = [(p.user, p.sessions, *_ops(p)) for p in detail.peers]
    sizes = [(s.bucket, s.low_bytes, s.read_ops, s.write_ops) for s in detail.sizes]
    series = [(p.time, *_ops(p)) for p in detail.series]
    if fmt == "json":
        print_json({"name": detail.name, "total": asdict(detail.total),
                    f"{peer}s": [asdict(p) | {peer: p.user} for p in detail.peers],
                    "sizes": [asdict(s) for s in detail.sizes],
                    "series": [asdict(p) for p in detail.series]})  # fmt: skip
        return
    parts: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {
        f"{peer}s": ([peer, "sessions", *OPS], peers),
        "sizes": (["bucket", "low bytes", "read ops", "write ops"], sizes),
        "series": (["time", *OPS], series),
    }
    if fmt == "csv":
        columns, rows = parts[part if part != "peers" else f"{peer}s"]
        print_csv(columns, rows)
        return
    for name, (columns, rows) in parts.items():
        _emit("table", columns, rows, None, f"{title}: {name}")


def detail_options(peers: str) -> Callable[[F], F]:
    """``--grain`` and ``--part``, the options of one user's or one machine's view."""
    return stacked(
        click.option("--grain", type=click.Choice(q.GRAINS), default="day", show_default=True),
        click.option(
            "--part", type=click.Choice(("peers", "sizes", "series")), default="series",
            show_default=True, help=f"Which table --format csv prints (peers: {peers}).",
        ),
    )  # fmt: skip


@io.command(epilog="Example:\n\n  meterbook io user alice --period 2025-03 --grain hour")
@click.argument("name")
@scope_options
@detail_options("machines")
@pass_app
def user(app: AppContext, name: str, period: str | None, start: str | None, end: str | None,
         source: str | None, fmt: str, grain: str, part: str) -> None:  # fmt: skip
    """One user: machines used, request sizes, and a zero-filled time series."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        detail = q.io_user(conn, scope, name, grain)
    _detail(fmt, detail, "machine", part, f"IO of {name} {scope.period.label}")


@io.command(epilog="Example:\n\n  meterbook io machine gpu03 --period 2025-03")
@click.argument("name")
@scope_options
@detail_options("users")
@pass_app
def machine(app: AppContext, name: str, period: str | None, start: str | None, end: str | None,
            source: str | None, fmt: str, grain: str, part: str) -> None:  # fmt: skip
    """One machine: its users, request sizes, and a zero-filled time series."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        detail = q.io_machine(conn, scope, name, grain)
    _detail(fmt, detail, "user", part, f"IO of {name} {scope.period.label}")


@io.command(epilog="Example:\n\n  meterbook io timeseries --period 2025-03 --grain hour")
@scope_options
@click.option("--grain", type=click.Choice(q.GRAINS), default="day", show_default=True)
@pass_app
def timeseries(app: AppContext, period: str | None, start: str | None, end: str | None,
               source: str | None, fmt: str, grain: str) -> None:  # fmt: skip
    """Operations with active users and machines per hour (block), day or month."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        points = q.io_timeseries(conn, scope, grain)
    columns = [grain, *OPS, "users", "machines"]
    rows = [(p.time, *_ops(p), p.users, p.machines) for p in points]
    _emit(fmt, columns, rows, [asdict(p) for p in points], f"IO by {grain} {scope.period.label}")


@io.command(epilog="Example:\n\n  meterbook io patterns --period 2025")
@scope_options
@pass_app
def patterns(app: AppContext, period: str | None, start: str | None, end: str | None,
             source: str | None, fmt: str) -> None:  # fmt: skip
    """Average operations and active users per block, by hour of day and day of week."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        hours, days = q.io_patterns(conn, scope)
    columns = ["slot", "blocks", "avg ops", "avg users"]
    rows = [(r.slot, r.blocks, r.avg_ops, r.avg_users) for r in [*hours, *days]]
    data = {"hour_of_day": [asdict(r) for r in hours], "day_of_week": [asdict(r) for r in days]}
    _emit(fmt, columns, rows, data, f"IO patterns {scope.period.label}")


@io.command(epilog="Example:\n\n  meterbook io sizes --period 2025 --by group")
@scope_options
@click.option("--by", type=click.Choice(q.SIZE_GROUPS), help="One distribution per value.")
@pass_app
def sizes(app: AppContext, period: str | None, start: str | None, end: str | None,
          source: str | None, fmt: str, by: str | None) -> None:  # fmt: skip
    """Request sizes: operations per power-of-two bucket, read and write."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        rows = q.io_sizes(conn, scope, by)
    columns = [by or "all", "bucket", "low bytes", "read ops", "write ops"]
    table = [(r.group, r.bucket, r.low_bytes, r.read_ops, r.write_ops) for r in rows]
    _emit(fmt, columns, table, [asdict(r) for r in rows], f"IO sizes {scope.period.label}", 2)


@io.command(epilog="Example:\n\n  meterbook io top --blocks 24 --top 10")
@scope_options
@click.option(
    "--blocks",
    type=click.IntRange(1),
    default=24,
    show_default=True,
    help="How many of the latest blocks of the period.",
)
@click.option("--top", type=click.IntRange(1), default=10, show_default=True)
@pass_app
def top(app: AppContext, period: str | None, start: str | None, end: str | None,
        source: str | None, fmt: str, blocks: int, top: int) -> None:  # fmt: skip
    """The most active users over the latest blocks, with the machines they used."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        rows = q.io_top(conn, scope, blocks, top)
    _users_per_block(fmt, rows, f"Top users, {rows[0].time if rows else 'no blocks'}",
                     "machines used")  # fmt: skip


@io.command(epilog="Example:\n\n  meterbook io history --period 2025-03-07 --top 3")
@scope_options
@click.option("--top", type=click.IntRange(1), default=5, show_default=True)
@pass_app
def history(app: AppContext, period: str | None, start: str | None, end: str | None,
            source: str | None, fmt: str, top: int) -> None:  # fmt: skip
    """The top users of every block."""
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        rows = q.io_history(conn, scope, top)
    _users_per_block(fmt, rows, f"Top {top} users per block {scope.period.label}", "machines")


@io.command(epilog="Example:\n\n  meterbook io heavy --period 2025-03 --threshold 500000")
@scope_options
@click.option(
    "--threshold",
    type=click.IntRange(1),
    metavar="OPS",
    help="Operations in one block (an hour); default [iolog] heavy_ops_per_hour.",
)
@pass_app
def heavy(app: AppContext, period: str | None, start: str | None, end: str | None,
          source: str | None, fmt: str, threshold: int | None) -> None:  # fmt: skip
    """Users above a number of operations in an hour, every time it happened."""
    limit = threshold or app.settings().io_heavy_threshold
    scope = _scope(app, period, start, end, source)
    with app.store().engine.connect() as conn:
        rows = q.io_heavy(conn, scope, limit)
    _users_per_block(fmt, rows, f"Users above {limit:,} operations an hour", "machines")


def _users_per_block(fmt: str, rows: Sequence[q.BlockUserRow], title: str, machines: str) -> None:
    columns = ["block", "rank", "user", machines, *OPS]
    table = [(r.time, r.rank or "", r.user, r.machines, *_ops(r)) for r in rows]
    _emit(fmt, columns, table, [asdict(r) for r in rows], title, 4)


COMMANDS = (io,)
