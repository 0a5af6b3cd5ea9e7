"""Tests for analysis/cca_streaming.py: streaming equals one-shot."""

import numpy as np
import pytest

from analysis.cca import canonical_correlations, pwcca, svcca
from analysis.cca_streaming import CCAAccumulator
from analysis.cka import linear_cka

_SIZES = [1, 3, 17, 100, 500, 379]


def _pair(seed, p=25, q=15, n=1000):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((p, n))
    y = rng.standard_normal((q, n)) + 0.5 * rng.standard_normal((q, p)) @ x
    return x, y


def _accumulate(x, y, sizes=_SIZES, **kwargs):
    acc = CCAAccumulator(x.shape[0], y.shape[0], **kwargs)
    start = 0
    for size in sizes:
        acc.update(x[:, start : start + size], y[:, start : start + size])
        start += size
    assert acc.num_datapoints == x.shape[1] == start
    return acc


def test_streaming_equals_one_shot():
    x, y = _pair(0)
    acc = _accumulate(x, y)
    once = canonical_correlations(x, y)
    streamed = acc.result()
    assert streamed.ranks == once.ranks
    assert streamed.num_datapoints == 1000
    np.testing.assert_allclose(streamed.rhos, once.rhos, rtol=0, atol=1e-10)
    assert acc.similarity("mean_cca") == pytest.approx(once.mean, abs=1e-10)
    assert acc.similarity("svcca") == pytest.approx(svcca(x, y), abs=1e-10)
    assert acc.similarity("svcca", variance_kept=0.9) == pytest.approx(
        svcca(x, y, variance_kept=0.9), abs=1e-10
    )
    assert acc.similarity("pwcca") == pytest.approx(pwcca(x, y), abs=1e-10)
    assert acc.similarity("pwcca", weights_from="y") == pytest.approx(
        pwcca(x, y, weights_from="y"), abs=1e-10
    )
    assert acc.similarity("cka") == pytest.approx(linear_cka(x, y), abs=1e-10)


def test_streaming_handles_dead_and_duplicated_units():
    x, y = _pair(1)
    padded = np.vstack([x, np.full((2, 1000), 0.3), x[:3]])
    # Constant over the first batches only: a live unit.
    late = np.zeros((1, 1000))
    late[0, 600:] = np.random.default_rng(2).standard_normal(400)
    streamed = _accumulate(np.vstack([padded, late]), y).result()
    once = canonical_correlations(np.vstack([x, late]), y)
    assert streamed.ranks == once.ranks == (26, 15)
    np.testing.assert_allclose(streamed.rhos, once.rhos, rtol=0, atol=1e-10)


def test_float32_batches_use_the_float32_tolerance():
    x, y = _pair(3)
    acc = _accumulate(x.astype(np.float32), y)
    assert acc.result().rtol == 10 * float(np.finfo(np.float32).eps)
    assert _accumulate(x, y, rtol=1e-9).result().rtol == 1e-9


def test_bad_batches_are_rejected_with_shapes():
    x, y = _pair(4)
    acc = CCAAccumulator(25, 15)
    with pytest.raises(ValueError, match=r"x_batch has shape \(100, 25\); expected \(25, batch\)"):
        acc.update(x[:, :100].T, y[:, :100])
    with pytest.raises(ValueError, match="same datapoints"):
        acc.update(x[:, :100], y[:, :99])
    bad = y[:, :10].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="y_batch has non-finite"):
        acc.update(x[:, :10], bad)
    acc.update(x[:, :10], y[:, :10])
    with pytest.raises(ValueError, match="10 datapoints for 25 and 15 neurons"):
        acc.result()
    with pytest.raises(ValueError, match="valid: mean_cca, svcca, pwcca, cka"):
        acc.similarity("cka_debiased")
