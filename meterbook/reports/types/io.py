"""The IO report: the NFS IO dashboard for a period (totals, users, machines, time series,
patterns, size distributions, heavy users), from the queries of ``meterbook io``."""

from __future__ import annotations

from meterbook.reports import charts
from meterbook.reports.model import Column, Headline, Section, Table
from meterbook.reports.types import Context, ReportType, register
from meterbook.reports.types.common import total_row
from meterbook.store.queries import io as q

GIB = 2**30
OPS = [
    Column("read_ops", "read ops", "int"),
    Column("write_ops", "write ops", "int"),
    Column("ops", "ops", "int"),
    Column("read_gib", "GiB read", "float"),
    Column("write_gib", "GiB written", "float"),
]


def _scope(ctx: Context) -> q.IoScope:
    return q.IoScope(ctx.period, ctx.zone)


def _ops(row: q.Ops) -> list[object]:
    return [row.read_ops, row.write_ops, row.ops, row.read_bytes / GIB, row.write_bytes / GIB]


def totals(ctx: Context) -> Section:
    stats = q.io_stats(ctx.conn, _scope(ctx))
    ctx.headlines += [
        Headline("IO operations", stats.ops, "int"),
        Headline("Users", stats.users, "int"),
        Headline("Machines", stats.machines, "int"),
        Headline("GiB moved", stats.bytes / GIB, "float"),
    ]
    columns = [
        Column("blocks", "log blocks", "int"), Column("users", "users", "int"),
        Column("machines", "machines", "int"), Column("sessions", "sessions", "int"), *OPS,
        Column("first", "first", "datetime"), Column("last", "last", "datetime"),
    ]  # fmt: skip
    row = [stats.blocks, stats.users, stats.machines, stats.sessions, *_ops(stats),
           stats.first, stats.last]  # fmt: skip
    series = q.io_timeseries(ctx.conn, _scope(ctx), "day")
    ctx.rows_read += len(series)
    series_table = Table(
        "daily", "Operations by day with active users and machines",
        [Column("day", "day"), *OPS, Column("users", "users", "int"),
         Column("machines", "machines", "int")],
        [[p.time, *_ops(p), p.users, p.machines] for p in series],
        total_row("total", 1, [*_ops(stats), "", ""]),
    )  # fmt: skip
    points = [{"day": p.time, "kind": k, "ops": v} for p in series
              for k, v in (("read", p.read_ops), ("write", p.write_ops))]  # fmt: skip
    active = [{"day": p.time, "what": k, "count": v} for p in series
              for k, v in (("users", p.users), ("machines", p.machines))]  # fmt: skip
    return Section(
        "totals", "Totals and time series",
        ["Operations are NFS requests; bytes are each size bucket's count times its lower "
         "bound, a floor rather than an exact volume."],
        [Table("totals", "Totals", columns, [row]), series_table],
        [charts.stacked("daily_ops", "Operations by day", points, x="day", y="ops",
                        y_title="operations", series="kind"),
         charts.line("daily_active", "Active users and machines by day", active, x="day",
                     y="count", y_title="active", series="what")],
    )  # fmt: skip


def users_and_machines(ctx: Context) -> Section:
    users = q.io_users(ctx.conn, _scope(ctx))
    machines = q.io_machines(ctx.conn, _scope(ctx))
    ctx.rows_read += len(users) + len(machines)
    stats = q.io_stats(ctx.conn, _scope(ctx))
    user_table = Table(
        "users", "Users",
        [Column("user", "user"), Column("role", "role"), Column("affiliation", "affiliation"),
         Column("sessions", "sessions", "int"), Column("machines", "machines", "int"), *OPS],
        [[u.user, u.role or "", u.affiliation or "", u.sessions, u.machines, *_ops(u)]
         for u in users],
        total_row("total", 5, _ops(stats)),
    )  # fmt: skip
    machine_table = Table(
        "machines", "Machines",
        [Column("machine", "machine"), Column("group", "group"),
         Column("sessions", "sessions", "int"), Column("users", "users", "int"), *OPS],
        [[m.machine, m.group or "", m.sessions, m.users, *_ops(m)] for m in machines],
        total_row("total", 4, _ops(stats)),
    )  # fmt: skip
    top = [{"user": u.user, "ops": u.ops} for u in users[:15]]
    return Section(
        "users", "Users and machines", [], [user_table, machine_table],
        [charts.bar("top_users", "Most active users (operations)", top, category="user",
                    value="ops", value_title="operations")],
    )  # fmt: skip


