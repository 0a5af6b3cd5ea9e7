"""Tests for analysis/activations.py: the (neurons, datapoints) contract."""

import numpy as np
import pytest

from analysis.activations import as_activation_pair


def test_float64_passes_through_and_other_dtypes_are_converted():
    x = np.arange(12.0).reshape(3, 4)
    y = np.arange(8, dtype=np.float32).reshape(2, 4)
    out_x, out_y = as_activation_pair(x, y)
    assert out_x is x
    assert out_y.dtype == np.float64 and out_y.shape == (2, 4)
    out_x, _ = as_activation_pair([[1, 2, 3]], [[3, 2, 1]])
    assert out_x.dtype == np.float64


def test_errors_name_the_shapes():
    x, y = np.zeros((3, 10)), np.zeros((4, 10))
    with pytest.raises(ValueError, match=r"\(10, 3\).*\(10, 4\).*transpose them"):
        as_activation_pair(x.T, y.T)
    with pytest.raises(ValueError, match=r"\(3, 10\).*\(4, 9\).*must match$"):
        as_activation_pair(x, y[:, 1:])
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4, 2\): 2 datapoints for 4 neurons"):
        as_activation_pair(x[:, :2], y[:, :2])
    assert as_activation_pair(x[:, :2], y[:, :2], allow_fewer_datapoints=True)[0].shape == (3, 2)
    with pytest.raises(ValueError, match=r"y must be 2-D.*\(2, 5, 4\).*channels"):
        as_activation_pair(x, np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"x is empty: shape \(0, 10\)"):
        as_activation_pair(np.zeros((0, 10)), y)
    y[2, 3] = -np.inf
    with pytest.raises(ValueError, match="y has 1 non-finite"):
        as_activation_pair(x, y)
