"""Where a demo run's wall time goes: start-up and the trainer's phases, for one run.

Generates the demo's synthetic retina set (as `make demo` does), then trains one run of the
demo's per-run config (`transfusion_tf/configs/demo.py:retina`: CBR-Small at half width, the
image size, steps and batch of that file's `SIZES`) in a subprocess, exactly as the study
runner launches it, and prints the breakdown: process start-up and imports (the process's
wall time minus the trainer's phases) and each phase the trainer records in
`train_summary.json` (`timing.PHASES`).
With `--repeats` > 1 each repeat is a fresh run; the table shows the median and range.

  python -m benchmarks.bench_run [--repeats=2] [--model=cbr_small] [--threads=1]
      [--set=eval.tensorboard_details=false] [--write_results]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from benchmarks import results
from transfusion_tf import timing
from transfusion_tf.configs import demo

_REPEATS = flags.DEFINE_integer("repeats", 2, "Fresh runs to time (median and range shown).")
_MODEL = flags.DEFINE_string("model", "cbr_small", "Model of the run.")
_THREADS = flags.DEFINE_integer("threads", 1, "TF intra-op threads (the demo uses 1 per job).")
_WRITE = flags.DEFINE_bool("write_results", False, "Append the table to benchmarks/RESULTS.md.")
_SET = flags.DEFINE_multi_string(
    "set", [], "field=value: a config override of the run (--config.<field>=<value>); repeatable."
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate_data(root: str) -> float:
    """The demo's synthetic retina set; returns its wall seconds."""
    sizes = demo.SIZES[""]
    command = [sys.executable, "-m", "pipelines.generate", "--dataset=eyepacs", f"--root={root}",
               f"--num_patients={sizes['patients']}", f"--image_size={sizes['retina_px']}",
               "--seed=0", "--workers=2"]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO, env=_env())
    return time.perf_counter() - start


def time_run(root: str, workdir: str) -> dict[str, float]:
    """One training run as the study launches it: {phase: seconds}, start-up included."""
    command = [sys.executable, "-m", "transfusion_tf.train",
               f"--config={REPO}/transfusion_tf/configs/demo.py:retina",
               f"--config.data.root={root}", f"--config.model.name={_MODEL.value}",
               f"--workdir={workdir}", *(f"--config.{o}" for o in _SET.value)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO, env=_env())
    wall = time.perf_counter() - start
    with open(os.path.join(workdir, "train_summary.json")) as f:
        phases = json.load(f)["seconds"]
    return {"start-up and imports": wall - sum(phases.values()), **phases, "total": wall}


def _env() -> dict:
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["TF_NUM_INTRAOP_THREADS"] = str(_THREADS.value)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    return env


def table(runs: list[dict[str, float]]) -> str:
    names = ["start-up and imports", *timing.PHASES, "total"]
    lines = ["| phase | seconds (median) | range | share of total |", "|---|---|---|---|"]
    total = statistics.median(r["total"] for r in runs)
    for name in names:
        values = [r[name] for r in runs]
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | "
            f"{100 * median / total:.0f}% |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "retina")
        seconds = generate_data(root)
        print(f"data: the demo's synthetic retina set in {seconds:.1f} s (once per study)")
        runs = [time_run(root, os.path.join(tmp, f"run{i}")) for i in range(_REPEATS.value)]
    text = table(runs)
    overrides = "".join(f", {o}" for o in _SET.value)
    print(f"CPU: {results.cpu_model()}; {_REPEATS.value} fresh run(s) of {_MODEL.value}, "
          f"{_THREADS.value} intra-op thread(s){overrides}\n{text}")  # fmt: skip
    if _WRITE.value:
        notes = (
            f"One demo run ({_MODEL.value}, configs/demo.py:retina{overrides}), "
            f"{_THREADS.value} thread(s)."
        )
        print("appended to", results.append("bench_run: a demo run's wall time", text, notes=notes))


if __name__ == "__main__":
    app.run(main)
