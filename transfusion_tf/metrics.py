"""Exact evaluation metrics (numpy / scikit-learn), with patient-level bootstrap CIs.

All functions take plain arrays; nothing here is approximated by thresholds or bins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn import metrics as skm


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC (ties count one half).

    Args:
      labels: (n,) binary 0/1 (or bool).
      scores: (n,) real scores, higher means positive.

    Returns:
      The AUC, or NaN if only one class is present.
    """
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(skm.roc_auc_score(labels, np.asarray(scores, np.float64)))


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (step-wise, exact).

    Returns NaN if there is no positive.
    """
    labels = np.asarray(labels).astype(bool)
    if not labels.any():
        return float("nan")
    return float(skm.average_precision_score(labels, np.asarray(scores, np.float64)))


def quadratic_kappa(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Cohen's kappa with quadratic weights over grades 0..num_classes-1."""
    return float(
        skm.cohen_kappa_score(
            np.asarray(labels),
            np.asarray(predictions),
            labels=list(range(num_classes)),
            weights="quadratic",
        )
    )


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    scores: np.ndarray,
    groups: Sequence | None = None,
    *,
    num_samples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval, resampling groups (patients) whole.

    Both eyes (or all views) of a patient are correlated, so resampling images would give
    intervals that are too narrow; we resample patients with replacement and keep all of
    each drawn patient's rows.

    Args:
      metric: f(labels, scores) -> float; NaN results (e.g. one class drawn) are dropped.
      labels: (n, ...) labels.
      scores: (n, ...) scores.
      groups: (n,) group id per row; None resamples rows.
      num_samples: bootstrap replicates.
      seed: seeds the resampling.
      level: coverage, e.g. 0.95.

    Returns:
      (low, high); (NaN, NaN) if `num_samples` is 0 or no replicate gave a finite value.
    """
    labels, scores = np.asarray(labels), np.asarray(scores)
    if num_samples <= 0:
        return float("nan"), float("nan")
    if groups is None:
        groups = np.arange(len(labels))
    _, group_index = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(group_index, kind="stable")
    bounds = np.searchsorted(group_index[order], np.arange(group_index.max() + 2))
    members = [order[bounds[g] : bounds[g + 1]] for g in range(len(bounds) - 1)]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_samples):
        drawn = rng.integers(0, len(members), size=len(members))
        index = np.concatenate([members[g] for g in drawn])
        value = metric(labels[index], scores[index])
        if np.isfinite(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def steps_to_threshold(
    steps: Sequence[int], values: Sequence[float], threshold: float
) -> int | None:
    """The first evaluated step whose value reaches `threshold`, or None if none does."""
    for step, value in zip(steps, values, strict=True):
        if value is not None and np.isfinite(value) and value >= threshold:
            return int(step)
    return None


def summarize_steps(per_seed: Sequence[int | None]) -> dict:
    """Steps to a threshold over seeds: each seed's first step, then their mean and std.

    The one definition the study tables and the convergence figures share: seeds that never
    reached the threshold are counted in `runs` but not in the mean.

    Returns:
      {"runs", "reached", "mean", "std"}: mean and sample std over the seeds that reached
      it (NaN when none did; std NaN for fewer than two).
    """
    reached = [int(s) for s in per_seed if s is not None]
    return {
        "runs": len(per_seed),
        "reached": len(reached),
        "mean": float(np.mean(reached)) if reached else float("nan"),
        "std": float(np.std(reached, ddof=1)) if len(reached) > 1 else float("nan"),
    }
