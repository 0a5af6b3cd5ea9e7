"""Combining the views of one study into one prediction (`eval.aggregate`, CheXpert).

A CheXpert study (one patient's visit) may hold frontal and lateral views that share the
report's labels; CheXpert's own evaluation scores studies, so the views' predictions are
combined:
  none   every view scored on its own
  mean   the mean of the views' probabilities
  max    the most confident view's probability, output by output
"""

from __future__ import annotations

import numpy as np
import scipy.special

AGGREGATIONS = ("none", "mean", "max")


def combine(
    targets: np.ndarray, logits: np.ndarray, keys: np.ndarray, how: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combines the views of each study into one prediction.

    Args:
      targets: (n, 2, k) per-view targets, labels then mask (all views of a study share
        the report's labels).
      logits: (n, k) per-view sigmoid logits.
      keys: (n,) study ids.
      how: `mean` (mean of the views' probabilities) or `max` (the most confident view).

    Returns:
      (targets (m, 2, k) float32, logits (m, k) float64, index (m,) of each study's first
      row), studies in order of first appearance. A study's label is the max over its
      views' counted labels and its mask the max of theirs.

    Raises:
      ValueError: an unknown `how`.
    """
    if how not in AGGREGATIONS[1:]:
        raise ValueError(f"unknown aggregation {how!r}; valid: {AGGREGATIONS}")
    targets = np.asarray(targets, np.float32)
    probs = scipy.special.expit(np.asarray(logits, np.float64))
    _, first, inverse = np.unique(np.asarray(keys), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # Studies in order of first appearance.
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    study = rank[inverse]
    m, k = len(order), probs.shape[1]
    agg = np.zeros((m, k))
    if how == "mean":
        np.add.at(agg, study, probs)
        agg /= np.bincount(study, minlength=m)[:, None]
    else:
        np.maximum.at(agg, study, probs)
    out = np.zeros((m, 2, k), np.float32)
    np.maximum.at(out[:, 0], study, targets[:, 0] * targets[:, 1])
    np.maximum.at(out[:, 1], study, targets[:, 1])
    agg = np.clip(agg, 1e-7, 1 - 1e-7)
    return out, np.log(agg) - np.log1p(-agg), first[order]
