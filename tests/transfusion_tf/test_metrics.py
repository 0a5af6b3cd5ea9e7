import numpy as np
import pytest

from transfusion_tf import metrics


def test_roc_auc_by_hand():
    # Positive/negative pairs ordered correctly: (.35>.1), (.8>.1), (.8>.4); wrong: (.35<.4).
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert metrics.roc_auc([0, 1], [0.5, 0.5]) == 0.5  # A tie counts one half.
    assert np.isnan(metrics.roc_auc([1, 1], [0.2, 0.3]))


def test_auprc_by_hand():
    # Ranked: P (precision 1, recall .5), N, P (precision 2/3, recall 1).
    assert metrics.auprc([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert np.isnan(metrics.auprc([0, 0], [0.1, 0.2]))


def test_quadratic_kappa_by_hand():
    # O has weight (1-2)^2/4 = .25 off the diagonal; E's weighted sum is 2/3 + 1/4 + 1/3.
    assert metrics.quadratic_kappa([0, 1, 2], [0, 2, 2], num_classes=3) == pytest.approx(0.8)
    assert metrics.quadratic_kappa([0, 1, 4], [0, 1, 4], num_classes=5) == 1.0


def test_bootstrap_resamples_patients_whole():
    # Patient a has one row, patient b three: a replicate has 2, 4 or 6 rows, never 3 or 5.
    lengths = lambda labels, scores: float(len(labels))  # noqa: E731
    low, high = metrics.bootstrap_ci(
        lengths, np.zeros(4), np.zeros(4), ["a", "b", "b", "b"], num_samples=400, seed=1
    )
    assert (low, high) == (2.0, 6.0)
    rows = metrics.bootstrap_ci(lengths, np.zeros(4), np.zeros(4), None, num_samples=50)
    assert rows == (4.0, 4.0)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = labels + rng.normal(0, 1.0, 300)
    groups = np.arange(300) // 2
    a = metrics.bootstrap_ci(metrics.roc_auc, labels, scores, groups, num_samples=200, seed=3)
    b = metrics.bootstrap_ci(metrics.roc_auc, labels, scores, groups, num_samples=200, seed=3)
    assert a == b
    assert a[0] < metrics.roc_auc(labels, scores) < a[1]
    assert np.isnan(metrics.bootstrap_ci(metrics.roc_auc, labels, scores, num_samples=0)[0])


def test_summarize_steps_is_per_seed_then_mean():
    summary = metrics.summarize_steps([300, None, 400])
    assert (summary["runs"], summary["reached"], summary["mean"]) == (3, 2, 350.0)
    assert summary["std"] == pytest.approx(70.710678, abs=1e-6)
    none = metrics.summarize_steps([None, None])
    assert none["reached"] == 0 and np.isnan(none["mean"]) and np.isnan(none["std"])


def test_steps_to_threshold():
    assert metrics.steps_to_threshold([100, 200, 300], [0.7, 0.86, 0.9], 0.85) == 200
    assert metrics.steps_to_threshold([100, 200], [0.7, float("nan")], 0.85) is None