def patterns(ctx: Context) -> Section:
    hours, days = q.io_patterns(ctx.conn, _scope(ctx))
    columns = [Column("slot", "slot"), Column("blocks", "blocks", "int"),
               Column("avg_ops", "avg ops per block", "float"),
               Column("avg_users", "avg users per block", "float")]  # fmt: skip
    tables = [
        Table("hour_of_day", "Hour of day", columns,
              [[p.slot, p.blocks, p.avg_ops, p.avg_users] for p in hours]),
        Table("day_of_week", "Day of week", columns,
              [[p.slot, p.blocks, p.avg_ops, p.avg_users] for p in days]),
    ]  # fmt: skip
    return Section(
        "patterns", "Patterns", [], tables,
        [charts.bar("hour_of_day", "Average operations per hour block by hour of day",
                    [{"hour": p.slot, "ops": p.avg_ops} for p in hours], category="hour",
                    value="ops", value_title="operations", horizontal=False),
         charts.bar("day_of_week", "Average operations per hour block by day of week",
                    [{"day": p.slot, "ops": p.avg_ops} for p in days], category="day",
                    value="ops", value_title="operations", horizontal=False)],
    )  # fmt: skip


def sizes(ctx: Context) -> Section:
    tables = []
    for by, label in ((None, "overall"), ("role", "role"), ("group", "machine group")):
        rows = q.io_sizes(ctx.conn, _scope(ctx), by)
        ctx.rows_read += len(rows)
        tables.append(
            Table(
                f"sizes_{by or 'overall'}",
                f"IO size distribution, {label}",
                [Column("group", label), Column("bucket", "size"),
                 Column("read_ops", "read ops", "int"), Column("write_ops", "write ops", "int")],
                [[r.group, r.bucket, r.read_ops, r.write_ops] for r in rows],
            )
        )  # fmt: skip
    overall = [{"size": r[1], "ops": r[2] + r[3]} for r in tables[0].rows]
    return Section(
        "sizes", "IO sizes", [], tables,
        [charts.bar("sizes", "Operations by request size", overall, category="size",
                    value="ops", value_title="operations", horizontal=False)],
    )  # fmt: skip


def heavy(ctx: Context) -> Section:
    threshold = ctx.settings.io_heavy_threshold
    rows = q.io_heavy(ctx.conn, _scope(ctx), threshold)
    history = q.io_history(ctx.conn, _scope(ctx), 5)
    ctx.rows_read += len(rows) + len(history)
    columns = [Column("time", "hour"), Column("user", "user"),
               Column("read_ops", "read ops", "int"), Column("write_ops", "write ops", "int"),
               Column("ops", "ops", "int"), Column("machines", "machines")]  # fmt: skip

    def cells(r: q.BlockUserRow) -> list[object]:
        return [r.time, r.user, r.read_ops, r.write_ops, r.ops, r.machines]

    return Section(
        "heavy", "Heavy users",
        [f"Users above {threshold:,} operations in an hour block."],
        [Table("heavy", "Users over the hourly threshold", columns, [cells(r) for r in rows]),
         Table("history", "Top users of each hour block", [Column("rank", "rank", "int"),
               *columns], [[r.rank, *cells(r)] for r in history], data_only=True)],
    )  # fmt: skip


register(
    ReportType(
        "io",
        "IO report",
        "The NFS IO dashboard: totals, users, machines, time series, patterns, sizes",
        [totals, users_and_machines, patterns, sizes, heavy],
        source_data=("io",),
        source_kinds=("iolog",),
        team_scoped=False,
    )
)
