"""Where a run's wall time goes: seconds per named phase, recorded in train_summary.json.

Phases of one launch (`PHASES`): checks (config, workdir, init plan), data (read, scan and
split), model (build and compile), init (restore or weight surgery, initial checkpoint),
first_step (the first training step, which traces the graph), training (the other steps),
evaluation (periodic, with bootstrap), checkpoints (saving), final_evaluation (held-out
splits scored in the same process) and outputs (metrics.json, predictions CSVs, summary).
Process start-up and imports happen before the trainer runs: `benchmarks/bench_run.py`
measures them as the process's wall time minus these phases.
"""

from __future__ import annotations

import contextlib
import time

import tensorflow as tf

PHASES = (
    "checks",
    "data",
    "model",
    "init",
    "first_step",
    "training",
    "evaluation",
    "checkpoints",
    "final_evaluation",
    "outputs",
)


class PhaseTimer:
    """Wall seconds per phase, summed over every time a phase is entered."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)

    @contextlib.contextmanager
    def phase(self, name: str):
        if name not in self.seconds:
            raise ValueError(f"unknown phase {name!r}; valid: {', '.join(PHASES)}")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def to_json(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.seconds.items()}


class FitTimer(tf.keras.callbacks.Callback):
    """Splits `Model.fit`'s wall time into the first step (graph tracing) and the rest.

    Time spent inside fit in other phases (evaluations and checkpoints run by callbacks)
    is subtracted from `training` by the caller, which knows those phases' totals.
    """

    def __init__(self, timer: PhaseTimer):
        super().__init__()
        self._timer = timer
        self._start = 0.0
        self._first_done = False

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self._first_done = False

    def on_train_batch_end(self, batch, logs=None):
        if not self._first_done:
            self._first_done = True
            self._timer.seconds["first_step"] += time.perf_counter() - self._start
            self._start = time.perf_counter()

    def on_train_end(self, logs=None):
        if self._first_done:
            self._timer.seconds["training"] += time.perf_counter() - self._start
