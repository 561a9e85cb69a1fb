"""`meterbook` for a benchmark: commands, and `serve` on a free port, plain HTTP, stopped at
the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def meterbook(*args: str, cwd: Path | None = None, stdin: str | None = None) -> str:
    """The output of `meterbook ARGS` (run in ``cwd``); a failure stops the benchmark."""
    done = subprocess.run(
        [sys.executable, "-m", "meterbook", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"meterbook {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(
    options: Sequence[str] = (), cwd: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The base address and process of `meterbook [options] serve`, once it answers; the
    session cookie is not `Secure` (plain HTTP on 127.0.0.1). Stopped with Ctrl-C at the end."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "meterbook", *options, "serve", "--port", str(port)],
        cwd=cwd,
        env={**os.environ, "MB_WEB_COOKIE_SECURE": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/api/v1/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, server
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
