"""Tests for analysis/cka.py: linear CKA, biased and debiased."""

import numpy as np
import pytest

from analysis.cka import linear_cka


def _gram_cka(x, y, debiased):
    """CKA straight from the n x n kernel definitions, on uncentred data."""
    gram_x, gram_y = x.T @ x, y.T @ y
    n = gram_x.shape[0]
    if not debiased:
        h = np.eye(n) - 1.0 / n

        def hsic(a, b):
            return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    else:

        def hsic(a, b):  # Song et al. 2012, unbiased
            a, b = a - np.diag(np.diag(a)), b - np.diag(np.diag(b))
            one = np.ones(n)
            return (
                np.trace(a @ b)
                + (one @ a @ one) * (one @ b @ one) / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (one @ a @ b @ one)
            ) / (n * (n - 3))

    return hsic(gram_x, gram_y) / np.sqrt(hsic(gram_x, gram_x) * hsic(gram_y, gram_y))


def test_single_pair_is_the_squared_pearson_correlation():
    assert linear_cka([[1.0, 2.0, 3.0, 4.0]], [[1.0, 3.0, 2.0, 4.0]]) == pytest.approx(
        0.64, abs=1e-15
    )


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize(("p", "q", "n"), [(3, 4, 30), (6, 5, 8)])
def test_equals_the_gram_matrix_definition(debiased, p, q, n):
    # n >= p + q takes the feature-space route, n < p + q the n x n one.
    rng = np.random.default_rng(p * n)
    x = rng.standard_normal((p, n)) + 2.0
    y = rng.standard_normal((q, n)) + x[:1] - 1.0
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(
        _gram_cka(x, y, debiased), abs=1e-12
    )


def test_fewer_datapoints_than_neurons_need_the_flag():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 9)), rng.standard_normal((10, 9))
    with pytest.raises(ValueError, match="transpose"):
        linear_cka(x, y)
    for debiased in (False, True):
        value = linear_cka(x, y, debiased=debiased, allow_fewer_datapoints=True)
        assert value == pytest.approx(_gram_cka(x, y, debiased), abs=1e-12)


def test_invariant_to_orthogonal_maps_and_isotropic_scaling_only():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 300))
    y = rng.standard_normal((6, 300)) + rng.standard_normal((6, 8)) @ x
    rotation = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    general = rng.standard_normal((8, 8))
    for debiased in (False, True):
        base = linear_cka(x, y, debiased=debiased)
        assert linear_cka(3.5 * rotation @ x, y, debiased=debiased) == pytest.approx(
            base, abs=1e-12
        )
        assert linear_cka(y, x, debiased=debiased) == pytest.approx(base, abs=1e-14)
        assert abs(linear_cka(general @ x, y, debiased=debiased) - base) > 1e-2


def test_debiasing_removes_the_chance_similarity_of_independent_layers():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((50, 200)), rng.standard_normal((50, 200))
    assert linear_cka(x, y) > 0.15
    assert abs(linear_cka(x, y, debiased=True)) < 0.02


def test_degenerate_inputs():
    rng = np.random.default_rng(3)
    y = rng.standard_normal((3, 20))
    assert linear_cka(np.full((2, 20), 4.0), y) == 0.0
    assert linear_cka(np.full((2, 20), 4.0), y, debiased=True) == 0.0
    # 0.1 is not a binary fraction: its mean-centred residual must not become a similarity.
    for n in (20, 100, 1000):
        y = rng.standard_normal((3, n))
        assert linear_cka(np.full((2, n), 0.1), y, debiased=True) == 0.0
        assert linear_cka(np.full((2, n), 0.1), y) == 0.0
    with pytest.raises(ValueError, match="at least 4 datapoints"):
        linear_cka(y[:1, :3], y[1:2, :3], debiased=True)
