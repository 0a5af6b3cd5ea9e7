"""The synthetic Gabor bank: grid coverage, zero-mean filters, exact scale."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from transfusion_tf import gabor


@pytest.mark.parametrize(
    "shape, orientations", [((7, 7, 3, 32), 8), ((7, 7, 3, 64), 16), ((5, 5, 1, 8), 2)]
)
def test_bank_covers_the_grid_zero_mean_and_scaled(shape, orientations):
    bank, grid = gabor.gabor_bank(shape, target_std=0.0731)
    assert bank.shape == shape and bank.dtype == np.float64
    assert len(grid.orientations) == orientations
    np.testing.assert_allclose(grid.orientations, np.arange(orientations) * math.pi / orientations)
    assert grid.frequencies == gabor.DEFAULT_FREQUENCIES
    assert grid.phases == gabor.DEFAULT_PHASES
    # Every (orientation, frequency, phase) of the grid appears exactly once.
    expected = set(itertools.product(grid.orientations, grid.frequencies, grid.phases))
    assert set(grid.filters) == expected and len(grid.filters) == shape[-1]
    assert abs(bank.std() - 0.0731) < 1e-6
    assert abs(bank.astype(np.float32).astype(np.float64).std() - 0.0731) < 1e-6
    np.testing.assert_allclose(bank.mean(axis=(0, 1)), 0.0, atol=1e-12)  # per filter, channel
    # The same grayscale filter on every input channel.
    for c in range(1, shape[2]):
        np.testing.assert_array_equal(bank[:, :, c], bank[:, :, 0])
    assert grid.sigma == shape[0] / 4


def test_filters_are_the_formula():
    g = gabor.gabor_filter(7, theta=0.0, frequency=0.25, phase=0.0, sigma=2.0)
    x = np.arange(7) - 3.0
    row = np.exp(-(x**2) / 8.0) * np.cos(2 * math.pi * 0.25 * x)
    expected = np.exp(-(x[:, None] ** 2) / 8.0) * row[None, :]
    expected -= expected.mean()
    np.testing.assert_allclose(g, expected / np.linalg.norm(expected), atol=1e-12)
    # theta = pi/2 turns the filter by 90 degrees: stripes along x instead of y.
    turned = gabor.gabor_filter(7, theta=math.pi / 2, frequency=0.25, phase=0.0, sigma=2.0)
    np.testing.assert_allclose(turned, g.T, atol=1e-12)
    odd = gabor.gabor_filter(7, theta=0.0, frequency=0.25, phase=math.pi / 2, sigma=2.0)
    np.testing.assert_allclose(odd, -odd[:, ::-1], atol=1e-12)  # Odd phase: antisymmetric.


def test_grid_options_and_errors():
    _, grid = gabor.gabor_bank(
        (7, 7, 3, 12), target_std=1.0, frequencies=(0.05, 0.2, 0.4), phases=(0.0,), sigma=1.5
    )
    assert len(grid.orientations) == 4 and grid.sigma == 1.5
    assert grid.filters[:3] == ((0.0, 0.05, 0.0), (0.0, 0.2, 0.0), (0.0, 0.4, 0.0))
    _, grid = gabor.gabor_bank((7, 7, 3, 30), target_std=1.0)  # 8 x 4 = 32 > 30: last 2 dropped
    assert len(grid.filters) == 30 and grid.filters[-1] == (
        grid.orientations[-1],
        0.1,
        math.pi / 2,
    )
    with pytest.raises(ValueError, match="square 4-D kernel"):
        gabor.gabor_bank((7, 5, 3, 8), target_std=1.0)
    with pytest.raises(ValueError, match="target_std must be > 0"):
        gabor.gabor_bank((7, 7, 3, 8), target_std=0.0)
    with pytest.raises(ValueError, match=r"frequencies must lie in \(0, 0.5\]"):
        gabor.gabor_bank((7, 7, 3, 8), target_std=1.0, frequencies=(0.1, 0.7))
    with pytest.raises(ValueError, match="at least 3x3"):
        gabor.gabor_bank((1, 1, 3, 4), target_std=1.0)
    with pytest.raises(ValueError, match="give fewer than 8 filters"):
        gabor.gabor_bank((7, 7, 3, 8), target_std=1.0, num_orientations=1)
