"""Running a pipelines binary as a user does: `python -m <module> --flags` from the repo."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def run(module: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs `python -m module *args` in the repo; with `check`, a non-zero exit fails.

    Returns:
      The finished process, stdout and stderr as text.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def progress_and_summary(stdout: str) -> tuple[list[str], dict]:
    """(the progress lines, the JSON summary) of a binary that prints both, in that order."""
    progress, _, summary = stdout.partition("{")
    return progress.splitlines(), json.loads("{" + summary)
