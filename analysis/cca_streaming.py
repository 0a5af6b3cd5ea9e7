"""CCA over more datapoints than fit in memory: accumulate batches, then measure.

Conv activations give one datapoint per (image, h, w) position, so a few thousand images
make millions of datapoints. `CCAAccumulator` keeps only the R factor of the centred
activations (`analysis.centred_qr`), (p+q+1)^2 numbers however many batches it sees, and
gives the same results as the one-shot functions of `analysis.cca` on the concatenated
batches (equal up to rounding: the factorisation is backward stable either way).

Usage:
  acc = CCAAccumulator(num_x=256, num_y=512)
  for images in batches:
      acc.update(acts_a(images), acts_b(images))   # (256, b) and (512, b)
  acc.result().mean, acc.similarity("pwcca")
"""

from __future__ import annotations

import numpy as np

from analysis.cca import (
    CCAResult,
    default_rtol,
    factor_canonical_correlations,
    factor_pwcca,
)
from analysis.centred_qr import CentredRFactor
from analysis.cka import cka_from_centred


class CCAAccumulator:
    """Streaming CCA between two layers with fixed neuron counts.

    Attributes:
      num_x, num_y: neurons of the two layers.
      num_datapoints: datapoints seen so far.
    """

    def __init__(self, num_x: int, num_y: int, *, rtol: float | None = None):
        """Args:
        num_x: neurons p of the first layer; every x batch must be (p, b).
        num_y: neurons q of the second layer; every y batch must be (q, b).
        rtol: rank tolerance (see `analysis.cca`); default from the batches' dtype.
        """
        self.num_x, self.num_y = int(num_x), int(num_y)
        self._factor = CentredRFactor((self.num_x, self.num_y))
        self._rtol = rtol
        self._default_rtol = default_rtol()

    @property
    def num_datapoints(self) -> int:
        return self._factor.num_datapoints

    def update(self, x_batch, y_batch) -> None:
        """Adds one batch of datapoints.

        Args:
          x_batch: (num_x, b) activations of the first layer, neurons by datapoints.
          y_batch: (num_y, b) activations of the second layer on the same b datapoints.

        Raises:
          ValueError: a batch is not 2-D, has the wrong number of neurons (e.g. it is
            (datapoints, neurons)), the two batch sizes differ, or holds NaN/inf.
        """
        batches = {"x_batch": np.asarray(x_batch), "y_batch": np.asarray(y_batch)}
        for (name, a), width in zip(batches.items(), (self.num_x, self.num_y), strict=True):
            if a.ndim != 2 or a.shape[0] != width:
                raise ValueError(
                    f"{name} has shape {a.shape}; expected ({width}, batch) since the "
                    f"accumulator was built for {width} neurons (orientation: neurons, "
                    "datapoints)"
                )
            if not np.isfinite(a).all():
                raise ValueError(f"{name} has non-finite values (NaN or inf)")
        x, y = batches.values()
        if x.shape[1] != y.shape[1]:
            raise ValueError(
                f"x_batch has {x.shape[1]} datapoints and y_batch {y.shape[1]}; a batch must "
                "hold both layers' activations on the same datapoints"
            )
        self._default_rtol = max(self._default_rtol, default_rtol(x, y))
        self._factor.update(x.astype(np.float64, copy=False), y.astype(np.float64, copy=False))

    def result(self, *, variance_kept: float | None = None) -> CCAResult:
        """Canonical correlations of everything seen; see `analysis.cca.canonical_correlations`.

        Raises:
          ValueError: fewer datapoints than neurons so far.
        """
        return factor_canonical_correlations(
            self._factor, rtol=self._resolved_rtol(), variance_kept=variance_kept
        )

    def similarity(self, measure: str = "mean_cca", **kwargs) -> float:
        """A similarity measure on everything seen.

        Args:
          measure: "mean_cca", "svcca" (kwargs: variance_kept), "pwcca" (kwargs:
            weights_from) or "cka" (biased linear CKA). Debiased CKA needs per-datapoint
            norms that the R factor does not keep; use `analysis.cka.linear_cka`.
          **kwargs: passed to the measure.
        """
        rtol = self._resolved_rtol()
        measures = {
            "mean_cca": lambda: self.result().mean,
            "svcca": lambda variance_kept=0.99: self.result(variance_kept=variance_kept).mean,
            "pwcca": lambda weights_from="x": factor_pwcca(
                self._factor, rtol=rtol, weights_from=weights_from
            ),
            "cka": self._cka,
        }
        if measure not in measures:
            raise ValueError(f"unknown measure {measure!r}; valid: {', '.join(measures)}")
        return measures[measure](**kwargs)

    def _cka(self) -> float:
        # The columns of R are the centred neurons in an orthonormal basis of datapoint
        # space: every inner product biased CKA needs is preserved.
        r = self._factor.centred_r()
        return cka_from_centred(r[:, : self.num_x].T, r[:, self.num_x :].T)

    def _resolved_rtol(self) -> float:
        return self._default_rtol if self._rtol is None else self._rtol
