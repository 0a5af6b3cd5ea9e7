"""Tests for analysis/similarity.py: the measure registry."""

import numpy as np
import pytest

from analysis.cca import mean_cca, pwcca, svcca
from analysis.cka import linear_cka
from analysis.similarity import SIMILARITY_MEASURES, similarity


def test_registry_names_and_dispatch():
    assert list(SIMILARITY_MEASURES) == ["mean_cca", "svcca", "pwcca", "cka", "cka_debiased"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 200))
    y = rng.standard_normal((4, 200)) + x[:4]
    assert similarity(x, y) == mean_cca(x, y)
    assert similarity(x, y, "svcca", variance_kept=0.9) == svcca(x, y, variance_kept=0.9)
    assert similarity(x, y, "pwcca", weights_from="y") == pwcca(x, y, weights_from="y")
    assert similarity(x, y, "cka") == linear_cka(x, y)
    assert similarity(x, y, "cka_debiased") == linear_cka(x, y, debiased=True)


def test_unknown_measure_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'cca'.*mean_cca, svcca, pwcca, cka, cka_debiased"):
        similarity(np.zeros((1, 3)), np.zeros((1, 3)), "cca")
