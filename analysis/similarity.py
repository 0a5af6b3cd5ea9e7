"""One entry point for the layer-similarity measures the analyses compute."""

from __future__ import annotations

import functools

from analysis.cca import mean_cca, pwcca, svcca
from analysis.cka import linear_cka

SIMILARITY_MEASURES = {
    "mean_cca": mean_cca,
    "svcca": svcca,
    "pwcca": pwcca,
    "cka": linear_cka,
    "cka_debiased": functools.partial(linear_cka, debiased=True),
}


def similarity(x, y, measure: str = "mean_cca", **kwargs) -> float:
    """Similarity of two layers' activations under a named measure.

    Args:
      x: (p, n) activations, neurons by datapoints.
      y: (q, n) activations of the same datapoints.
      measure: a key of `SIMILARITY_MEASURES`.
      **kwargs: passed to the measure (e.g. rtol, variance_kept, weights_from).

    Raises:
      ValueError: unknown measure (the message lists the valid ones), or bad activations.
    """
    if measure not in SIMILARITY_MEASURES:
        raise ValueError(
            f"unknown similarity measure {measure!r}; valid: {', '.join(SIMILARITY_MEASURES)}"
        )
    return SIMILARITY_MEASURES[measure](x, y, **kwargs)
