"""Tests for analysis/centred_qr.py: the streamed R factor of centred activations."""

import numpy as np
import pytest

from analysis.centred_qr import CentredRFactor


def _centred_gram(*blocks):
    z = np.vstack(blocks)
    z = z - z.mean(axis=1, keepdims=True)
    return z @ z.T


def _feed(factor, blocks, sizes):
    start = 0
    for size in sizes:
        factor.update(*(b[:, start : start + size] for b in blocks))
        start += size
    assert start == blocks[0].shape[1]


@pytest.mark.parametrize("sizes", [[90], [1, 2, 40, 47], [30, 30, 30], [5] * 18])
def test_r_carries_the_centred_gram_matrix(sizes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 90)) + 1e3  # a large common offset must not matter
    y = rng.standard_normal((3, 90)) * 1e-3
    factor = CentredRFactor((4, 3))
    _feed(factor, (x, y), sizes)
    r = factor.centred_r()
    assert r.shape == (7, 7)
    assert np.array_equal(r, np.triu(r))
    assert factor.num_datapoints == 90
    gram = _centred_gram(x, y)
    scale = np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    np.testing.assert_allclose((r.T @ r) / scale, gram / scale, rtol=0, atol=1e-13)


def test_fewer_datapoints_than_columns_give_a_short_factor():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4))
    factor = CentredRFactor((6,))
    _feed(factor, (x,), [1, 3])
    r = factor.centred_r()
    # Four centred datapoints span three dimensions.
    assert r.shape == (3, 6)
    np.testing.assert_allclose(r.T @ r, _centred_gram(x), rtol=0, atol=1e-13)


def test_constant_neurons_give_exactly_zero_columns():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 50))
    x[1] = 0.1  # not exact in binary: centring by subtracting a mean would leave ~1e-17
    factor = CentredRFactor((3,))
    _feed(factor, (x,), [1, 20, 29])
    r = factor.centred_r()
    assert np.all(r[:, 1] == 0.0)
    assert np.all(np.linalg.norm(r[:, [0, 2]], axis=0) > 1.0)


def test_empty_batches_are_ignored_and_widths_checked():
    factor = CentredRFactor((2,))
    factor.update(np.zeros((2, 0)))
    assert factor.num_datapoints == 0
    with pytest.raises(ValueError, match="no datapoints"):
        factor.centred_r()
    with pytest.raises(ValueError, match="widths"):
        CentredRFactor((2, 0))
