"""Combining a study's views, against hand computations."""

import numpy as np
import pytest

from transfusion_tf import study_views, tasks


def test_mean_and_max_of_the_views_by_hand():
    probs = np.array([[0.2] * 5, [0.6] * 5, [0.9] * 5])
    logits = np.log(probs / (1 - probs))
    labels = np.array([[1, 0, 0, 0, 0]] * 2 + [[0, 0, 0, 0, 1]], np.float32)
    mask = np.array([[1, 1, 1, 1, 0]] * 2 + [[1] * 5], np.float32)
    targets = np.stack([labels, mask], axis=1)
    studies = np.array(["p2/s1", "p2/s1", "p1/s1"])  # Kept in order of first appearance.
    combined, mean_logits, first = study_views.combine(targets, logits, studies, "mean")
    np.testing.assert_allclose(1 / (1 + np.exp(-mean_logits)), [[0.4] * 5, [0.9] * 5], 1e-6)
    np.testing.assert_array_equal(combined[:, 0], labels[1:])
    np.testing.assert_array_equal(combined[:, 1], mask[1:])
    np.testing.assert_array_equal(first, [0, 2])
    _, max_logits, _ = study_views.combine(targets, logits, studies, "max")
    np.testing.assert_allclose(1 / (1 + np.exp(-max_logits)), [[0.6] * 5, [0.9] * 5], 1e-6)
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        study_views.combine(targets, logits, studies, "median")
    assert tasks.AGGREGATIONS == study_views.AGGREGATIONS == ("none", "mean", "max")
