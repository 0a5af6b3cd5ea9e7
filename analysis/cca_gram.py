"""The fast route to canonical correlations: one Gram matrix, Cholesky, and a certificate.

With the neurons of x (p, n) and y (q, n) centred and scaled to unit norm, the stacked
correlation matrix C = [x; y] [x; y]^T has blocks Cxx, Cxy, Cyy. With the Cholesky factors
Cxx = Lx Lx^T and Cyy = Ly Ly^T, the canonical correlations are the singular values of

    M = Lx^{-1} Cxy Ly^{-T}    (p, q).

The work is one SYRK over the data (n (p+q)^2 flops, against about 2 n (p+q)^2 for the
Householder QR of `analysis.centred_qr`) plus O((p+q)^3) on small matrices: two Cholesky
certificates, two Cholesky factors, two triangular solves and a values-only symmetric
eigensolver.

Forming C squares the condition number, so the route is taken only when an error model
says every rho is within `tol` (1e-9) of the exact value; otherwise the caller falls back
to the QR route, which is exact for any conditioning. The model (probabilistic rounding,
Higham and Mary 2019, with LAMBDA = 4 standard deviations; u = 2^-53):

- An entry of C is a dot product of n terms of unit-norm rows: error <= LAMBDA sqrt(n) u.
  The Cholesky factorisations and triangular solves add backward errors of dot products
  of at most k = p + q terms, LAMBDA sqrt(k) u per entry.
- A k x k matrix of independent errors of size delta has spectral norm about
  2 sqrt(k) delta, so ||dC|| <= 2 sqrt(k) LAMBDA (sqrt(n) + sqrt(k)) u.
- To first order, |d rho| <= ||dM|| <= ||dC|| (1/l_x + 1/l_y + 1/sqrt(l_x l_y))
  <= 3 ||dC|| / l_min, where l_x, l_y are the smallest eigenvalues of Cxx and Cyy.

So l_min >= tau = 6 ||dC|| / tol keeps |d rho| <= tol / 2. The certificate is a Cholesky
factorisation of Cxx - tau I and of Cyy - tau I: it succeeds only if l_min >= tau (up to its
own rounding, <= k u, far below tau). Dead units (constant over the datapoints) are exact
zero rows after the shift-and-centre and are dropped first, as the QR route drops them;
duplicated or dependent units make l_min ~ 0 and always fail the certificate. tau is also
at least 4 k rtol^2, so a certified side has sigma_min / sigma_max > rtol: full rank under
the caller's rank tolerance, as the QR route would find.

The rhos come from the eigenvalues of the smaller of M^T M and M M^T (SYRK plus a
values-only eigensolver, about 3x cheaper than the SVD at p = q = 2048). Squaring costs
accuracy only for small rhos: a backward error eta = LAMBDA (sqrt(c) + 1) u in rho^2
(c = min(p, q), ||M|| <= 1) moves rho by at most eta / sqrt(rho^2_min). When that exceeds
tol / 2 (some rho below about 1e-5), the singular values of M are used instead.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

FAST_TOL = 1e-9
LAMBDA = 4.0
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2


@dataclasses.dataclass(frozen=True)
class GramFactor:
    """A certified factorisation of two layers' correlation matrix.

    Attributes:
      cross: (p_live, q_live) M = Lx^{-1} Cxy Ly^{-T}; its singular values are the rhos.
      coords_x: (p_live, p_live) Lx^T diag(norms): column j is live neuron j of x (centred,
        unscaled) in the orthonormal basis of x's whitened canonical coordinates.
      coords_y: (q_live, q_live) the same for y.
      tau: the certified lower bound on the smallest eigenvalue of Cxx and of Cyy.
    """

    cross: np.ndarray
    coords_x: np.ndarray
    coords_y: np.ndarray
    tau: float


def certificate_tau(k: int, n: int, *, rtol: float, tol: float = FAST_TOL) -> float:
    """The smallest eigenvalue both correlation blocks must exceed for the Gram route.

    Args:
      k: p + q, the neurons of both layers.
      n: datapoints.
      rtol: the rank tolerance of the caller (a certified side is full rank under it).
      tol: the accuracy asked of every rho.

    Returns:
      max(6 ||dC|| / tol, 4 k rtol^2) with ||dC|| = 2 sqrt(k) LAMBDA (sqrt(n) + sqrt(k)) u.
    """
    gram_error = 2.0 * np.sqrt(k) * LAMBDA * (np.sqrt(n) + np.sqrt(k)) * UNIT_ROUNDOFF
    return float(max(6.0 * gram_error / tol, 4.0 * k * rtol**2))


def gram_factor(
    x: np.ndarray, y: np.ndarray, *, rtol: float, tol: float = FAST_TOL
) -> tuple[GramFactor | None, str]:
    """Certified Cholesky whitening of two layers, or the reason it is not accurate enough.

    Args:
      x: (p, n) float64 activations, neurons by datapoints (already checked).
      y: (q, n) float64 activations of the same datapoints.
      rtol: the caller's rank tolerance.
      tol: accuracy asked of every rho.

    Returns:
      (factor, "certified"), or (None, reason) when the QR route must be used.
    """
    p, n = x.shape
    z = np.empty((p + y.shape[0], n))
    # Shifting by the first datapoint makes a constant neuron exactly zero (a mean of 0.1s
    # is not exactly 0.1); the centring then leaves it zero. Written into one buffer so
    # the data are read three times, not five.
    np.subtract(x, x[:, :1], out=z[:p])
    np.subtract(y, y[:, :1], out=z[p:])
    z -= z.mean(axis=1, keepdims=True)
    gram = z @ z.T  # numpy calls SYRK for a product with its own transpose
    del z
    norms = np.sqrt(np.diag(gram))
    live = norms > 0.0
    live_x, live_y = int(np.count_nonzero(live[:p])), int(np.count_nonzero(live[p:]))
    if min(live_x, live_y) == 0:
        return None, "a side has no live neurons"
    if not live.all():
        gram = gram[np.ix_(live, live)]
        norms = norms[live]
    gram /= norms[:, None]
    gram /= norms[None, :]
    tau = certificate_tau(live_x + live_y, n, rtol=rtol, tol=tol)
    blocks = {"x": gram[:live_x, :live_x], "y": gram[live_x:, live_x:]}
    factors = {}
    for side, block in blocks.items():
        shifted = np.array(block, order="F")
        shifted[np.diag_indices_from(shifted)] -= tau
        _, info = lapack.dpotrf(shifted, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return None, (
                f"{side}: smallest eigenvalue of the correlation matrix not certified "
                f"above tau = {tau:.3g}"
            )
        factors[side], info = lapack.dpotrf(block, lower=1, clean=1)
        assert info == 0, info  # C - tau I is positive definite, so C is
    lx, ly = factors["x"], factors["y"]
    half = scipy.linalg.solve_triangular(lx, gram[:live_x, live_x:], lower=True, check_finite=False)
    cross = scipy.linalg.solve_triangular(ly, half.T, lower=True, check_finite=False).T
    coords_x = lx.T * norms[:live_x]
    coords_y = ly.T * norms[live_x:]
    return GramFactor(cross, coords_x, coords_y, tau), "certified"


def gram_rhos(factor: GramFactor, *, tol: float = FAST_TOL) -> np.ndarray:
    """The canonical correlations of a certified factor, descending, in [0, 1].

    Eigenvalues of the smaller Gram matrix of M when the squaring costs at most tol / 2;
    the singular values of M otherwise (see the module docstring).
    """
    m = factor.cross
    small = m.T @ m if m.shape[1] <= m.shape[0] else m @ m.T
    squares = scipy.linalg.eigh(
        small, eigvals_only=True, driver="evd", overwrite_a=True, check_finite=False
    )[::-1]
    eta = LAMBDA * (np.sqrt(small.shape[0]) + 1.0) * UNIT_ROUNDOFF
    if squares[-1] >= max(eta, (2.0 * eta / tol) ** 2):
        return np.clip(np.sqrt(squares), 0.0, 1.0)
    return np.clip(robust_svd(m, compute_uv=False), 0.0, 1.0)


def robust_svd(a: np.ndarray, *, compute_uv: bool):
    """`scipy.linalg.svd` (thin), falling back from divide and conquer to QR iteration."""
    try:
        return scipy.linalg.svd(a, full_matrices=False, compute_uv=compute_uv, check_finite=False)
    except np.linalg.LinAlgError:
        # Divide and conquer (gesdd) can fail to converge on rare inputs; the QR-iteration
        # driver (gesvd) is slower and more robust.
        return scipy.linalg.svd(
            a,
            full_matrices=False,
            compute_uv=compute_uv,
            check_finite=False,
            lapack_driver="gesvd",
        )
