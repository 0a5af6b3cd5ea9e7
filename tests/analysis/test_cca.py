"""Tests for analysis/cca.py: exactness, robustness and the definitions chosen."""

import numpy as np
import pytest

from analysis.cca import (
    canonical_correlations,
    default_rtol,
    mean_cca,
    pwcca,
    svcca,
    thresholded_mean,
)


def _orthogonal(rng, k):
    return np.linalg.qr(rng.standard_normal((k, k)))[0]


def _with_condition(rng, k, cond):
    """A (k, k) matrix with singular values log-spaced from 1 down to 1 / cond."""
    return (_orthogonal(rng, k) * np.logspace(0.0, -np.log10(cond), k)) @ _orthogonal(rng, k)


def _correlated(rng, p, q, n, coupling=0.5):
    x = rng.standard_normal((p, n))
    y = rng.standard_normal((q, n)) + coupling * rng.standard_normal((q, p)) @ x
    return x, y


def _textbook_variates(x, y):
    """Hand-built CCA of a small well-conditioned pair: rhos and unit canonical variates of x.

    Sxx^{-1/2} Sxy Syy^{-1/2} = U diag(rho) V^T; the x-side variates are
    h_i = (Sxx^{-1/2} u_i)^T xc, normalised to unit length.
    """
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)

    def inv_sqrt(s):
        w, v = np.linalg.eigh(s)
        return (v / np.sqrt(w)) @ v.T

    wx = inv_sqrt(xc @ xc.T)
    u, rhos, _ = np.linalg.svd(wx @ (xc @ yc.T) @ inv_sqrt(yc @ yc.T))
    c = min(x.shape[0], y.shape[0])
    variates = (wx @ u[:, :c]).T @ xc
    variates /= np.linalg.norm(variates, axis=1, keepdims=True)
    return rhos[:c], variates, xc


def _hand_pwcca(x, y):
    """Morcos et al. 2018 with x as L1: alpha_i = sum_j |<h_i, x_j>|, normalised."""
    rhos, variates, xc = _textbook_variates(x, y)
    alpha = np.abs(variates @ xc.T).sum(axis=1)
    return float(np.sum(alpha / alpha.sum() * rhos))


def test_single_pair_is_the_absolute_pearson_correlation():
    # Centred: x = (-1.5, -0.5, 0.5, 1.5), y = (-1.5, 0.5, -0.5, 1.5); x.y = 4, |x|^2 = |y|^2 = 5.
    result = canonical_correlations([[1.0, 2.0, 3.0, 4.0]], [[1.0, 3.0, 2.0, 4.0]])
    np.testing.assert_allclose(result.rhos, [0.8], rtol=0, atol=1e-15)
    assert result.ranks == (1, 1)
    assert result.num_datapoints == 4
    assert result.rtol == 1e-12
    assert canonical_correlations([[1.0, 2.0, 3.0, 4.0]], [[4.0, 2.0, 3.0, 1.0]]).mean == (
        pytest.approx(0.8, abs=1e-15)
    )


@pytest.mark.parametrize("cond", [1e2, 1e6, 1e10])
def test_invertible_map_of_x_gives_all_ones(cond):
    rng = np.random.default_rng(int(np.log10(cond)))
    x = rng.standard_normal((40, 800))
    y = _with_condition(rng, 40, cond) @ x
    for result in (canonical_correlations(x, y), canonical_correlations(y, x)):
        assert result.ranks == (40, 40)
        assert abs(result.mean - 1.0) <= 1e-9
        np.testing.assert_allclose(result.rhos, 1.0, rtol=0, atol=1e-6)


def test_ill_conditioned_activations_give_all_ones():
    rng = np.random.default_rng(7)
    x = _with_condition(rng, 40, 1e10) @ rng.standard_normal((40, 800))
    y = _with_condition(rng, 40, 10.0) @ x
    result = canonical_correlations(x, y)
    assert result.ranks == (40, 40)
    assert abs(result.mean - 1.0) <= 1e-9
    np.testing.assert_allclose(result.rhos, 1.0, rtol=0, atol=1e-6)


