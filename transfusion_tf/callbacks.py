"""Keras callbacks of the trainer: NaN guard, periodic evaluate-then-checkpoint, logging.

One Keras "epoch" is one loop of `steps_per_loop` steps (the gcd of the checkpoint and
evaluation intervals), so every checkpoint falls on an epoch boundary and
`fit(initial_epoch=step // steps_per_loop)` resumes exactly where the checkpoint was taken.
"""

from __future__ import annotations

import csv
import datetime
import math
import os
import time
from collections.abc import Callable

import pandas as pd
import tensorflow as tf
from absl import logging

from errors import ExpectedError
from transfusion_tf import checkpointing, experiment
from transfusion_tf.provenance import DamagedFile


class NonFiniteLossError(ExpectedError, RuntimeError):
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
        self.evaluation = ""

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

    def error(
        self, kept: list[str], evaluation_problem: Callable[[str], str | None] | None = None
    ) -> NonFiniteLossError:
        """The error to raise after a failure, naming the step and the last good checkpoint.

        Every kept checkpoint holds finite variables (`Periodic` checks before saving), yet
        huge finite weights can still overflow: the last good checkpoint is the newest one
        whose weights did not give the failing training loss (the loss of step k is
        computed with the weights after step k - 1) and whose evaluation predictions are
        finite. Newer kept checkpoints that fail this are named with the reason.

        Args:
          kept: the run's periodic checkpoint paths (`ckpt-<step>`), oldest first.
          evaluation_problem: path -> None if the checkpoint's predictions on the
            evaluation split are finite, else why not (the trainer evaluates checkpoints
            eval_log.csv has no row for); None skips this check.
        """
        if self.evaluation:
            what = f"{self.evaluation} at the evaluation of step {self.failed_step}"
        elif self.bad_variables:
            more = len(self.bad_variables) - 3
            names = ", ".join(self.bad_variables[:3]) + (f" and {more} more" if more > 0 else "")
            what = (
                f"non-finite variables after step {self.failed_step} ({names}; every loss "
                "up to it was finite)"
            )
        else:
            what = f"non-finite training loss ({self.value}) at step {self.failed_step}"
        last_good = self._last_good(kept, evaluation_problem or (lambda path: None))
        return NonFiniteLossError(
            f"{what}; stopped without saving. {last_good} Lower optimizer.learning_rate, add "
            "warmup or clipping, or check the inputs."
        )

    def _last_good(self, kept: list[str], evaluation_problem) -> str:
        rejected = []
        for path in reversed(kept):
            step = int(path.rsplit("-", 1)[1])
            if self.value is not None and step == self.failed_step - 1:
                why = f"its weights gave the non-finite loss of step {self.failed_step}"
            elif problem := evaluation_problem(path):
                why = problem
            else:
                return f"Last good checkpoint: {path}." + "".join(rejected)
            rejected.append(f" ({path} has finite weights, but {why}.)")
        last = "none kept" if kept else "none (the failure came before the first checkpoint)"
        return f"Last good checkpoint: {last}." + "".join(rejected)

    def fail_evaluation(self, reason: str) -> None:
        """Records that evaluating the current weights gave non-finite predictions."""
        self._fail(evaluation=reason)

    def _fail(
        self,
        *,
        value: float | None = None,
        bad_variables: list[str] | None = None,
        evaluation: str = "",
    ):
        self.failed_step = int(self.model.optimizer.iterations.numpy())
        self.value = value
        self.bad_variables = bad_variables or []
        self.evaluation = evaluation
        self.model.stop_training = True


