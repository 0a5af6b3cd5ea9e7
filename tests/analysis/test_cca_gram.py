"""Tests for analysis/cca_gram.py: the certified Gram route and when it is (not) taken."""

import numpy as np
import pytest

from analysis import cca_gram
from analysis.cca import canonical_correlations, mean_cca, pwcca

TOL = cca_gram.FAST_TOL


def _correlated(rng, p, q, n, coupling=0.5):
    x = rng.standard_normal((p, n))
    y = rng.standard_normal((q, n)) + coupling * rng.standard_normal((q, p)) @ x / np.sqrt(p)
    return x, y


def _centred_orthonormal(rng, n, k):
    """(n, k) orthonormal columns, each summing to 0."""
    a = rng.standard_normal((n, k))
    return np.linalg.qr(a - a.mean(axis=0))[0]


def _with_correlation(basis, corr):
    """Rows whose centred correlation matrix is exactly `corr` (basis: (n, k) from above)."""
    return np.linalg.cholesky(corr) @ basis.T + 3.0


@pytest.mark.parametrize(("p", "q", "n"), [(64, 64, 2000), (120, 50, 1500), (30, 90, 1000)])
def test_agrees_with_the_qr_route_on_well_conditioned_data(p, q, n):
    rng = np.random.default_rng(p + q)
    x, y = _correlated(rng, p, q, n)
    fast, exact = canonical_correlations(x, y), canonical_correlations(x, y, method="qr")
    assert (fast.route, exact.route) == ("gram", "qr")
    assert fast.ranks == exact.ranks == (p, q)
    np.testing.assert_allclose(fast.rhos, exact.rhos, rtol=0, atol=TOL)
    assert mean_cca(x, y) == pytest.approx(mean_cca(x, y, method="qr"), abs=TOL)
    for side in ("x", "y", "symmetric"):
        assert pwcca(x, y, weights_from=side) == pytest.approx(
            pwcca(x, y, weights_from=side, method="qr"), abs=TOL
        )


@pytest.mark.parametrize("cond", [1e6, 1e10])
def test_ill_conditioned_inputs_fall_back_and_stay_exact(cond):
    rng = np.random.default_rng(int(np.log10(cond)))
    x = rng.standard_normal((40, 800))
    u = np.linalg.qr(rng.standard_normal((40, 40)))[0]
    v = np.linalg.qr(rng.standard_normal((40, 40)))[0]
    y = (u * np.logspace(0.0, -np.log10(cond), 40)) @ v @ x
    factor, reason = cca_gram.gram_factor(x, y, rtol=1e-12)
    assert factor is None and reason.startswith("y: smallest eigenvalue")
    result = canonical_correlations(x, y)
    assert result.route == "qr"
    np.testing.assert_allclose(result.rhos, 1.0, rtol=0, atol=TOL)


def test_dead_units_keep_the_fast_route_and_duplicates_leave_it():
    rng = np.random.default_rng(3)
    x, y = _correlated(rng, 40, 30, 1200)
    n = x.shape[1]
    dead = np.vstack([x[:20], np.zeros((2, n)), np.full((1, n), 0.1), x[20:]])
    result = canonical_correlations(dead, y)
    assert result.route == "gram" and result.ranks == (40, 30)
    np.testing.assert_allclose(
        result.rhos, canonical_correlations(x, y, method="qr").rhos, rtol=0, atol=TOL
    )
    for duplicated in (np.vstack([x, x[:3]]), np.vstack([x, 2.0 * x[5:6] - x[7:8]])):
        result = canonical_correlations(duplicated, y)
        assert result.route == "qr" and result.ranks == (40, 30)
        exact = canonical_correlations(x, y, method="qr")
        np.testing.assert_allclose(result.rhos, exact.rhos, rtol=0, atol=1e-12)
    # A side without variance: nothing to whiten.
    assert cca_gram.gram_factor(np.ones((3, 50)), y[:5, :50], rtol=1e-12) == (
        None,
        "a side has no live neurons",
    )


def test_certificate_threshold_by_hand():
    # tau = 6 * 2 sqrt(k) * 4 (sqrt(n) + sqrt(k)) u / tol: k = 100, n = 2500 -> 60 * 10 * 4 u.
    u = 2.0**-53
    assert cca_gram.certificate_tau(100, 2500, rtol=1e-12) == pytest.approx(
        6 * 2 * 10 * 4 * 60 * u / 1e-9, rel=1e-12
    )
    # A float32 rank tolerance dominates: 4 k rtol^2.
    assert cca_gram.certificate_tau(100, 2500, rtol=1e-2) == pytest.approx(4 * 100 * 1e-4)


def test_the_decision_flips_at_tau():
    # x has the equicorrelation matrix (1 - r) I + r 11^T, whose smallest eigenvalue is
    # exactly 1 - r: certified just above tau, refused just below.
    rng = np.random.default_rng(5)
    p, q, n = 20, 10, 400
    basis = _centred_orthonormal(rng, n, p + q)
    y = rng.standard_normal((q, q)) @ basis[:, p:].T + basis[:, :q].T
    tau = cca_gram.certificate_tau(p + q, n, rtol=1e-12)
    for factor_of_tau, certified in ((1.05, True), (0.95, False)):
        r = 1.0 - factor_of_tau * tau
        x = _with_correlation(basis[:, :p], (1.0 - r) * np.eye(p) + r * np.ones((p, p)))
        factor, reason = cca_gram.gram_factor(x, y, rtol=1e-12)
        assert (factor is not None) == certified, reason
        assert canonical_correlations(x, y).route == ("gram" if certified else "qr")
        np.testing.assert_allclose(
            canonical_correlations(x, y).rhos,
            canonical_correlations(x, y, method="qr").rhos,
            rtol=0,
            atol=TOL,
        )


def test_zero_canonical_correlations_skip_the_squaring():
    # y shares 3 directions with x and has 4 orthogonal to all of x: rhos (1, 1, 1, 0, 0, 0,
    # 0). Squaring would return sqrt(rounding) ~ 1e-8 for the zeros; the route detects it.
    rng = np.random.default_rng(6)
    n = 500
    basis = _centred_orthonormal(rng, n, 12)
    x = rng.standard_normal((8, 8)) @ basis[:, :8].T
    y = rng.standard_normal((7, 7)) @ np.vstack([basis[:, :3].T, basis[:, 8:12].T])
    result = canonical_correlations(x, y)
    assert result.route == "gram"
    np.testing.assert_allclose(result.rhos, [1, 1, 1, 0, 0, 0, 0], rtol=0, atol=TOL)


def test_the_fast_route_is_symmetric_and_checks_its_arguments():
    rng = np.random.default_rng(7)
    x, y = _correlated(rng, 25, 15, 600)
    forward, backward = canonical_correlations(x, y), canonical_correlations(y, x)
    assert forward.route == backward.route == "gram"
    np.testing.assert_allclose(forward.rhos, backward.rhos, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="unknown method 'gram'; valid: auto, qr"):
        canonical_correlations(x, y, method="gram")
    with pytest.raises(ValueError, match="unknown method"):
        pwcca(x, y, method="svd")