def test_dead_and_duplicated_units_equal_the_deduplicated_ground_truth():
    rng = np.random.default_rng(0)
    x, y = _correlated(rng, 30, 20, 600)
    n = x.shape[1]
    padded = np.vstack(
        [
            x,
            np.zeros((3, n)),  # dead ReLUs
            np.full((2, n), 0.1),  # constant, and 0.1 is not exact in binary
            x[:5],  # exact duplicates
            2.5 * x[5:8],  # scaled duplicates
            x[8:9] - 3.0 * x[9:10],  # a linear combination
        ]
    )[rng.permutation(x.shape[0] + 13)]
    truth = canonical_correlations(x, y)
    for result in (canonical_correlations(padded, y), canonical_correlations(y, padded)):
        assert sorted(result.ranks) == [20, 30]
        assert np.all(np.isfinite(result.rhos))
        np.testing.assert_allclose(result.rhos, truth.rhos, rtol=0, atol=1e-12)
    assert mean_cca(padded, y) == pytest.approx(truth.mean, abs=1e-12)
    assert 0.0 < pwcca(padded, y) <= 1.0
    assert 0.0 < svcca(padded, y) <= 1.0


def test_default_rtol_follows_the_input_precision():
    assert default_rtol(np.zeros(2)) == 1e-12
    assert default_rtol(np.zeros(2, np.float32)) == 10 * float(np.finfo(np.float32).eps)
    assert default_rtol(np.zeros(2, np.int64), np.zeros(2)) == 1e-12
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 300)).astype(np.float32)
    # A sum of two float32 units is a dependency up to float32 rounding (~1e-8 relative):
    # noise to the float32 tolerance, a genuine direction to a float64 one.
    dependent = np.vstack([x, x[:1] + x[1:2]])
    y = rng.standard_normal((5, 300))
    assert canonical_correlations(dependent, y).ranks == (10, 5)
    assert canonical_correlations(dependent, y, rtol=1e-12).ranks == (11, 5)
    assert canonical_correlations(dependent.astype(np.float64), y).ranks == (11, 5)


def test_invariant_to_invertible_linear_maps():
    rng = np.random.default_rng(2)
    x, y = _correlated(rng, 12, 9, 400)
    mapped = canonical_correlations(
        _with_condition(rng, 12, 1e3) @ x + 5.0, _with_condition(rng, 9, 1e3) @ y - 2.0
    )
    np.testing.assert_allclose(mapped.rhos, canonical_correlations(x, y).rhos, rtol=0, atol=1e-10)


@pytest.mark.parametrize(("p", "q"), [(8, 8), (6, 11), (11, 6)])
def test_symmetric_in_argument_order(p, q):
    rng = np.random.default_rng(p * q)
    x, y = _correlated(rng, p, q, 300)
    forward, backward = canonical_correlations(x, y), canonical_correlations(y, x)
    np.testing.assert_allclose(forward.rhos, backward.rhos, rtol=0, atol=1e-13)
    assert forward.ranks == backward.ranks[::-1]
    assert svcca(x, y) == pytest.approx(svcca(y, x), abs=1e-13)
    assert pwcca(x, y, weights_from="symmetric") == pytest.approx(
        pwcca(y, x, weights_from="symmetric"), abs=1e-13
    )


def test_matches_the_textbook_formula_on_well_conditioned_data():
    rng = np.random.default_rng(3)
    x, y = _correlated(rng, 7, 5, 200)
    rhos, _, _ = _textbook_variates(x, y)
    np.testing.assert_allclose(canonical_correlations(x, y).rhos, rhos, rtol=0, atol=1e-13)


@pytest.mark.parametrize(("p", "q"), [(3, 3), (4, 2), (2, 4)])
def test_pwcca_equals_the_hand_built_reference(p, q):
    rng = np.random.default_rng(10 * p + q)
    x, y = _correlated(rng, p, q, 12, coupling=1.0)
    assert pwcca(x, y) == pytest.approx(_hand_pwcca(x, y), abs=1e-13)
    assert pwcca(y, x) == pytest.approx(_hand_pwcca(y, x), abs=1e-13)
    assert pwcca(x, y, weights_from="y") == pytest.approx(_hand_pwcca(y, x), abs=1e-13)
    assert pwcca(x, y, weights_from="symmetric") == pytest.approx(
        0.5 * (_hand_pwcca(x, y) + _hand_pwcca(y, x)), abs=1e-13
    )