class EvalLog:
    """`eval_log.csv`: one row per evaluation (step, seconds, train loss, lr, metrics...)."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "eval_log.csv")

    def rows(self) -> pd.DataFrame:
        if not os.path.exists(self.path):
            return pd.DataFrame()
        return pd.read_csv(self.path)

    def truncate_after(self, step: int | None) -> None:
        """Drops the rows a (re)started run redoes: steps after `step`, all rows if None.

        A run killed after an evaluation but before its checkpoint leaves rows past the
        step it resumes from (or, before its first checkpoint, rows of a run that restarts
        from the initial weights); a kill mid-write leaves a last line without its newline,
        dropped too. The file is replaced atomically.
        """
        if not os.path.exists(self.path):
            return
        with open(self.path, newline="") as f:
            lines = f.read().splitlines(keepends=True)
        whole = [line for line in lines if line.endswith("\n")]  # Only a kill cuts one.
        keep = [
            line
            for n, line in enumerate(whole[1:], 2)
            if step is not None and self._step(whole, n) <= step
        ]
        if len(whole) == len(lines) and len(keep) == len(whole) - 1:
            return
        if not keep:
            os.remove(self.path)
            return
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w", newline="") as f:
            f.writelines([whole[0], *keep])
        os.replace(tmp, self.path)

    def _step(self, lines: list[str], number: int) -> int:
        """The step of line `number` (1-based; line 1 is the header)."""
        try:
            column = next(csv.reader(lines[:1])).index("step")
            return int(next(csv.reader([lines[number - 1]]))[column])
        except (ValueError, IndexError, StopIteration) as e:
            raise DamagedFile(
                f"{self.path} line {number} is damaged ({e}); move the file aside to rerun "
                "(the rerun starts a new log from the step it resumes at)"
            ) from e

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
    evaluation row; a resumed run truncates rows past its checkpoint and redoes them (a
    run restarted before its first checkpoint drops them all). When `stop(step)` says so
    after an evaluation (early stopping), that step is saved and training stops.
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
        stop: Callable[[int], bool] = lambda step: False,
    ):
        super().__init__()
        self._stop = stop
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
        stopping = False
        if step % self._eval_every == 0 or step == self._total_steps:
            self._evaluate(step)
            if self._guard.failed_step is not None:
                return  # Finite weights whose predictions are not: never saved either.
            stopping = self._stop(step)
        if step % self._checkpoint_every == 0 or step == self._total_steps or stopping:
            self._save(step)
        if stopping:
            self.model.stop_training = True


class TrainLogger(tf.keras.callbacks.Callback):
    """Every `log_every` steps: a log line and TensorBoard scalars (loss, lr, images/s).

    The line: `step <step>/<total>  loss  lr  <images/s>  ETA h:mm:ss`; the ETA is the mean
    wall time per step of this launch (evaluations and checkpoints included) times the
    steps left, and is left out at the last step.
    """

    def __init__(self, *, writer, schedule, log_every: int, total_steps: int, batch_size: int):
        super().__init__()
        self._writer = writer
        self._schedule = schedule
        self._log_every = log_every
        self._total_steps = total_steps
        self._batch_size = batch_size
        self._last_time = None
        self._last_step = None
        self._begin = (0.0, 0)  # (time, step) at on_train_begin: what the ETA averages over.
        self.last_loss = float("nan")
        self.images_per_second: list[float] = []

    def on_train_begin(self, logs=None):
        self._last_time = time.perf_counter()
        self._last_step = int(self.model.optimizer.iterations.numpy())
        self._begin = (self._last_time, self._last_step)

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
            "step %d/%d  loss %.4f  lr %.3g  %.1f images/s%s",
            step,
            self._total_steps,
            self.last_loss,
            lr,
            rate,
            self._eta(step, now),
        )
        if self._writer is not None:
            with self._writer.as_default(step=step):
                tf.summary.scalar("loss", self.last_loss)
                tf.summary.scalar("learning_rate", lr)
                tf.summary.scalar("images_per_second", rate)

    def _eta(self, step: int, now: float) -> str:
        begin_time, begin_step = self._begin
        if step >= self._total_steps or step <= begin_step:
            return ""
        left = (now - begin_time) / (step - begin_step) * (self._total_steps - step)
        return f"  ETA {datetime.timedelta(seconds=round(left))}"


def evaluation_problem(model, config, split, dataset, eval_log: EvalLog):
    """For `NonFiniteLossGuard.error`: checkpoint path -> why its evaluation logits are not
    finite, or None. Steps eval_log.csv has a row for passed (rows are only written for
    finite logits); others are restored into `model` and evaluated now."""
    evaluated = set(eval_log.rows().get("step", ()))

    def problem(path: str) -> str | None:
        if int(path.rsplit("-", 1)[1]) in evaluated:
            return None
        checkpointing.restore_weights(model, path)
        try:
            experiment.evaluate_split(
                model, config, split, bootstrap_samples=0, dataset=dataset, local=True
            )
        except experiment.NonFiniteLogits as error:
            return f"evaluating it gives {error}"
        return None

    return problem
