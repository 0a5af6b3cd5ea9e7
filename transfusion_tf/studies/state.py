"""A study's state on disk: which runs finished, which pretrainings are registered, which
steps (data generation, analyses) completed with today's command."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

from transfusion_tf import provenance
from transfusion_tf.studies import commands
from transfusion_tf.studies.spec import RunSpec


def run_state(path: str) -> str:
    """`finished`, `interrupted` (started, not complete) or `missing`.

    Finished means `train_summary.json` exists (the trainer writes it last, after the
    final evaluations) and reached the configured `train.total_steps`, or the step where
    early stopping ended the run (its `early_stopping.stopped_at`).
    """
    summary_path = os.path.join(path, "train_summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        with open(os.path.join(path, "config.json")) as f:
            total = json.load(f)["train"]["total_steps"]
        stopped = (summary.get("early_stopping") or {}).get("stopped_at")
        final = summary.get("final_step")
        return "finished" if final is not None and final in (total, stopped) else "interrupted"
    return "interrupted" if os.path.exists(os.path.join(path, "config.json")) else "missing"


def registered_from(workdir: str, run: RunSpec) -> bool:
    """Whether the study registry holds weights exported from this run's final step."""
    path = commands.registry_file(workdir)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        entries = json.load(f).get("entries", {})
    with open(os.path.join(commands.run_dir(workdir, run.name), "train_summary.json")) as f:
        final = json.load(f)["final_step"]
    return any(
        os.path.abspath(e.get("source", {}).get("run", "")) == commands.run_dir(workdir, run.name)
        and e.get("source", {}).get("step") == final
        for e in entries.values()
    )


def stamp_matches(stamp: str, command: Sequence[str]) -> bool:
    """Whether `stamp` records `command` as completed (with any interpreter)."""
    if not os.path.exists(stamp):
        return False
    with open(stamp) as f:
        return json.load(f).get("command", [])[1:] == list(command)[1:]


def write_stamp(stamp: str, command: Sequence[str], started: float) -> None:
    provenance.write_json(
        stamp, {"command": list(command), "seconds": round(time.time() - started, 1)}
    )


SYNTHETIC_GENERATORS = ("pipelines.generate", "pipelines.generate_source")


def is_synthetic(root: str) -> bool:
    """Whether a study wrote `root` with a synthetic-data generator (its completion stamp).

    Downloads (`slim_weights.download`) leave a stamp too; they are real data.
    """
    stamp = os.path.join(root, ".generated.json")
    if not os.path.exists(stamp):
        return False
    with open(stamp) as f:
        command = json.load(f).get("command", [])
    return len(command) > 2 and command[2] in SYNTHETIC_GENERATORS
