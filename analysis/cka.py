"""Linear centred kernel alignment (Kornblith et al. 2019), biased and debiased.

For centred activations x (p, n) and y (q, n) (neurons by datapoints), with linear kernels
K = x^T x and L = y^T y over datapoints:

  CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).

Biased: HSIC(K, L) = tr(K H L H) / (n - 1)^2, which for centred data is
||y x^T||_F^2 / (n - 1)^2. Debiased: the unbiased estimator of Song et al. (2012),

  HSIC_u(K, L) = [tr(K~ L~) + 1^T K~ 1 1^T L~ 1 / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1]
                 / (n (n - 3)),

K~ and L~ being K and L with zeroed diagonals. For centred data (K 1 = 0) its bracket is
||y x^T||_F^2 - n/(n-2) k.l + sum(k) sum(l) / ((n-1)(n-2)) with k = diag K, l = diag L (the
squared norm of each datapoint), so both estimators need only p x q, p x p and q x q
products: O(n (p+q)^2) time and O((p+q)^2) memory when n >> p. With fewer datapoints than
neurons the n x n Gram matrices are cheaper and are used instead; the value is the same.
The common factors cancel in the ratio and are never formed.

CKA is invariant to orthogonal maps and isotropic scaling of either side, not to general
invertible linear maps (CCA is).
"""

from __future__ import annotations

import numpy as np

from analysis.activations import as_activation_pair


def linear_cka(x, y, *, debiased: bool = False, allow_fewer_datapoints: bool = False) -> float:
    """Linear CKA between two layers.

    Args:
      x: (p, n) activations, neurons by datapoints.
      y: (q, n) activations of the same datapoints.
      debiased: use the unbiased HSIC estimator (needs n >= 4).
      allow_fewer_datapoints: accept n < max(p, q), e.g. flattened feature maps of a few
        images. Off by default because in this package that shape means a transposed input.

    Returns:
      CKA in [0, 1] (debiased: can be slightly negative for unrelated layers); 0 when a side
      has no variance at all.

    Raises:
      ValueError: bad shapes or values (see `as_activation_pair`), or a debiased
        self-similarity estimate that is not positive (too few or degenerate datapoints).
    """
    x, y = as_activation_pair(x, y, allow_fewer_datapoints=allow_fewer_datapoints)
    return cka_from_centred(_centred(x), _centred(y), debiased=debiased)


def _centred(x: np.ndarray) -> np.ndarray:
    """Rows minus their means, constant rows exactly 0.

    Subtracting the first datapoint first makes a constant row exactly zero; subtracting
    its mean directly leaves a rounding residual (0.1 is not a binary fraction) that the
    debiased estimator, which assumes K 1 = 0, turns into a spurious similarity.
    """
    shifted = x - x[:, :1]
    return shifted - shifted.mean(axis=1, keepdims=True)


def cka_from_centred(xc: np.ndarray, yc: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA of activations already centred over their datapoints.

    Args:
      xc: (p, n) float64, every row summing to 0.
      yc: (q, n) float64, every row summing to 0. Biased CKA also accepts any (p, m) and
        (q, m) with the same inner products between rows, e.g. columns of an R factor.
      debiased: use the unbiased HSIC estimator.
    """
    assert xc.ndim == yc.ndim == 2 and xc.shape[1] == yc.shape[1], (xc.shape, yc.shape)
    p, n = xc.shape
    q = yc.shape[0]
    if debiased and n < 4:
        raise ValueError(f"debiased CKA needs at least 4 datapoints, got {n}")
    if not (xc.any() and yc.any()):
        return 0.0
    if n >= p + q:
        # tr(K L) = ||x y^T||_F^2: feature-space products, cheap when n >> p + q.
        xy = np.sum(np.square(xc @ yc.T))
        xx = np.sum(np.square(xc @ xc.T))
        yy = np.sum(np.square(yc @ yc.T))
    else:
        gram_x, gram_y = xc.T @ xc, yc.T @ yc
        xy = np.sum(gram_x * gram_y)
        xx, yy = np.sum(np.square(gram_x)), np.sum(np.square(gram_y))
    if debiased:
        k_diag = np.einsum("ij,ij->j", xc, xc)
        l_diag = np.einsum("ij,ij->j", yc, yc)
        xy = _debias(xy, k_diag, l_diag, n)
        xx = _debias(xx, k_diag, k_diag, n)
        yy = _debias(yy, l_diag, l_diag, n)
        if xx <= 0.0 or yy <= 0.0:
            raise ValueError(
                f"the debiased self-similarity estimate is not positive (x: {xx:.3g}, "
                f"y: {yy:.3g}); {n} datapoints are too few or too degenerate for debiased CKA"
            )
    return float(xy / np.sqrt(xx * yy))


def _debias(trace: float, k_diag: np.ndarray, l_diag: np.ndarray, n: int) -> float:
    """n (n - 3) HSIC_u(K, L) from tr(K L) and the diagonals, for centred K and L."""
    return float(
        trace
        - n / (n - 2.0) * (k_diag @ l_diag)
        + k_diag.sum() * l_diag.sum() / ((n - 1.0) * (n - 2.0))
    )
