"""Session fixtures built once for the whole test session, however many xdist workers run it.

Each xdist worker is its own process with its own session fixtures, so a training run in a
session fixture would otherwise be repeated by every worker that needs it. `build_once`
puts the result in a directory all workers of the session share (the parent of each
worker's base temp directory); the first worker to ask builds it under a file lock and the
others wait for it and read it.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import shutil
from collections.abc import Callable


def shared_root(tmp_path_factory) -> pathlib.Path:
    """The session's directory every worker sees (the base temp directory without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(tmp_path_factory, name: str, build: Callable[[str], object]) -> pathlib.Path:
    """`build(directory)` once per session; returns the directory (treat it as read-only).

    A build that raised leaves no marker: the next caller starts again from an empty
    directory (and fails the same way, in its own test).
    """
    root = shared_root(tmp_path_factory)
    directory, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file closes.
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            build(str(directory))
            done.touch()
    return directory
