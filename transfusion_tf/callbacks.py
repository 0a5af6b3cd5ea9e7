"""Keras callbacks of the trainer: NaN guard, periodic evaluate-then-checkpoint, logging.

One Keras "epoch" is one loop of `steps_per_loop` steps (the gcd of the checkpoint and
evaluation intervals), so every checkpoint falls on an epoch boundary and
`fit(initial_epoch=step // steps_per_loop)` resumes exactly where the checkpoint was taken.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable

import pandas as pd
import tensorflow as tf
from absl import logging


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/Inf loss or variables; names the step and last good checkpoint."""


class NonFiniteLossGuard(tf.keras.callbacks.Callback):
    """Stops training at the first non-finite loss or, at a loop end, non-finite variables.

    Keras reports for step k the loss computed before update k, so the loss alone cannot
    show that the last update of a loop broke the weights: `Periodic` calls
    `check_variables` at each loop end before evaluating or saving them.

    Attributes:
      failed_step: the 1-based training step that produced the bad loss or variables, or
        None.
      value: the bad loss value (None when the variables were found bad first).
      bad_variables: names of the non-finite variables (empty for a bad loss).
    """

    def __init__(self):
        super().__init__()
        self.failed_step: int | None = None
        self.value: float | None = None
        self.bad_variables: list[str] = []

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.failed_step is None:
            self._fail(value=float(loss))

    def check_variables(self) -> bool:
        """Records a failure unless every float model and optimizer variable is finite.

        Returns:
          True if all are finite (or a failure was already recorded, False then).
        """
        if self.failed_step is not None:
            return False
        slots = self.model.optimizer.variables
        slots = slots() if callable(slots) else slots  # A method on legacy optimizers.
        floats = [v for v in [*self.model.variables, *slots] if v.dtype.is_floating]
        # One host round trip for all of them, not one per variable.
        finite = (
            tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in floats]).numpy()
            if floats
            else []
        )
        bad = [v.name for v, ok in zip(floats, finite, strict=True) if not ok]
        if bad:
            self._fail(bad_variables=bad)
        return not bad

    def error(self, last_checkpoint: str | None) -> NonFiniteLossError:
        """The error to raise after a failure, naming the step and the last good checkpoint."""
        last = last_checkpoint or "none (the failure came before the first checkpoint)"
        if self.bad_variables:
            more = len(self.bad_variables) - 3
            names = ", ".join(self.bad_variables[:3]) + (f" and {more} more" if more > 0 else "")
            what = (
                f"non-finite variables after step {self.failed_step} ({names}; every loss "
                "up to it was finite)"
            )
        else:
            what = f"non-finite training loss ({self.value}) at step {self.failed_step}"
        return NonFiniteLossError(
            f"{what}; stopped without saving. Last good checkpoint: {last}. Lower "
            "optimizer.learning_rate, add warmup or clipping, or check the inputs."
        )

    def _fail(self, *, value: float | None = None, bad_variables: list[str] | None = None):
        self.failed_step = int(self.model.optimizer.iterations.numpy())
        self.value = value
        self.bad_variables = bad_variables or []
        self.model.stop_training = True


class EvalLog:
    """`eval_log.csv`: one row per evaluation (step, seconds, train loss, lr, metrics...)."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "eval_log.csv")

    def rows(self) -> pd.DataFrame:
        if not os.path.exists(self.path):
            return pd.DataFrame()
        return pd.read_csv(self.path)

    def truncate_after(self, step: int) -> None:
        """Drops rows of steps after `step` (written by a run that was then interrupted)."""
        rows = self.rows()
        if len(rows) and (rows["step"] > step).any():
            rows[rows["step"] <= step].to_csv(self.path, index=False)

    def append(self, row: dict) -> None:
        exists = os.path.exists(self.path)
        if exists:
            with open(self.path, newline="") as f:
                fields = next(csv.reader(f))
            if set(fields) != set(row):
                raise ValueError(
                    f"{self.path}: columns {fields} do not match new row {sorted(row)}"
                )
        else:
            fields = list(row)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            if not exists:
                writer.writeheader()
            writer.writerow(row)


class Periodic(tf.keras.callbacks.Callback):
    """At loop ends: check the variables are finite, evaluate (every `eval_every`), save.

    Evaluation runs first so that a kill between the two leaves no checkpoint without its
    evaluation row; a resumed run truncates rows past its checkpoint and redoes them.
    """

    def __init__(
        self,
        *,
        guard: NonFiniteLossGuard,
        evaluate: Callable[[int], None],
        save: Callable[[int], None],
        eval_every: int,
        checkpoint_every: int,
        total_steps: int,
    ):
        super().__init__()
        self._guard = guard
        self._evaluate = evaluate
        self._save = save
        self._eval_every = eval_every
        self._checkpoint_every = checkpoint_every
        self._total_steps = total_steps

    def on_epoch_end(self, epoch, logs=None):
        if not self._guard.check_variables():
            return  # Never evaluate or checkpoint weights that a non-finite update touched.
        step = int(self.model.optimizer.iterations.numpy())
        if step % self._eval_every == 0 or step == self._total_steps:
            self._evaluate(step)
        if step % self._checkpoint_every == 0 or step == self._total_steps:
            self._save(step)


class TrainLogger(tf.keras.callbacks.Callback):
    """Every `log_every` steps: a log line and TensorBoard scalars (loss, lr, images/s)."""

    def __init__(self, *, writer, schedule, log_every: int, total_steps: int, batch_size: int):
        super().__init__()
        self._writer = writer
        self._schedule = schedule
        self._log_every = log_every
        self._total_steps = total_steps
        self._batch_size = batch_size
        self._last_time = None
        self._last_step = None
        self.last_loss = float("nan")
        self.images_per_second: list[float] = []

    def on_train_begin(self, logs=None):
        self._last_time = time.perf_counter()
        self._last_step = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        self.last_loss = float((logs or {}).get("loss", float("nan")))
        if step % self._log_every and step != self._total_steps:
            return
        now = time.perf_counter()
        rate = (step - self._last_step) * self._batch_size / max(now - self._last_time, 1e-9)
        self._last_time, self._last_step = now, step
        self.images_per_second.append(rate)
        lr = float(self._schedule(step - 1))
        logging.info(
            "step %d/%d  loss %.4f  lr %.3g  %.1f images/s",
            step,
            self._total_steps,
            self.last_loss,
            lr,
            rate,
        )
        if self._writer is not None:
            with self._writer.as_default(step=step):
                tf.summary.scalar("loss", self.last_loss)
                tf.summary.scalar("learning_rate", lr)
                tf.summary.scalar("images_per_second", rate)
