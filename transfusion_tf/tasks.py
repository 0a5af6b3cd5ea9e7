"""Tasks: what the head predicts, its loss, and how predictions are scored.

A task turns model outputs on a split into the metrics the paper reports. Registry:
  dr_grade   5-way DR grade softmax; scored as referable DR (grade >= 2) ROC AUC (SPEC §4)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.special
import tensorflow as tf

from transfusion_tf import metrics

REFERABLE_GRADE = 2


@dataclasses.dataclass(frozen=True)
class DRGradeTask:
    """Diabetic-retinopathy grading: 5-class model, referable-DR AUC as the headline.

    The referable score is P(grade >= 2) = the sum of the softmax over grades 2-4, the
    paper's "referable DR from a 5-class model".
    """

    name: str = "dr_grade"
    num_outputs: int = 5
    main_metric: str = "auc"

    def loss(self) -> tf.keras.losses.Loss:
        return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def keras_metrics(self) -> list:
        return [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def evaluate(
        self,
        labels: np.ndarray,
        logits: np.ndarray,
        groups: np.ndarray | None = None,
        *,
        bootstrap_samples: int = 1000,
        seed: int = 0,
    ) -> dict[str, float]:
        """Scores predictions on one split.

        Args:
          labels: (n,) int grades 0-4.
          logits: (n, 5) float logits.
          groups: (n,) patient ids for the patient-level bootstrap.
          bootstrap_samples: replicates for the 95% CI of the referable AUC (0 skips it).
          seed: bootstrap seed.

        Returns:
          `loss` (mean cross-entropy), `auc` (referable DR) with `auc_ci_low`/`auc_ci_high`,
          `auprc` (referable), `kappa` (quadratic, argmax grade vs grade), `accuracy`
          (5-way), `auc_grade{k}` (one-vs-rest per grade; NaN where a grade is absent),
          `examples`.
        """
        labels = np.asarray(labels).astype(np.int64)
        logits = np.asarray(logits, np.float64)
        if logits.shape != (len(labels), self.num_outputs):
            raise ValueError(f"logits shape {logits.shape} != ({len(labels)}, {self.num_outputs})")
        probs = scipy.special.softmax(logits, axis=1)
        log_probs = scipy.special.log_softmax(logits, axis=1)
        referable = labels >= REFERABLE_GRADE
        score = probs[:, REFERABLE_GRADE:].sum(axis=1)
        low, high = metrics.bootstrap_ci(
            metrics.roc_auc, referable, score, groups, num_samples=bootstrap_samples, seed=seed
        )
        out = {
            "examples": len(labels),
            "loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
            "auc": metrics.roc_auc(referable, score),
            "auc_ci_low": low,
            "auc_ci_high": high,
            "auprc": metrics.auprc(referable, score),
            "kappa": metrics.quadratic_kappa(labels, probs.argmax(axis=1), self.num_outputs),
            "accuracy": float((probs.argmax(axis=1) == labels).mean()),
        }
        for grade in range(self.num_outputs):
            out[f"auc_grade{grade}"] = metrics.roc_auc(labels == grade, probs[:, grade])
        return out

    def prediction_columns(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Per-example columns for predictions CSVs: grade probabilities and the score."""
        probs = scipy.special.softmax(np.asarray(logits, np.float64), axis=1)
        columns = {f"p_grade{k}": probs[:, k] for k in range(self.num_outputs)}
        columns["referable_score"] = probs[:, REFERABLE_GRADE:].sum(axis=1)
        return columns


_TASKS = {"dr_grade": DRGradeTask()}


def get_task(name: str):
    """Returns the registered task `name`."""
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(sorted(_TASKS))}") from None