def test_pwcca_weights_come_from_the_canonical_variates_not_the_raw_neurons():
    # Scaling one neuron of x leaves the rhos and the canonical variates unchanged, but moves
    # its weight: the hand reference follows it, so the weights are projections on x_j.
    rng = np.random.default_rng(4)
    x, y = _correlated(rng, 4, 4, 50, coupling=1.0)
    scaled = x * np.array([[100.0], [1.0], [1.0], [1.0]])
    np.testing.assert_allclose(
        canonical_correlations(scaled, y).rhos, canonical_correlations(x, y).rhos, atol=1e-13
    )
    assert pwcca(scaled, y) == pytest.approx(_hand_pwcca(scaled, y), abs=1e-13)
    assert abs(pwcca(scaled, y) - pwcca(x, y)) > 1e-3


def test_independent_data_fall_inside_the_finite_sample_band():
    # After centring, independent Gaussian x and y span uniformly random subspaces of
    # dimensions p and q in R^N, N = n - 1, so sum(rho^2) = tr(Px Py) has mean p q / N and
    # variance 2 p q (N - p)(N - q) / (N^2 (N - 1)(N + 2)); every rho^2 lies below the
    # Wachter edge (sqrt(a (1 - b)) + sqrt(b (1 - a)))^2, a = p / N, b = q / N, up to a
    # finite-n fluctuation. The mean of the c = min(p, q) rhos is then bounded above by
    # sqrt(sum rho^2 / c) and below by sum(rho^2) / (c max rho).
    p, q, n = 20, 30, 400
    big_n = n - 1
    mean = p * q / big_n
    sd = np.sqrt(2 * p * q * (big_n - p) * (big_n - q) / (big_n**2 * (big_n - 1) * (big_n + 2)))
    a, b = p / big_n, q / big_n
    edge = (np.sqrt(a * (1 - b)) + np.sqrt(b * (1 - a))) ** 2 + 0.05
    low, high = (mean - 6 * sd) / (p * np.sqrt(edge)), np.sqrt((mean + 6 * sd) / p)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        result = canonical_correlations(rng.standard_normal((p, n)), rng.standard_normal((q, n)))
        assert abs(np.sum(result.rhos**2) - mean) < 6 * sd
        assert result.rhos[0] ** 2 < edge
        assert low < result.mean < high


@pytest.mark.parametrize(("p", "q"), [(256, 256), (128, 256)])
def test_independent_gaussian_layers_have_the_exact_mean_squared_rho(p, q):
    # After centring, E[sum rho^2] = p q / (n - 1) over min(p, q) coefficients: the mean
    # squared canonical correlation is max(p, q) / (n - 1), the floor of unrelated layers
    # (0.1 at 10 datapoints per channel). One draw's sd is about 5e-4 here.
    n = 2560
    means = []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        rhos = canonical_correlations(rng.standard_normal((p, n)), rng.standard_normal((q, n))).rhos
        assert rhos.size == min(p, q)
        means.append(np.mean(rhos**2))
    assert np.mean(means) == pytest.approx(max(p, q) / (n - 1), abs=0.005)


def test_datapoints_close_to_neurons_stay_finite():
    rng = np.random.default_rng(5)
    p = 30
    for n, rank in ((p, p - 1), (p + 1, p), (p + 5, p)):
        x, y = rng.standard_normal((p, n)), rng.standard_normal((p, n))
        result = canonical_correlations(x, y)
        assert result.ranks == (rank, rank)
        assert np.all(np.isfinite(result.rhos))
        assert np.all((result.rhos >= 0.0) & (result.rhos <= 1.0))
        if n <= p + 1:
            # Both spans fill the whole centred space: every correlation is 1.
            np.testing.assert_allclose(result.rhos, 1.0, atol=1e-12)
        assert np.isfinite(pwcca(x, y)) and np.isfinite(svcca(x, y))


