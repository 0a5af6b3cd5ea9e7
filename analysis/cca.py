"""Canonical correlation analysis between two layers: CCA, SVCCA and PWCCA.

Activations are x (p, n) and y (q, n): neurons by datapoints, the same datapoints in the
same order. Every neuron is centred over the datapoints.

Definitions:
- Canonical correlations rho_1 >= ... >= rho_c, c = min(rank x, rank y): the cosines of the
  principal angles between the spans of the centred neurons of x and of y (subspaces of
  R^n), i.e. the singular values of Bx^T By for orthonormal bases Bx, By of those spans.
- mean CCA: the mean of all c coefficients.
- thresholded mean: the mean of the largest coefficients that hold `mass` (98%) of their
  sum. This is what google/svcca reports under the key "mean"; it is not the mean.
- SVCCA (Raghu et al. 2017): on each side keep the top singular directions of the centred
  activations that explain `variance_kept` (99%) of the variance (sum of squared singular
  values), then CCA; report the mean.
- PWCCA (Morcos et al. 2018): sum_i alpha_i rho_i with alpha_i proportional to
  sum_j |<h_i, x_j>| and summing to 1, where h_i is the i-th canonical variate of x (the
  whitened projection, unit norm in R^n) and x_j is centred neuron j of x. The first
  argument plays the paper's L1; `weights_from` selects y instead, or the mean of both.

Rank truncation: each neuron is scaled to unit norm (CCA is invariant to that, and it makes
the tolerance independent of neuron scales); a side keeps the directions whose singular
value is at least rtol times its largest. Dead units (constant over the datapoints) are
dropped exactly; duplicated or linearly dependent units leave singular values at rounding
level (~1e-15) and are dropped, while genuine directions down to rtol are kept, so inputs
with condition numbers up to ~1/rtol are handled exactly.

Algorithms (`method`):
- "qr", exact for any conditioning: the Householder R factor of the centred [x^T, y^T] (see
  `analysis.centred_qr`) carries every inner product between neurons in at most (p+q)^2
  numbers. Each side's columns of R are orthonormalised by QR (rank-revealing SVD only when
  a shifted Cholesky cannot certify full rank) and the canonical correlations are the
  singular values of the product of the two bases. No covariance matrix is formed, so the
  condition number is never squared.
- "auto" (default): the Gram/Cholesky route of `analysis.cca_gram` when its certificate
  says every rho is within 1e-9 of the exact value (well-conditioned layers, dead units
  allowed), the "qr" route otherwise (ill-conditioned, duplicated or dependent units). SVCCA
  always takes the "qr" route. `CCAResult.route` says which one ran.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from analysis.activations import as_activation_pair
from analysis.cca_gram import GramFactor, gram_factor, gram_rhos, robust_svd
from analysis.centred_qr import CentredRFactor

RTOL_FLOOR = 1e-12
PWCCA_WEIGHTS_FROM = ("x", "y", "symmetric")
METHODS = ("auto", "qr")


@dataclasses.dataclass(frozen=True)
class CCAResult:
    """Canonical correlations of two representations.

    Attributes:
      rhos: (min(rank_x, rank_y),) float64, descending, in [0, 1]; empty when a side has no
        variance at all.
      ranks: (rank_x, rank_y), the number of directions kept on each side.
      rtol: the relative tolerance of the rank truncation.
      num_datapoints: n.
      route: "gram" (certified Gram/Cholesky route) or "qr" (Householder route).
    """

    rhos: np.ndarray
    ranks: tuple[int, int]
    rtol: float
    num_datapoints: int
    route: str = "qr"

    @property
    def mean(self) -> float:
        """Mean of all coefficients; 0 when there are none (a side without variance)."""
        return float(self.rhos.mean()) if self.rhos.size else 0.0


def default_rtol(*arrays) -> float:
    """The rank tolerance used when none is given: max(1e-12, 10 * eps of the inputs' dtype).

    Float64 data keep directions down to 1e-12 of the largest. Float32 activations are
    only defined to ~6e-8 relative, so a linear dependence between float32 units leaves a
    noise direction near 1e-7 that must not count as signal: there the tolerance is 1.2e-6.
    """
    rtol = RTOL_FLOOR
    for a in arrays:
        dtype = np.asarray(a).dtype
        if np.issubdtype(dtype, np.floating):
            rtol = max(rtol, 10.0 * float(np.finfo(dtype).eps))
    return rtol


def canonical_correlations(
    x,
    y,
    *,
    rtol: float | None = None,
    variance_kept: float | None = None,
    method: str = "auto",
) -> CCAResult:
    """Canonical correlations between the neurons of x and of y.

    Args:
      x: (p, n) activations, neurons by datapoints.
      y: (q, n) activations of the same datapoints; n >= max(p, q).
      rtol: rank tolerance, in (0, 1); default `default_rtol(x, y)`.
      variance_kept: if set, in (0, 1]: first keep on each side the top singular directions
        explaining this fraction of the variance (SVCCA); None keeps every direction.
      method: "auto" (certified Gram route, else QR) or "qr"; see the module docstring.

    Returns:
      A `CCAResult`; symmetric in x and y up to rounding.

    Raises:
      ValueError: bad shapes (see `as_activation_pair`), NaN/inf, a bad rtol or method.
    """
    rtol = default_rtol(x, y) if rtol is None else rtol
    x, y = as_activation_pair(x, y)
    _check_arguments(rtol, variance_kept, method, x.shape[1], (x.shape[0], y.shape[0]))
    if method == "auto" and variance_kept is None:
        factor, _ = gram_factor(x, y, rtol=rtol)
        if factor is not None:
            ranks = (factor.coords_x.shape[0], factor.coords_y.shape[0])
            return CCAResult(gram_rhos(factor), ranks, float(rtol), x.shape[1], "gram")
    return factor_canonical_correlations(_factor(x, y), rtol=rtol, variance_kept=variance_kept)


def mean_cca(x, y, *, rtol: float | None = None, method: str = "auto") -> float:
    """Mean of all canonical correlations; see `canonical_correlations` for the arguments."""
    return canonical_correlations(x, y, rtol=rtol, method=method).mean


def svcca(x, y, *, variance_kept: float = 0.99, rtol: float | None = None) -> float:
    """SVCCA similarity: mean canonical correlation after the per-side SVD reduction.

    Args:
      x: (p, n) activations, neurons by datapoints.
      y: (q, n) activations of the same datapoints.
      variance_kept: fraction of each side's variance its kept singular directions explain.
      rtol: rank tolerance; directions below it are dropped even if the fraction is not met.
    """
    return canonical_correlations(x, y, rtol=rtol, variance_kept=variance_kept).mean


def pwcca(
    x, y, *, weights_from: str = "x", rtol: float | None = None, method: str = "auto"
) -> float:
    """Projection-weighted CCA (Morcos et al. 2018), with canonical variates as the weights.

    Args:
      x: (p, n) activations, neurons by datapoints; the paper's L1 by default.
      y: (q, n) activations of the same datapoints.
      weights_from: "x" weighs rho_i by how much of x's neurons the x-side canonical
        variate h_i accounts for (the published definition, pwcca(L1, L2)); "y" uses y's
        side; "symmetric" averages the two and does not depend on the argument order.
      rtol: rank tolerance, see `canonical_correlations`.
      method: "auto" or "qr", see `canonical_correlations`.

    Returns:
      The weighted mean of the canonical correlations, in [0, 1].
    """
    rtol = default_rtol(x, y) if rtol is None else rtol
    x, y = as_activation_pair(x, y)
    _check_arguments(rtol, None, method, x.shape[1], (x.shape[0], y.shape[0]))
    if weights_from not in PWCCA_WEIGHTS_FROM:
        raise ValueError(f"weights_from must be one of {PWCCA_WEIGHTS_FROM}, got {weights_from!r}")
    if method == "auto":
        factor, _ = gram_factor(x, y, rtol=rtol)
        if factor is not None:
            return _weighted(*_gram_sides(factor), weights_from)
    return factor_pwcca(_factor(x, y), rtol=rtol, weights_from=weights_from)


def thresholded_mean(rhos, mass: float = 0.98) -> float:
    """The 98%-mass rule: mean of the largest coefficients holding `mass` of their sum.

    This is google/svcca's "mean" key; the plain mean is `CCAResult.mean`.

    Args:
      rhos: (c,) nonnegative coefficients, any order.
      mass: in (0, 1]; the smallest k with rho_(1) + ... + rho_(k) >= mass * sum is used.

    Returns:
      The mean of those k largest coefficients; 0 if all are 0 or there are none.
    """
    rhos = np.sort(np.asarray(rhos, dtype=np.float64))[::-1]
    assert rhos.ndim == 1, rhos.shape
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must be in (0, 1], got {mass}")
    cumulative = np.cumsum(rhos)
    if not rhos.size or cumulative[-1] <= 0.0:
        return 0.0
    k = min(int(np.searchsorted(cumulative, mass * cumulative[-1])) + 1, rhos.size)
    return float(rhos[:k].mean())


def factor_canonical_correlations(
    factor: CentredRFactor, *, rtol: float, variance_kept: float | None = None
) -> CCAResult:
    """`canonical_correlations` of the two blocks of an accumulated R factor."""
    side_x, side_y = _sides(factor, rtol, variance_kept)
    if min(side_x.rank, side_y.rank) == 0:
        rhos = np.zeros(0)
    else:
        rhos = robust_svd(_cross(side_x, side_y), compute_uv=False)
    # Cosines of principal angles: rounding can leave 1 + 1e-16.
    return CCAResult(
        np.clip(rhos, 0.0, 1.0), (side_x.rank, side_y.rank), float(rtol), factor.num_datapoints
    )


def factor_pwcca(factor: CentredRFactor, *, rtol: float, weights_from: str) -> float:
    """`pwcca` of the two blocks of an accumulated R factor."""
    if weights_from not in PWCCA_WEIGHTS_FROM:
        raise ValueError(f"weights_from must be one of {PWCCA_WEIGHTS_FROM}, got {weights_from!r}")
    side_x, side_y = _sides(factor, rtol, None)
    if min(side_x.rank, side_y.rank) == 0:
        return 0.0
    return _weighted(side_x, side_y, _cross(side_x, side_y), weights_from)


def _weighted(side_x: _Side, side_y: _Side, cross: np.ndarray, weights_from: str) -> float:
    """PWCCA from the two sides and their cross matrix (rank_x, rank_y)."""
    u, rhos, vt = robust_svd(cross, compute_uv=True)
    rhos = np.clip(rhos, 0.0, 1.0)
    values = {
        "x": lambda: _projection_weighted(side_x, u, rhos),
        "y": lambda: _projection_weighted(side_y, vt.T, rhos),
    }
    if weights_from == "symmetric":
        return 0.5 * (values["x"]() + values["y"]())
    return values[weights_from]()


@dataclasses.dataclass(frozen=True)
class _Side:
    """One layer's live neurons in the orthonormal coordinates of the R factor.

    Attributes:
      basis: (rows, k) orthonormal columns spanning the neurons, in R-factor coordinates;
        None means the first k coordinate axes.
      coords: (k, live) the live neurons, centred and unscaled, in that basis.
      rotation: (k, rank) orthonormal columns: the kept directions; None keeps all k.
      rank: number of kept directions.
    """

    basis: np.ndarray | None
    coords: np.ndarray
    rotation: np.ndarray | None
    rank: int


def _check_arguments(rtol, variance_kept, method, num_datapoints, widths) -> None:
    if not 0.0 < rtol < 1.0:
        raise ValueError(f"rtol must be in (0, 1), got {rtol}")
    if variance_kept is not None and not 0.0 < variance_kept <= 1.0:
        raise ValueError(f"variance_kept must be in (0, 1], got {variance_kept}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    p, q = widths
    if num_datapoints < max(p, q):
        raise ValueError(
            f"{num_datapoints} datapoints for {p} and {q} neurons: CCA needs at least "
            "as many datapoints as neurons (with fewer, every correlation is 1)"
        )


def _gram_sides(factor: GramFactor) -> tuple[_Side, _Side, np.ndarray]:
    """The two `_Side`s of a certified Gram factor (basis: the whitened coordinates)."""
    side_x = _Side(None, factor.coords_x, None, factor.coords_x.shape[0])
    side_y = _Side(None, factor.coords_y, None, factor.coords_y.shape[0])
    return side_x, side_y, factor.cross


def _factor(x, y) -> CentredRFactor:
    x, y = as_activation_pair(x, y)
    factor = CentredRFactor((x.shape[0], y.shape[0]))
    factor.update(x, y)
    return factor


def _sides(factor: CentredRFactor, rtol: float, variance_kept: float | None):
    """The x and y `_Side`s of a two-block factor, dead units dropped."""
    assert len(factor.widths) == 2, factor.widths
    _check_arguments(rtol, variance_kept, "qr", factor.num_datapoints, factor.widths)
    p, _ = factor.widths
    r = factor.centred_r()
    # Dead units have exactly zero columns (see CentredRFactor); they span nothing.
    live = np.linalg.norm(r, axis=0) > 0.0
    live_x = np.flatnonzero(live[:p])
    live_y = p + np.flatnonzero(live[p:])
    # R is upper triangular, so x's neurons live in the first p coordinates; without dead
    # units that block is square triangular and already its own QR factorisation.
    rows_x = min(p, r.shape[0])
    square = live_x.size == p == rows_x
    side_x = _make_side(r[:rows_x, live_x], square, rtol, variance_kept)
    side_y = _make_side(r[:, live_y], False, rtol, variance_kept)
    return side_x, side_y


def _make_side(block, triangular: bool, rtol: float, variance_kept: float | None) -> _Side:
    """Orthonormal basis and rank of a block of R-factor columns (rows, live)."""
    if block.shape[1] == 0:
        return _Side(None, np.zeros((0, 0)), None, 0)
    norms = np.linalg.norm(block, axis=0)
    unit = block / norms
    if triangular:
        basis, tri = None, unit
    else:
        basis, tri = scipy.linalg.qr(unit, mode="economic", overwrite_a=True, check_finite=False)
    coords = tri * norms
    if variance_kept is not None:
        u, s, _ = robust_svd(coords, compute_uv=True)
        energy = np.cumsum(s**2)
        by_variance = int(np.searchsorted(energy, variance_kept * energy[-1])) + 1
        rank = min(by_variance, int(np.count_nonzero(s > rtol * s[0])))
        return _Side(basis, coords, u[:, :rank], rank)
    if tri.shape[0] == tri.shape[1] and _certified_full_rank(tri, rtol):
        return _Side(basis, coords, None, tri.shape[1])
    u, s, _ = robust_svd(tri, compute_uv=True)
    rank = int(np.count_nonzero(s > rtol * s[0]))
    return _Side(basis, coords, u[:, :rank], rank)


def _certified_full_rank(tri: np.ndarray, rtol: float) -> bool:
    """Whether every singular value of `tri` (k, k), unit columns, exceeds rtol * the largest.

    A Cholesky factorisation of tri^T tri - tau I succeeds only if sigma_min^2 >= tau up to
    rounding (<= ~2 k^2 eps here, kept below tau / 2); and sigma_max <= ||tri||_F = sqrt(k).
    With tau >= 4 k rtol^2 that proves sigma_min / sigma_max > rtol, so the SVD is skipped.
    Well-conditioned activations take this path; the certificate never accepts a rank
    deficiency, it only sends borderline cases to the SVD.
    """
    k = tri.shape[0]
    tau = max(1e-6, 4.0 * k * rtol**2, 100.0 * k * k * np.finfo(np.float64).eps)
    gram = tri.T @ tri
    gram[np.diag_indices(k)] -= tau
    _, info = lapack.dpotrf(gram, lower=0, clean=0, overwrite_a=1)
    return info == 0


def _cross(side_x: _Side, side_y: _Side) -> np.ndarray:
    """Bx^T By (rank_x, rank_y): its singular values are the canonical correlations."""
    if side_x.basis is None:
        # x is the square triangular block: its basis is the first k coordinate axes.
        m = side_y.basis[: side_x.coords.shape[0]]
    else:
        # Rows past the shorter basis are zero in it.
        rows = min(side_x.basis.shape[0], side_y.basis.shape[0])
        m = side_x.basis[:rows].T @ side_y.basis[:rows]
    if side_x.rotation is not None:
        m = side_x.rotation.T @ m
    if side_y.rotation is not None:
        m = m @ side_y.rotation
    return m


def _projection_weighted(side: _Side, directions: np.ndarray, rhos: np.ndarray) -> float:
    """sum_i alpha_i rho_i, alpha from the canonical variates given by `directions`.

    Args:
      side: the side whose neurons are projected.
      directions: (rank, >= c) singular vectors of `_cross` on this side; column i gives the
        unit-norm canonical variate h_i in the side's basis.
      rhos: (c,) canonical correlations.
    """
    directions = directions[:, : rhos.size]
    if side.rotation is not None:
        directions = side.rotation @ directions
    # <h_i, x_j> for every variate i and neuron j: coordinates in the same orthonormal basis.
    alpha = np.abs(directions.T @ side.coords).sum(axis=1)
    return float(alpha @ rhos / alpha.sum())
