"""Tests for analysis/activations.py: the (neurons, datapoints) contract, conv datapoints."""

import numpy as np
import pytest

from analysis.activations import (
    SpatialSampling,
    area_weights,
    as_activation_pair,
    common_grid,
    resize_to_grid,
    sample_positions,
    spatial_grid,
    to_datapoints,
)
from tests.tolerances import reduction_atol


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


def _coded(images, h, w, c=2):
    """(images, h, w, c): channel 0 = 1000*image + 10*row + col, channel 1 = its negative."""
    i, r, col = np.meshgrid(np.arange(images), np.arange(h), np.arange(w), indexing="ij")
    code = (1000 * i + 10 * r + col).astype(np.float32)
    return np.stack([code, -code] + [code * k for k in range(2, c)], axis=-1)


def test_area_weights_by_hand():
    np.testing.assert_array_equal(area_weights(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    # 3 cells into 2: the middle one is split in half.
    np.testing.assert_allclose(area_weights(3, 2), [[2 / 3, 1 / 3, 0], [0, 1 / 3, 2 / 3]])
    np.testing.assert_allclose(area_weights(7, 3).sum(axis=1), 1.0)


def test_resize_to_grid_undoes_block_repeat_and_averages():
    small = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype(np.float32)
    big = small.repeat(2, axis=1).repeat(2, axis=2)
    # Float32, separable: a weighted sum over the h rows, then over the w columns, each
    # weight <= 1 and the weights of an output summing to 1: h + w terms deep, at most
    # max |x| in size (tests/tolerances.py).
    atol = reduction_atol(6 + 10, float(np.abs(small).max()))
    np.testing.assert_allclose(resize_to_grid(big, (3, 5)), small, rtol=0, atol=atol)
    np.testing.assert_array_equal(resize_to_grid(small, (3, 5)), small)
    # Against numpy's mean of the 15 cells: a mean of values of both signs can be near 0,
    # so the tolerance is absolute, scaled by the mean |x| of each output's cells.
    atol = reduction_atol(3 * 5, float(np.abs(small).mean(axis=(1, 2)).max()))
    np.testing.assert_allclose(
        resize_to_grid(small, (1, 1))[:, 0, 0], small.mean(axis=(1, 2)), rtol=0, atol=atol
    )
    assert resize_to_grid(small[:, 0, 0, :], (1, 1)).shape == (2, 1, 1, 4)
    with pytest.raises(ValueError, match=r"cannot area-average a \(3, 5\) grid up to \(4, 5\)"):
        resize_to_grid(small, (4, 5))


def test_grids():
    assert spatial_grid((None, 16, 12, 8)) == (16, 12)
    assert spatial_grid((None, 8)) == (1, 1)
    assert common_grid((16, 16), (8, 12), (10, 4)) == (8, 4)
    with pytest.raises(ValueError, match=r"\(batch, c\) or \(batch, h, w, c\); got \(None, 3, 3\)"):
        spatial_grid((None, 3, 3))


def test_sample_positions_depend_on_seed_image_and_grid_only():
    a = sample_positions((8, 8), 5, image_index=3, seed=0)
    assert a.dtype.kind == "i" and len(a) == 5 and len(set(a)) == 5 and (np.diff(a) > 0).all()
    np.testing.assert_array_equal(a, sample_positions((8, 8), 5, image_index=3, seed=0))
    assert not np.array_equal(a, sample_positions((8, 8), 5, image_index=4, seed=0))
    assert not np.array_equal(a, sample_positions((8, 8), 5, image_index=3, seed=1))
    np.testing.assert_array_equal(sample_positions((2, 3), 9, image_index=0, seed=0), range(6))


def test_subsample_takes_the_same_positions_from_every_network():
    sampling = SpatialSampling(datapoints=10, seed=7)  # 4 images -> 3 positions each
    acts = _coded(4, 8, 8)
    first, second = acts[:3], acts[3:]
    batch_1 = to_datapoints(first, grid=(8, 8), first_image=0, num_images=4, sampling=sampling)
    batch_2 = to_datapoints(second, grid=(8, 8), first_image=3, num_images=4, sampling=sampling)
    assert batch_1.shape == (2, 9) and batch_2.shape == (2, 3)
    codes = np.concatenate([batch_1, batch_2], axis=1)[0]
    for image in range(4):
        flat = sample_positions((8, 8), 3, image_index=image, seed=7)
        expected = 1000 * image + 10 * (flat // 8) + flat % 8
        np.testing.assert_array_equal(codes[3 * image : 3 * image + 3], expected)
    np.testing.assert_array_equal(np.concatenate([batch_1, batch_2], axis=1)[1], -codes)
    # A network with a 2x finer grid (a block repeat of the same map) gives exactly the
    # same datapoints once brought to the common 8x8 grid.
    fine = acts.repeat(2, axis=1).repeat(2, axis=2)
    again = to_datapoints(fine, grid=(8, 8), first_image=0, num_images=4, sampling=sampling)
    whole = to_datapoints(acts, grid=(8, 8), first_image=0, num_images=4, sampling=sampling)
    atol = reduction_atol(16 + 16, float(np.abs(acts).max()))  # codes up to ~3077
    np.testing.assert_allclose(again, whole, rtol=0, atol=atol)


def test_pooling_and_vectors():
    acts = np.random.default_rng(1).normal(size=(3, 4, 4, 5)).astype(np.float32)
    pooled = to_datapoints(
        acts,
        grid=(4, 4),
        first_image=0,
        num_images=3,
        sampling=SpatialSampling(mode="pool", pool_grid=1),
    )
    # Float32 means of values of both signs: absolute tolerance from the 16 cells' mean |x|.
    atol = reduction_atol(4 * 4, float(np.abs(acts).mean(axis=(1, 2)).max()))
    np.testing.assert_allclose(pooled, acts.mean(axis=(1, 2)).T, rtol=0, atol=atol)
    two = to_datapoints(
        acts,
        grid=(4, 4),
        first_image=0,
        num_images=3,
        sampling=SpatialSampling("pool", pool_grid=2),
    )
    assert two.shape == (5, 12)
    # Weights 1/2, 1/2, 0, 0 over 4 rows, then 4 columns: 4 + 4 terms deep.
    atol = reduction_atol(4 + 4, float(np.abs(acts[0, :2, :2]).mean(axis=(0, 1)).max()))
    np.testing.assert_allclose(two[:, 0], acts[0, :2, :2].mean(axis=(0, 1)), rtol=0, atol=atol)
    vectors = to_datapoints(
        acts[:, 0, 0], grid=(1, 1), first_image=0, num_images=3, sampling=SpatialSampling()
    )
    np.testing.assert_array_equal(vectors, acts[:, 0, 0].T)
    # Small grids keep every position, whatever the target.
    everything = to_datapoints(
        acts, grid=(4, 4), first_image=0, num_images=3, sampling=SpatialSampling(datapoints=10**6)
    )
    assert everything.shape == (5, 48)


def test_sampling_validation():
    with pytest.raises(ValueError, match="unknown sampling mode 'crop'; valid: subsample, pool"):
        SpatialSampling(mode="crop")
    with pytest.raises(ValueError, match="must be >= 1"):
        SpatialSampling(datapoints=0)
    s = SpatialSampling(datapoints=100)
    assert s.positions_per_image((8, 8), 3) == 34 and s.positions_per_image((4, 4), 3) == 16
    assert SpatialSampling("pool", pool_grid=3).target_grid((2, 8)) == (2, 3)
