"""Which evaluation of a run is best, and when early stopping ends it.

Both are decided from the run's sequence of evaluations of the task's main metric (every
main metric is higher-is-better), so a resumed run, whose `eval_log.csv` holds the rows up
to its checkpoint, decides exactly as an uninterrupted one.

Early stopping (`train.early_stopping` = patience, `train.early_stopping_min_delta`) counts
as Keras' `EarlyStopping` does: an evaluation improves when it beats the best so far by more
than min_delta (the first finite one always does); after `patience` evaluations in a row
without improvement the run stops, at that evaluation's step. A NaN metric (a split with one
class) never improves. The evaluation of step 0 (`train.eval_at_start`) counts, but the
run never stops at step 0.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass
class Selection:
    """Follows a run's evaluations.

    Args:
      patience: evaluations without improvement that stop the run; 0 never stops it.
      min_delta: how much an evaluation must beat the best so far to count as improving.
    """

    patience: int = 0
    min_delta: float = 0.0
    history: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    best: tuple[int, float] | None = None  # (step, value) of the highest finite value.
    stopped_at: int | None = None
    _reference: float = -math.inf  # Early stopping's best (moves only by > min_delta).
    _waited: int = 0

    def record(self, step: int, value: float) -> bool:
        """Adds the evaluation of `step`; returns whether it is the new best.

        Raises:
          ValueError: a step not after the last one recorded, or after the stop.
        """
        if self.history and step <= self.history[-1][0]:
            raise ValueError(f"evaluation of step {step} after step {self.history[-1][0]}")
        if self.stopped_at is not None:
            raise ValueError(f"evaluation of step {step}: the run stopped at {self.stopped_at}")
        self.history.append((step, value))
        finite = math.isfinite(value)
        improved = finite and value - self.min_delta > self._reference
        if improved:
            self._reference, self._waited = value, 0
        else:
            self._waited += 1
        if self.patience and self._waited >= self.patience and step > 0:
            self.stopped_at = step
        if finite and (self.best is None or value > self.best[1]):
            self.best = (step, value)
            return True
        return False

    @classmethod
    def replay(cls, steps, values, *, patience: int = 0, min_delta: float = 0.0) -> Selection:
        """A Selection that has recorded these evaluations (a resumed run's rows)."""
        selection = cls(patience=patience, min_delta=min_delta)
        for step, value in zip(steps, values, strict=True):
            selection.record(int(step), float(value))
        return selection

    def summary(self) -> dict | None:
        """`train_summary.json`'s `early_stopping` entry once stopped, else None."""
        if self.stopped_at is None:
            return None
        return {
            "stopped_at": self.stopped_at,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "best_step": self.best[0] if self.best else None,
        }
