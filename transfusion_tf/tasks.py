"""Tasks: what the head predicts, its loss, and how predictions are scored.

A task turns model outputs on a split into the metrics the paper reports. Registry
(`get_task(name, **options)`; options come from `config.task_options`):
  dr_grade        5-way DR grade softmax; scored as referable DR (grade >= 2) ROC AUC (SPEC §4)
  classification  N-way softmax (`num_classes`); top-1 accuracy, also top-5 (source
                  pretraining, e.g. ImageNet)
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


@dataclasses.dataclass(frozen=True)
class ClassificationTask:
    """N-way single-label classification (the source task of pretraining).

    Attributes:
      num_outputs: number of classes N (labels 0..N-1).
      top_k: the second accuracy reported (top-5 for ImageNet; capped at N).
    """

    num_outputs: int
    top_k: int = 5
    name: str = "classification"
    main_metric: str = "accuracy"

    def __post_init__(self):
        if self.num_outputs < 2:
            raise ValueError(
                f"classification needs task_options.num_classes >= 2, got {self.num_outputs}"
            )

    @property
    def k(self) -> int:
        return min(self.top_k, self.num_outputs)

    def loss(self) -> tf.keras.losses.Loss:
        return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def keras_metrics(self) -> list:
        return [
            tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            tf.keras.metrics.SparseTopKCategoricalAccuracy(k=self.k, name=f"top{self.k}"),
        ]

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
          labels: (n,) int classes in [0, N).
          logits: (n, N) float logits.
          groups: (n,) group ids for the bootstrap (None: resample examples).
          bootstrap_samples: replicates for the 95% CI of the accuracy (0 skips it).
          seed: bootstrap seed.

        Returns:
          `loss` (mean cross-entropy), `accuracy` (top-1) with `accuracy_ci_low/high`,
          `top{k}` (label among the k largest logits; ties broken by class index),
          `examples`.
        """
        labels = np.asarray(labels).astype(np.int64)
        logits = np.asarray(logits, np.float64)
        if logits.shape != (len(labels), self.num_outputs):
            raise ValueError(f"logits shape {logits.shape} != ({len(labels)}, {self.num_outputs})")
        log_probs = scipy.special.log_softmax(logits, axis=1)
        correct = (logits.argmax(axis=1) == labels).astype(np.float64)
        top = np.argsort(-logits, axis=1, kind="stable")[:, : self.k]
        low, high = metrics.bootstrap_ci(
            lambda _, c: float(np.mean(c)),
            labels,
            correct,
            groups,
            num_samples=bootstrap_samples,
            seed=seed,
        )
        return {
            "examples": len(labels),
            "loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
            "accuracy": float(correct.mean()),
            "accuracy_ci_low": low,
            "accuracy_ci_high": high,
            f"top{self.k}": float((top == labels[:, None]).any(axis=1).mean()),
        }

    def prediction_columns(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Per-example columns: the predicted class and its probability."""
        probs = scipy.special.softmax(np.asarray(logits, np.float64), axis=1)
        predicted = probs.argmax(axis=1)
        return {"predicted": predicted, "p_predicted": probs[np.arange(len(probs)), predicted]}


def _classification(num_classes: int = 0, top_k: int = 5) -> ClassificationTask:
    return ClassificationTask(num_outputs=int(num_classes), top_k=int(top_k))


_TASKS = {"dr_grade": DRGradeTask, "classification": _classification}


def get_task(name: str, **options):
    """Returns the registered task `name`, built with `options` (config.task_options).

    Raises:
      ValueError: for an unknown name (valid ones listed) or options the task does not take.
    """
    try:
        factory = _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(sorted(_TASKS))}") from None
    try:
        return factory(**options)
    except TypeError as e:
        raise ValueError(f"task {name!r} does not take options {sorted(options)}: {e}") from None
