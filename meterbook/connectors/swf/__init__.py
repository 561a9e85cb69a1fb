"""Standard Workload Format traces (the Parallel Workloads Archive), plain or gzip.

Natural key: trace name + job number. Header comments (``; Name: value``) are honoured:
``UnixStartTime`` anchors every time, ``Computer`` names the resource, ``Queue:`` and
``Partition:`` lines name queues and partitions, ``MaxProcs`` bounds processor counts and
``TimeZoneString`` is kept with the run. Unknown values (``-1``) stay unknown: a job without a
wait time has no submit time (so no wait), one without a run time has no start or end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from meterbook.connectors.base import Connector, InputFile, Item, Reject, UsageRecord
from meterbook.errors import InputError

_STATUS = {
    "1": "COMPLETED",
    "0": "FAILED",
    "5": "CANCELLED",
    "2": "PARTIAL",
    "3": "PARTIAL",
    "4": "PARTIAL",
}
_HEADER = re.compile(r";\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$")
_NAMED = re.compile(r"(-?\d+)\s+(\S+)")
_KB_PER_GB = 1024.0**2


class SwfConnector(Connector):
    """Reads one or more SWF traces into job records."""

    kind: ClassVar[str] = "swf"
    natural_key: ClassVar[str] = "trace name + job number"

    def __init__(
        self,
        files: list[str],
        *,
        trace: str | None = None,
        cluster: str | None = None,
        prefix: str = "",
    ) -> None:
        super().__init__()
        if trace and len(files) > 1:
            raise InputError("--trace names one trace: give one file with it")
        self.inputs = [InputFile.check(f) for f in files]
        self.trace = trace
        self.cluster = cluster
        self.prefix = prefix
        self.headers: dict[str, dict[str, str]] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "trace": self.trace,
            "cluster": self.cluster,
            "prefix": self.prefix,
            "headers": self.headers,
        }

    def items(self) -> Iterator[Item]:
        for source in self.inputs:
            yield from self._read(source)

    def _read(self, source: InputFile) -> Iterator[Item]:
        trace = self.trace or _trace_name(source.name)
        header: dict[str, str] = {}
        queues: dict[str, str] = {}
        partitions: dict[str, str] = {}
        self.headers[trace] = header
        origin: datetime | None = None
        max_procs: int | None = None
        for number, line in source.lines():
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith(";"):
                _read_header(stripped, header, queues, partitions)
                continue
            if origin is None:
                origin, max_procs = _origin(source.name, number, header)
            fields = stripped.split()
            if len(fields) != 18:
                yield Reject(source.name, number, f"expected 18 fields, found {len(fields)}", line)
                continue
            try:
                values = [int(f) for f in fields]
            except ValueError:
                bad = next(f for f in fields if not _is_int(f))
                yield Reject(source.name, number, f"not an integer: {bad!r}", line)
                continue
            reason = _invalid(values, max_procs)
            if reason:
                yield Reject(source.name, number, reason, line)
                continue
            resource = self.cluster or header.get("Computer") or trace
            yield self._record(trace, resource, origin, values, fields, queues, partitions)

    def _record(
        self,
        trace: str,
        resource: str,
        origin: datetime,
        v: list[int],
        raw: list[str],
        queues: dict[str, str],
        partitions: dict[str, str],
    ) -> UsageRecord:
        (
            _job,
            submit_s,
            wait_s,
            run_s,
            procs,
            cpu_used,
            mem_kb,
            req_procs,
            req_time,
            req_mem,
            status,
            uid,
            gid,
            exe,
            queue,
            partition,
            preceding,
            think,
        ) = v
        submitted = origin + timedelta(seconds=submit_s)
        start = submitted + timedelta(seconds=max(wait_s, 0)) if run_s >= 0 else None
        end = start + timedelta(seconds=run_s) if start is not None else None
        # Without a wait time the trace's "submit" is the start (as the NASA trace notes):
        # the submit time is then unknown rather than a wait of zero.
        submit = submitted if wait_s >= 0 or start is None else None
        cpus = procs if procs > 0 else (req_procs if req_procs > 0 else None)
        mem_per_proc = mem_kb if mem_kb >= 0 else (req_mem if req_mem >= 0 else None)
        mem_gb = mem_per_proc * cpus / _KB_PER_GB if mem_per_proc is not None and cpus else None
        extra = (
            ("avg_cpu_time_s", cpu_used),
            ("requested_procs", req_procs),
            ("requested_time_s", req_time),
            ("executable", exe),
            ("preceding_job", preceding),
            ("think_time_s", think),
            ("machine_partition", partition),
        )
        attrs: dict[str, Any] = {k: x for k, x in extra if x >= 0}
        if partition >= 0 and str(partition) in partitions:
            attrs["machine_partition_name"] = partitions[str(partition)]
        return UsageRecord(
            source=trace,
            key=raw[0],
            resource=resource,
            workload_type="job",
            state=_STATUS.get(str(status), "UNKNOWN"),
            user=f"{self.prefix}u{uid}" if uid >= 0 else None,
            uid=uid if uid >= 0 else None,
            project=f"{self.prefix}g{gid}" if gid >= 0 else None,
            group=f"{self.prefix}g{gid}" if gid >= 0 else None,
            partition=queues.get(str(queue), str(queue)) if queue >= 0 else None,
            submit=submit,
            start=start,
            end=end,
            timelimit_s=req_time if req_time >= 0 else None,
            cpus=cpus,
            nodes=None,
            mem_gb=mem_gb,
            attrs=attrs or None,
        )


def _trace_name(path: str) -> str:
    if path == "-":
        raise InputError("stdin: pass --trace NAME to name the trace")
    name = Path(path).name
    for suffix in (".gz", ".swf"):
        name = name.removesuffix(suffix)
    return name


def _read_header(
    line: str, header: dict[str, str], queues: dict[str, str], partitions: dict[str, str]
) -> None:
    m = _HEADER.match(line)
    if m is None:
        return
    name, value = m.groups()
    if name in ("Queue", "Partition") and (named := _NAMED.match(value)):
        (queues if name == "Queue" else partitions)[named[1]] = named[2]
    elif name not in ("Note", "Information"):
        header.setdefault(name, value)


def _origin(file: str, line: int, header: dict[str, str]) -> tuple[datetime, int | None]:
    text = header.get("UnixStartTime")
    if text is None:
        raise InputError(f"{file}: line {line}: no '; UnixStartTime:' header before the jobs")
    try:
        origin = datetime.fromtimestamp(int(text), UTC)
    except ValueError:
        raise InputError(f"{file}: UnixStartTime {text!r} is not an integer") from None
    procs = header.get("MaxProcs")
    return origin, int(procs) if procs and procs.isdigit() else None


def _invalid(v: list[int], max_procs: int | None) -> str | None:
    if v[0] < 0:
        return "job number is negative"
    if v[1] < 0:
        return "submit time is unknown"
    if max_procs is not None and v[4] > max_procs:
        return f"{v[4]} allocated processors exceed MaxProcs {max_procs}"
    return None


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
