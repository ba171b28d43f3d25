"""Scratch folders that a killed run cannot leave behind for good.

Each folder is named for the process that made it (``<prefix><pid>-<random>``); making a new
one first removes those of processes that are no longer running.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def fresh_dir(parent: Path | None, prefix: str) -> Path:
    """A new folder named for this process under ``parent`` (default: the system's temp
    folder); the folders that killed runs left under the same prefix are removed first."""
    root = Path(parent if parent is not None else tempfile.gettempdir())
    for stale in root.glob(f"{glob.escape(prefix)}*-*"):
        pid = stale.name[len(prefix) :].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root))


@contextlib.contextmanager
def temp_dir(parent: Path | None, prefix: str) -> Iterator[Path]:
    """``fresh_dir``, removed afterwards."""
    path = fresh_dir(parent, prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def tempdir(path: Path) -> Iterator[None]:
    """Python's temp files (copier's included) go under ``path`` meanwhile."""
    previous, tempfile.tempdir = tempfile.tempdir, str(path)
    try:
        yield
    finally:
        tempfile.tempdir = previous
