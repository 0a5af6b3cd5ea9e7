"""Validation of activation arrays in the package orientation `(neurons, datapoints)`."""

from __future__ import annotations

import numpy as np


def as_activation_pair(
    x, y, *, allow_fewer_datapoints: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Checks two activation arrays and returns them as float64.

    Both arrays hold the responses of one layer each to the same datapoints, in the same
    order: row i is neuron i, column t is datapoint t. Conv activations of shape
    (images, h, w, channels) become (channels, images * h * w).

    Args:
      x: (p, n) array-like, p neurons of the first layer.
      y: (q, n) array-like, q neurons of the second layer.
      allow_fewer_datapoints: accept n < max(p, q). CCA needs n >= max(p, q) (with fewer
        datapoints every canonical correlation is trivially 1), so only CKA may set it.

    Returns:
      (x, y) as float64 arrays of shapes (p, n) and (q, n); no copy when already float64.

    Raises:
      ValueError: an input is not 2-D, is empty, holds NaN or inf, the datapoint counts
        differ, or n < max(p, q) (the usual sign of a `(datapoints, neurons)` array).
    """
    arrays = {"x": np.asarray(x), "y": np.asarray(y)}
    for name, a in arrays.items():
        if a.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (neurons, datapoints); got shape {a.shape}. Flatten conv "
                "activations (images, h, w, channels) to (channels, images * h * w)."
            )
        if a.size == 0:
            raise ValueError(f"{name} is empty: shape {a.shape}")
    x, y = (a.astype(np.float64, copy=False) for a in arrays.values())
    if x.shape[1] != y.shape[1]:
        hint = (
            "; their first dimensions match instead, so they look like (datapoints, neurons): "
            "transpose them"
            if x.shape[0] == y.shape[0]
            else ""
        )
        raise ValueError(
            f"x has shape {x.shape} and y has shape {y.shape}: both must be (neurons, "
            f"datapoints) over the same datapoints, so their second dimensions must match{hint}"
        )
    p, n = x.shape
    q = y.shape[0]
    if n < max(p, q) and not allow_fewer_datapoints:
        raise ValueError(
            f"x has shape {x.shape} and y has shape {y.shape}: {n} datapoints for {max(p, q)} "
            "neurons. The orientation is (neurons, datapoints); an array passed as "
            "(datapoints, neurons) looks like this, so transpose it. With genuinely fewer "
            "datapoints than neurons CCA is degenerate (every correlation is 1)."
        )
    for name, a in (("x", x), ("y", y)):
        bad = a.size - np.count_nonzero(np.isfinite(a))
        if bad:
            raise ValueError(f"{name} has {bad} non-finite values (NaN or inf)")
    return x, y
