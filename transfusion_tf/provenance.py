"""What a run records about itself, and the lock that gives it a workdir to itself."""

from __future__ import annotations

import datetime
import fcntl
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys

from errors import ExpectedError

PACKAGES = (
    "tensorflow",
    "keras",
    "tensorflow-addons",
    "tf-slim",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "matplotlib",
    "absl-py",
    "ml-collections",
)
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The probe written into a workdir before long work: enough to meet a nearly full disk.
PROBE_BYTES = 1 << 20


class WorkdirLocked(ExpectedError, RuntimeError):
    """Another live process is writing this workdir."""


class WorkdirNotWritable(ExpectedError, RuntimeError):
    """A workdir that cannot be created or written, or lacks the space a run needs."""


class DamagedFile(ExpectedError, ValueError):
    """A JSON file of a run that no longer parses; names it and what to do."""


def check_writable(workdir: str, *, need_bytes: int = 0) -> None:
    """Proves `workdir` takes writes (creating it), before any long work starts.

    Writes, fsyncs and removes a `PROBE_BYTES` probe file, so a read-only file system, a
    missing permission or a full disk (EROFS, EACCES, ENOSPC) shows now rather than at the
    first checkpoint or after an evaluation; then compares the free space with
    `need_bytes`.

    Raises:
      WorkdirNotWritable: naming the workdir and the reason (free and needed MB when short).
    """
    probe = os.path.join(workdir, f".write_probe.{os.getpid()}")
    try:
        os.makedirs(workdir, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(bytes(PROBE_BYTES))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise WorkdirNotWritable(
            f"workdir {workdir} is not writable: {e.strerror or e} ({e.filename or workdir})"
        ) from e
    finally:
        if os.path.exists(probe):
            os.remove(probe)
    free = shutil.disk_usage(workdir).free
    if free < need_bytes:
        raise WorkdirNotWritable(
            f"workdir {workdir}: {free / 2**20:.1f} MB free on its file system, but this run "
            f"needs about {need_bytes / 2**20:.1f} MB (its checkpoints); free space or choose "
            "another --workdir"
        )


def read_json(path: str, *, remedy: str):
    """Reads a JSON file a run wrote (atomically, so damage came from outside).

    Args:
      path: the file.
      remedy: what the user can do, appended to the message.

    Raises:
      DamagedFile: the file does not parse (truncated, edited, not UTF-8), naming it,
        where parsing stopped and `remedy`.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}: {e.msg}"
    except UnicodeDecodeError as e:
        where = f"not UTF-8 text: {e.reason}"
    raise DamagedFile(f"{path} is damaged ({where}); {remedy}")


class WorkdirLock:
    """An exclusive advisory lock on `<workdir>/.lock`, released when the process exits.

    The kernel drops an flock when its holder dies (even by SIGKILL), so an interrupted
    run never leaves a stale lock behind.
    """

    def __init__(self, workdir: str):
        os.makedirs(workdir, exist_ok=True)
        self.path = os.path.join(workdir, ".lock")
        self._file = open(self.path, "a+")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            raise WorkdirLocked(
                f"workdir {workdir} is in use by another run ({holder}); wait for it or "
                "choose another --workdir"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def package_versions() -> dict[str, str]:
    """Installed versions of the stack, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_state(repo: str = _REPO) -> dict[str, object]:
    """The commit of the code that ran, and whether its tree had uncommitted changes."""

    def git(*args):
        return subprocess.run(
            ["git", "-C", repo, *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def record_launch(workdir: str, **extra) -> dict:
    """Appends this launch (command, host, versions, commit, time) to provenance.json.

    Every start of a run, including each resume, is one entry under `launches`.
    """
    path = os.path.join(workdir, "provenance.json")
    record = {"launches": []}
    if os.path.exists(path):
        record = read_json(
            path, remedy="move it aside to keep the earlier launches, and rerun (a new one starts)"
        )
    launch = {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "git": git_state(),
        "versions": package_versions(),
        **extra,
    }
    record["launches"].append(launch)
    write_json(path, record)
    return launch


def write_json(path: str, data) -> None:
    """Writes JSON atomically (temp file + rename), so a kill never leaves half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=_jsonable)
        f.write("\n")
    os.replace(tmp, path)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)
