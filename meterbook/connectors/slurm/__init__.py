"""Slurm accounting (``sacct``): the Open XDMoD 26-field layout and ``sacct --parsable2``.

Natural key: cluster + ``JobIDRaw`` + submit time, stored as ``<Submit as written>/<JobIDRaw>``.
Slurm's own accounting database keys job records the same way (job id and submit time), so a
requeued job listed by ``--duplicates`` keeps each of its runs, while the same record seen
again in another file changes nothing.

Lines are parsed in blocks with pyarrow compute (see :mod:`meterbook.connectors.columns`);
each bad line still becomes a reject with its line number and the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import tzinfo
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from meterbook.connectors.base import (
    RECORD_SCHEMA,
    Connector,
    FieldError,
    InputFile,
    Item,
    RecordBatch,
)
from meterbook.connectors.columns import Problems, blank_to_null, integers, per_value, pick, times
from meterbook.connectors.slurm.parse import (
    expand_hostlist,
    parse_reqmem,
    parse_state,
    parse_time,
    parse_timelimit,
    parse_tres,
    summarize_tres,
)
from meterbook.errors import InputError

#: The fields of ``xdmod-slurm-helper``'s sacct call, in order (no header line).
XDMOD_FIELDS = (
    "jobid",
    "jobidraw",
    "cluster",
    "partition",
    "qos",
    "account",
    "group",
    "gid",
    "user",
    "uid",
    "submit",
    "eligible",
    "start",
    "end",
    "elapsed",
    "exitcode",
    "state",
    "nnodes",
    "ncpus",
    "reqcpus",
    "reqmem",
    "reqtres",
    "alloctres",
    "timelimit",
    "nodelist",
    "jobname",
)
_ALIASES = {"alloccpus": "ncpus", "allocnodes": "nnodes"}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_MAX_NAME = 255
BLOCK_LINES = 5000
_NULL = pa.scalar(None, pa.string())


def _epoch(text: str, zone: tzinfo) -> float | None:
    value = parse_time(text, zone)
    return None if value is None else value.timestamp()


def _tres_mem(text: str) -> float | None:
    mem = parse_tres(text).get("mem")
    return None if mem is None else summarize_tres(f"mem={mem}")[4]


class SlurmConnector(Connector):
    """Reads sacct output files (or stdin) into job records."""

    kind: ClassVar[str] = "slurm"
    natural_key: ClassVar[str] = "cluster + JobIDRaw + submit time"

    def __init__(self, files: list[str], *, zone: tzinfo, cluster: str | None = None) -> None:
        super().__init__()
        self.inputs = [InputFile.check(f) for f in files]
        self.zone = zone
        self.cluster = cluster

    def describe(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "timezone": str(self.zone)}

    def items(self) -> Iterator[Item]:
        for source in self.inputs:
            yield from self._read(source)

    def _read(self, source: InputFile) -> Iterator[Item]:
        header_line: str | None = None
        positions = list(range(len(XDMOD_FIELDS)))
        width = len(XDMOD_FIELDS)
        what = "Open XDMoD 26-field layout"
        lines: list[str] = []
        numbers: list[int] = []
        for number, line in source.lines():
            if number == 1:
                line = line.removeprefix("\ufeff")
            if number == 1 and (names := _header_names(line)):
                _check_header(source.name, names, self.cluster)
                header_line, width, what = line, len(names), "header"
                positions = [names.index(f) if f in names else -1 for f in XDMOD_FIELDS]
                continue
            if not line or line.isspace():
                self.skipped["blank lines"] += 1
                continue
            if line == header_line:
                self.skipped["repeated header lines"] += 1
                continue
            lines.append(line)
            numbers.append(number)
            if len(lines) >= BLOCK_LINES:
                yield from self._block(source.name, lines, numbers, positions, width, what)
                lines, numbers = [], []
        if lines:
            yield from self._block(source.name, lines, numbers, positions, width, what)

    def _block(
        self,
        file: str,
        lines: list[str],
        numbers: list[int],
        positions: list[int],
        width: int,
        what: str,
    ) -> Iterator[Item]:
        """Parse a block of lines; yield its rejects, then the good rows as one batch."""
        text = pa.array(lines, pa.string())
        parts = pc.split_pattern(text, "|")
        counts = pc.list_value_length(parts)
        problems = Problems()
        problems.add(
            pc.not_equal(counts, width),
            lambda i: f"expected {width} fields ({what}), found {counts[i].as_py()}",
        )
        # Short or long rows get empty fields so that every column has one value per line.
        padded = pc.if_else(
            pc.equal(counts, width), parts, pa.scalar([""] * width, pa.list_(pa.string()))
        )
        empty = pa.nulls(len(lines), pa.string()).fill_null("")
        f = {
            name: pc.list_element(padded, p) if p >= 0 else empty
            for name, p in zip(XDMOD_FIELDS, positions, strict=True)
        }
        steps = pc.or_(pc.match_substring(f["jobid"], "."), pc.match_substring(f["jobidraw"], "."))
        steps = pc.and_(steps, pc.equal(counts, width))
        step_count = pc.sum(steps).as_py() or 0
        if step_count:
            self.skipped["job steps (folded into their job)"] += step_count
        table = self._columns(f, text, problems)
        problems.forget(steps)
        yield from problems.rejects(file, numbers, lines)
        keep = pc.and_(problems.keep_mask(len(lines)), pc.invert(steps))
        yield RecordBatch(table.filter(keep))

    def _columns(self, f: dict[str, pa.Array], text: pa.Array, problems: Problems) -> pa.Table:
        n = len(text)
        zone = self.zone
        job = pc.coalesce(blank_to_null(f["jobidraw"]), blank_to_null(f["jobid"]))
        problems.add(pc.is_null(job), lambda i: "JobID: empty")
        if self.cluster:
            cluster = pa.array([self.cluster] * n, pa.string())
        else:
            cluster = blank_to_null(f["cluster"])
            problems.add(pc.is_null(cluster), lambda i: "Cluster: empty (pass --cluster)")
        submit = times(f["submit"], "Submit", zone, problems, _epoch)
        eligible = times(f["eligible"], "Eligible", zone, problems, _epoch)
        start = times(f["start"], "Start", zone, problems, _epoch)
        end = times(f["end"], "End", zone, problems, _epoch)
        problems.add(
            pc.less(end, start), lambda i: f"End {f['end'][i]} is before Start {f['start'][i]}"
        )
        states, at = per_value(f["state"], "State", parse_state, problems)
        tres, tat = per_value(
            f["alloctres"], "AllocTRES", lambda t: summarize_tres(t) if t else (None,) * 5, problems
        )
        ncpus = integers(f["ncpus"], "NCPUS", problems)
        nnodes = integers(f["nnodes"], "NNodes", problems)
        uid = integers(f["uid"], "UID", problems)
        limits, lat = per_value(f["timelimit"], "Timelimit", parse_timelimit, problems)
        # A count of 0 or none (a job that never ran, or no such column) defers to AllocTRES.
        cpus = pc.if_else(_positive(ncpus), ncpus, pick(tres, tat, 0, pa.int64()))
        nodes = pc.if_else(_positive(nnodes), nnodes, pick(tres, tat, 1, pa.int64()))
        hosts = pc.if_else(
            pc.starts_with(f["nodelist"], "None"), _NULL, blank_to_null(f["nodelist"])
        )
        nodes = self._nodes_from_hosts(nodes, hosts, problems)
        mem = pc.coalesce(
            pick(tres, tat, 4, pa.float64()), self._requested_memory(f, cpus, nodes, problems)
        )
        # The submit time as written (so that a file imported again with another --timezone
        # updates its records instead of adding them again), first: keys then grow with time
        # and the unique index is appended to rather than split all over.
        written = pc.if_else(pc.is_valid(submit), f["submit"], _NULL)
        key = pc.coalesce(
            pc.binary_join_element_wise(written, job, "/", null_handling="emit_null"), job
        )
        for column, name, limit in (
            (key, "JobID", 190),
            (cluster, "Cluster", 120),
            (f["user"], "User", 120),
            (f["account"], "Account", 120),
            (f["group"], "Group", 120),
            (f["partition"], "Partition", 120),
            (f["qos"], "QOS", 120),
        ):
            problems.add(pc.greater(pc.utf8_length(column), limit), _always(name, limit))
        reqmem = blank_to_null(f["reqmem"])
        attrs = pc.binary_join_element_wise(
            '{"reqmem":"',
            pc.replace_substring(pc.replace_substring(reqmem, "\\", "\\\\"), '"', '\\"'),
            '"}',
            "",
        )
        columns = {
            "source": cluster,
            "key": key,
            "resource": cluster,
            "workload_type": pa.array(["job"] * n, pa.string()),
            "state": pick(states, at, 0, pa.string()),
            "user": blank_to_null(f["user"]),
            "uid": uid,
            "project": blank_to_null(f["account"]),
            "group": blank_to_null(f["group"]),
            "partition": blank_to_null(f["partition"]),
            "qos": blank_to_null(f["qos"]),
            "state_reason": pick(states, at, 1, pa.string()),
            "name": blank_to_null(pc.utf8_slice_codeunits(f["jobname"], 0, _MAX_NAME)),
            "submit_ts": submit,
            "eligible_ts": eligible,
            "start_ts": start,
            "end_ts": end,
            "timelimit_s": pick(limits, lat, None, pa.int64()),
            "cpus": pc.cast(cpus, pa.float64()),
            "gpus": pc.cast(pick(tres, tat, 2, pa.int64()), pa.float64()),
            "gpu_type": pick(tres, tat, 3, pa.string()),
            "nodes": nodes,
            "mem_gb": mem,
            "io_ops": pa.nulls(n, pa.int64()),
            "cost": pa.nulls(n, pa.decimal128(18, 6)),
            "currency": pa.nulls(n, pa.string()),
            "exit_code": blank_to_null(pc.utf8_slice_codeunits(f["exitcode"], 0, 32)),
            "hosts": hosts,
            "attrs": attrs,
            # What shapes a record: its line, the zone it was read in and its cluster.
            "fingerprint": pc.binary_join_element_wise(text, str(zone), cluster, "\x1f"),
        }
        return pa.table(columns, schema=RECORD_SCHEMA)

    @staticmethod
    def _nodes_from_hosts(nodes: pa.Array, hosts: pa.Array, problems: Problems) -> pa.Array:
        """Count the host list where no node count was given."""
        missing = pc.and_(pc.is_null(nodes), pc.is_valid(hosts))
        if not pc.any(missing).as_py():
            return nodes
        values = nodes.to_pylist()
        for row in pc.indices_nonzero(missing).to_pylist():
            try:
                values[row] = len(expand_hostlist(hosts[row].as_py())) or None
            except FieldError as exc:
                problems.add_row(row, f"NodeList: {exc}")
        return pa.array(values, pa.int64())

    @staticmethod
    def _requested_memory(
        f: dict[str, pa.Array], cpus: pa.Array, nodes: pa.Array, problems: Problems
    ) -> pa.Array:
        """Memory (GiB) when AllocTRES has none: ReqTRES ``mem=``, else ReqMem."""
        tres_mem, at = per_value(f["reqtres"], "ReqTRES", _tres_mem, problems)
        from_tres = pick(tres_mem, at, None, pa.float64())
        reqmem, rat = per_value(f["reqmem"], "ReqMem", parse_reqmem, problems)
        amount = pick(reqmem, rat, 0, pa.float64())
        per_cpu = pc.equal(pick(reqmem, rat, 1, pa.string()), "c")
        count = pc.cast(pc.if_else(per_cpu, cpus, nodes), pa.float64())
        return pc.coalesce(from_tres, pc.multiply(amount, count))


def _always(name: str, limit: int) -> Callable[[int], str]:
    return lambda _row: f"{name}: longer than {limit} characters"


def _positive(counts: pa.Array) -> pa.Array:
    return pc.fill_null(pc.greater(counts, 0), False)


def _header_names(line: str) -> tuple[str, ...] | None:
    names = line.split("|")
    if not all(_NAME.fullmatch(n) for n in names):
        return None
    lowered = tuple(_ALIASES.get(n.lower(), n.lower()) for n in names)
    if "jobid" not in lowered and "jobidraw" not in lowered:
        return None
    return lowered


def _check_header(name: str, fields: tuple[str, ...], cluster: str | None) -> None:
    missing = [f for f in ("start", "end", "state") if f not in fields]
    if "ncpus" not in fields and "alloctres" not in fields:
        missing.append("AllocCPUS or AllocTRES")
    if "cluster" not in fields and cluster is None:
        missing.append("Cluster (or pass --cluster)")
    if missing:
        raise InputError(f"{name}: line 1: header lacks {', '.join(missing)}")
