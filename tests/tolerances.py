"""Float32 tolerances from first principles, for comparisons that must hold on any x86-64 CPU.

Two float32 computations of the same quantity (NumPy against TensorFlow, oneDNN on an AVX-512
Xeon against an AMD EPYC without it, a fused kernel against its parts) add the same terms in
different orders and blockings, so they agree only to rounding. The bounds here are the
textbook ones, in units of u = 2**-24 (float32's unit roundoff, half of `np.finfo(np.float32)
.eps`), and depend on the reduction length n, never on what one machine happened to print:

- Deterministic (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 3.4 and
  section 4.2): a sum or dot product of n terms in any order and blocking satisfies
  |fl(s) - s| <= gamma(n - 1) * sum |x_i| with gamma(k) = k u / (1 - k u). One more rounding for
  a mean's division or a stored result makes it gamma(n + 1).
- Statistical (Higham and Mary, SIAM J. Sci. Comput. 41(5), 2019): with rounding errors modelled
  as independent and mean-zero, the error grows as lambda * sqrt(n) * u instead of n * u. Used
  for deep networks, where the worst case over 50 layers of 4,608-term dot products says
  nothing; `lam` is the number of standard deviations allowed.

Each tolerance bounds the difference between two computations, so it is twice the error bound
of one (both may round in opposite directions).
"""

from __future__ import annotations

import math

import numpy as np

UNIT_ROUNDOFF = float(np.finfo(np.float32).eps) / 2  # u = 2**-24


def gamma(n: int) -> float:
    """Higham's gamma_n = n u / (1 - n u) for float32; n >= 0."""
    if n * UNIT_ROUNDOFF >= 1:
        raise ValueError(f"gamma({n}) is undefined in float32 (n u >= 1)")
    return n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)


def reduction_atol(n: int, magnitude: float) -> float:
    """Absolute tolerance between two float32 sums/means/dot products of `n` terms.

    Args:
      n: number of terms reduced (e.g. pooled positions, kernel taps times input channels).
      magnitude: sum of |terms| for a sum or dot product; mean of |terms| for a mean.
    """
    return 2 * gamma(n + 1) * magnitude


def elementwise_rtol(operations: int = 1) -> float:
    """Relative tolerance between two float32 results of `operations` correctly rounded ops.

    Transcendental functions (exp, log, sigmoid) are accurate to a few ulp in NumPy and
    TensorFlow; count each as four roundings.
    """
    return 2 * gamma(operations + 1)


def network_rtol(reduction_length: int, depth: int, lam: float = 4.0) -> float:
    """Relative tolerance (max |diff| / max |ref|) between two float32 runs of a deep network.

    Each of `depth` layers adds an error of standard deviation about sqrt(n) * u relative to
    its output scale (n: its longest dot product); batch norm keeps every layer's scale near
    the output's, and the layers' errors are independent, so they add as a random walk:
    lam * sqrt(n * depth) * u for one run, with `lam` standard deviations allowed.
    """
    return 2 * lam * math.sqrt(reduction_length * depth) * UNIT_ROUNDOFF