def test_a_side_without_variance_shares_nothing():
    rng = np.random.default_rng(6)
    y = rng.standard_normal((5, 50))
    result = canonical_correlations(np.ones((3, 50)), y)
    assert result.ranks == (0, 5)
    assert result.rhos.shape == (0,)
    assert result.mean == 0.0
    assert pwcca(np.ones((3, 50)), y) == 0.0


def test_transposed_input_is_rejected_naming_the_shapes():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((20, 500)), rng.standard_normal((10, 500))
    with pytest.raises(ValueError, match=r"\(500, 20\).*\(500, 10\).*transpose them"):
        canonical_correlations(x.T, y.T)
    with pytest.raises(ValueError, match=r"\(500, 20\).*\(500, 20\).*transpose it"):
        canonical_correlations(x.T, x.T)
    with pytest.raises(ValueError, match=r"\(20, 500\).*\(10, 499\)"):
        canonical_correlations(x, y[:, 1:])
    with pytest.raises(ValueError, match="2-D"):
        canonical_correlations(x[0], y)
    bad = x.copy()
    bad[3, 7] = np.nan
    with pytest.raises(ValueError, match="x has 1 non-finite"):
        mean_cca(bad, y)


def test_argument_checks():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((3, 40)), rng.standard_normal((3, 40))
    with pytest.raises(ValueError, match="rtol"):
        canonical_correlations(x, y, rtol=0.0)
    with pytest.raises(ValueError, match="variance_kept"):
        svcca(x, y, variance_kept=1.5)
    with pytest.raises(ValueError, match="weights_from"):
        pwcca(x, y, weights_from="smaller")


def test_thresholded_mean_is_the_98_percent_mass_rule():
    # Sum 1.5; 98% of it is 1.47; cumulative sums 0.9, 1.4, 1.5: three coefficients.
    assert thresholded_mean([0.1, 0.9, 0.0, 0.5]) == pytest.approx(0.5, abs=1e-15)
    assert thresholded_mean([0.1, 0.9, 0.0, 0.5], mass=0.5) == pytest.approx(0.9, abs=1e-15)
    assert thresholded_mean([0.1, 0.9, 0.0, 0.5], mass=1.0) == pytest.approx(0.5, abs=1e-15)
    assert thresholded_mean([]) == 0.0
    assert thresholded_mean([0.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="mass"):
        thresholded_mean([0.5], mass=0.0)


def test_svcca_keeps_the_directions_explaining_99_percent_of_the_variance():
    rng = np.random.default_rng(11)
    n = 300
    # Orthonormal, centred datapoint directions, and squared singular values summing to 100:
    # cumulative 50, 80, 99, 99.5, 99.8, 100, so 99% takes exactly three.
    directions = rng.standard_normal((n, 6))
    directions = np.linalg.qr(directions - directions.mean(axis=0))[0]
    sigma = np.sqrt([50.0, 30.0, 19.0, 0.5, 0.3, 0.2])
    x = _orthogonal(rng, 6) @ (sigma[:, None] * directions.T)
    y = rng.standard_normal((4, n)) + x[:4]
    result = canonical_correlations(x, y, variance_kept=0.99)
    assert result.ranks[0] == 3
    # The hand reduction: keep the top three singular directions of x, then plain CCA.
    u, s, vt = np.linalg.svd(x - x.mean(axis=1, keepdims=True), full_matrices=False)
    top_x = s[:3, None] * vt[:3]
    u_y, s_y, vt_y = np.linalg.svd(y - y.mean(axis=1, keepdims=True), full_matrices=False)
    keep_y = int(np.searchsorted(np.cumsum(s_y**2) / np.sum(s_y**2), 0.99)) + 1
    assert result.ranks[1] == keep_y
    expected = canonical_correlations(top_x, s_y[:keep_y, None] * vt_y[:keep_y])
    np.testing.assert_allclose(result.rhos, expected.rhos, rtol=0, atol=1e-12)
    assert svcca(x, y) == pytest.approx(expected.mean, abs=1e-12)
