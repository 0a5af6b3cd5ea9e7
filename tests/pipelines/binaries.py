"""Running a binary as a user does: `python -m <module> --flags`, from the repo by default."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def run(
    module: str,
    *args: str,
    check: bool = True,
    cwd: str | os.PathLike = REPO,
    home: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Runs `python -m module *args` with the repo importable; with `check`, a non-zero exit
    fails.

    Args:
      module, args: the command.
      check: assert exit status 0 (showing stderr's tail otherwise).
      cwd: the working directory.
      home: HOME for the process (where a flag's `~` points), if given.
      timeout: seconds before the process is killed (subprocess.TimeoutExpired).

    Returns:
      The finished process, stdout and stderr as text.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    if home is not None:
        env["HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def progress_and_summary(stdout: str) -> tuple[list[str], dict]:
    """(the progress lines, the JSON summary) of a binary that prints both, in that order."""
    progress, _, summary = stdout.partition("{")
    return progress.splitlines(), json.loads("{" + summary)
