"""Tasks: what the head predicts, its loss, and how predictions are scored.

A task turns model outputs on a split into the metrics the paper reports. Registry
(`get_task(name, **options)`; options come from `config.task_options`):
  dr_grade        5-way DR grade softmax; scored as referable DR (grade >= 2) ROC AUC (Table 1)
  chexpert5       5 sigmoid outputs (Atelectasis, Cardiomegaly, Consolidation, Edema,
                  Pleural Effusion) with a label mask; scored by per-pathology ROC AUC and
                  their mean
  multi_label     the same for any outputs, named by `labels` (e.g. the label columns of a
                  `data.name=csv` dataset)
  classification  N-way softmax (`num_classes`); top-1 accuracy, also top-5 (source
                  pretraining, e.g. ImageNet)

Targets: single-label tasks take integer labels (n,); multi-label tasks take (n, 2, k)
float32, `[:, 0]` the labels and `[:, 1]` the mask (1 = counts, 0 = ignored), exactly what
`pipelines.split.targets` feeds the loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.special
import tensorflow as tf

from pipelines.readers import chexpert
from transfusion_tf import metrics, study_views
from transfusion_tf.losses import MaskedBinaryCrossentropy, softmax_loss

REFERABLE_GRADE = 2
AGGREGATIONS = study_views.AGGREGATIONS  # eval.aggregate's choices.


@dataclasses.dataclass(frozen=True)
class DRGradeTask:
    """Diabetic-retinopathy grading: 5-class model, referable-DR AUC as the headline.

    The referable score is P(grade >= 2) = the sum of the softmax over grades 2-4, the
    paper's "referable DR from a 5-class model".
    """

    name: str = "dr_grade"
    num_outputs: int = 5
    main_metric: str = "auc"

    def loss(
        self, *, label_smoothing: float = 0.0, class_weights: Sequence[float] | None = None
    ) -> tf.keras.losses.Loss:
        """The training loss (`softmax_loss`)."""
        return softmax_loss(self.num_outputs, label_smoothing, class_weights)

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


def _masked(metric, k: int):
    """metric(labels, scores) on output k, over the rows whose mask is 1."""

    def score(targets: np.ndarray, scores: np.ndarray) -> float:
        keep = targets[:, 1, k] > 0
        return metric(targets[keep, 0, k], scores[keep, k])

    return score


@dataclasses.dataclass(frozen=True)
class MultiLabelTask:
    """Independent sigmoid outputs, one per pathology, scored by ROC AUC each.

    The main metric is the mean of the per-pathology AUCs (`mean_auc`), the number the
    CheXpert literature reports.
    """

    name: str
    labels: tuple[str, ...]
    main_metric: str = "mean_auc"

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    @property
    def keys(self) -> tuple[str, ...]:
        """Metric-name stems: 'Pleural Effusion' -> 'pleural_effusion'."""
        return tuple(chexpert.task_key(name) for name in self.labels)

    def loss(
        self, *, label_smoothing: float = 0.0, class_weights: Sequence[float] | None = None
    ) -> tf.keras.losses.Loss:
        """Masked sigmoid cross-entropy, its counted labels smoothed by `label_smoothing`.

        Raises:
          ValueError: class weights (defined for single-label tasks only).
        """
        if class_weights is not None:
            raise ValueError(f"task {self.name}: class weights apply to single-label tasks only")
        return MaskedBinaryCrossentropy(label_smoothing=label_smoothing)

    def keras_metrics(self) -> list:
        return []

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
          labels: (n, 2, k) targets: labels then mask (see the module docstring).
          logits: (n, k) float logits.
          groups: (n,) patient ids for the patient-level bootstrap.
          bootstrap_samples: replicates for the 95% CIs (0 skips them).
          seed: bootstrap seed; every CI uses the same resamples.

        Returns:
          `examples`, `loss` (mean sigmoid cross-entropy over unmasked entries),
          `mean_auc` with `mean_auc_ci_low`/`_high` (the mean over pathologies, recomputed
          on each resample), `mean_auprc`, and per pathology `auc_<key>`,
          `auc_<key>_ci_low`, `auc_<key>_ci_high`, `auprc_<key>`, `positives_<key>`,
          `labelled_<key>` (unmasked rows). An AUC is NaN if its pathology has one class.
        """
        k = self.num_outputs
        targets = np.asarray(labels, np.float64)
        logits = np.asarray(logits, np.float64)
        if targets.shape != (len(targets), 2, k) or logits.shape != (len(targets), k):
            raise ValueError(
                f"targets {targets.shape} / logits {logits.shape} do not match "
                f"(n, 2, {k}) / (n, {k})"
            )
        probs = scipy.special.expit(logits)
        y, mask = targets[:, 0], targets[:, 1]
        # log(1 + exp(-|x|)) + max(x, 0) - x * y: the stable sigmoid cross-entropy.
        bce = np.logaddexp(0.0, -np.abs(logits)) + np.maximum(logits, 0.0) - logits * y
        out = {
            "examples": len(targets),
            "loss": float((bce * mask).sum() / max(mask.sum(), 1.0)),
        }
        aucs, auprcs = [], []
        for j, key in enumerate(self.keys):
            auc_j = _masked(metrics.roc_auc, j)
            low, high = metrics.bootstrap_ci(
                auc_j, targets, probs, groups, num_samples=bootstrap_samples, seed=seed
            )
            aucs.append(auc_j(targets, probs))
            auprcs.append(_masked(metrics.auprc, j)(targets, probs))
            out[f"auc_{key}"] = aucs[-1]
            out[f"auc_{key}_ci_low"], out[f"auc_{key}_ci_high"] = low, high
            out[f"auprc_{key}"] = auprcs[-1]
            out[f"positives_{key}"] = int(((y[:, j] == 1) & (mask[:, j] > 0)).sum())
            out[f"labelled_{key}"] = int((mask[:, j] > 0).sum())

        def mean_auc(t: np.ndarray, p: np.ndarray) -> float:
            return float(np.mean([_masked(metrics.roc_auc, j)(t, p) for j in range(k)]))

        out["mean_auc"] = float(np.mean(aucs))
        out["mean_auc_ci_low"], out["mean_auc_ci_high"] = metrics.bootstrap_ci(
            mean_auc, targets, probs, groups, num_samples=bootstrap_samples, seed=seed
        )
        out["mean_auprc"] = float(np.mean(auprcs))
        return out

    def prediction_columns(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Per-example columns for predictions CSVs: `p_<key>` sigmoid probabilities."""
        probs = scipy.special.expit(np.asarray(logits, np.float64))
        return {f"p_{key}": probs[:, j] for j, key in enumerate(self.keys)}

    def target_columns(self, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Per-example `label_<key>` and `mask_<key>` columns from (n, 2, k) targets."""
        targets = np.asarray(targets)
        columns = {}
        for j, key in enumerate(self.keys):
            columns[f"label_{key}"] = targets[:, 0, j]
            columns[f"mask_{key}"] = targets[:, 1, j]
        return columns

    def aggregate(
        self, targets: np.ndarray, logits: np.ndarray, keys: np.ndarray, how: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Combines the views of each study into one prediction (`study_views.combine`)."""
        return study_views.combine(targets, logits, keys, how)


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

    def loss(
        self, *, label_smoothing: float = 0.0, class_weights: Sequence[float] | None = None
    ) -> tf.keras.losses.Loss:
        """The training loss (`softmax_loss`)."""
        return softmax_loss(self.num_outputs, label_smoothing, class_weights)

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


def _multi_label(labels=()) -> MultiLabelTask:
    labels = tuple(str(name) for name in labels)
    if not labels:
        raise ValueError("multi_label needs task_options.labels, e.g. ('effusion', 'edema')")
    return MultiLabelTask("multi_label", labels)


_TASKS = {
    "chexpert5": lambda: MultiLabelTask("chexpert5", chexpert.TASKS),
    "classification": _classification,
    "dr_grade": DRGradeTask,
    "multi_label": _multi_label,
}


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
