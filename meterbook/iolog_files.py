"""Moving imported IO logs to an archive folder, under names that say which days they hold."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from meterbook.connectors.iolog import FileState
from meterbook.errors import InputError


def fully_imported(state: FileState) -> bool:
    """Whether everything the file holds now is in the ledger (the same file, read to its end)."""
    try:
        stat = Path(state.path).stat()
    except OSError:
        return False
    return (stat.st_dev, stat.st_ino, stat.st_size) == (state.device, state.inode, state.offset)


def archive_name(state: FileState, zone: tzinfo) -> str:
    """``<source>-<YYYY-MM-DD of the last block>.log``."""
    if state.last_block_ts is None:
        day = datetime.fromtimestamp(Path(state.path).stat().st_mtime, UTC)
    else:
        day = datetime.fromtimestamp(state.last_block_ts, UTC)
    return f"{state.source}-{day.astimezone(zone):%Y-%m-%d}.log"


def archive(state: FileState, folder: Path, zone: tzinfo) -> Path:
    """Move a completely imported file into ``folder``; never overwrites (adds ``-2``...)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = archive_name(state, zone)
    target = folder / name
    counter = 2
    while target.exists():
        target = folder / f"{name.removesuffix('.log')}-{counter}.log"
        counter += 1
    try:
        shutil.move(state.path, target)
    except OSError as exc:
        raise InputError(f"{state.path}: cannot archive to {folder}: {exc.strerror}") from exc
    return target
