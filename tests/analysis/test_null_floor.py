"""Tests for analysis/null_floor.py: the image pairing and the floors it gives."""

import numpy as np
import pytest

from analysis.activations import take_positions
from analysis.cca import canonical_correlations
from analysis.null_floor import (
    FLOOR_GROUP,
    FlooredAccumulator,
    floor_groups,
    floor_pairing,
    image_datapoints,
)


def _floored(x, y, *, seed=0, batch=7, grid=None, count=None):
    """Streams per-image maps x (images, cells, p), y (images, cells, q) in batches.

    With `grid` and `count`, each image contributes `count` seeded positions of the grid
    (as `analysis.capture` does); otherwise every cell.
    """
    images, cells = x.shape[:2]
    grid = grid or (1, cells)
    count = count or cells
    pairing = floor_pairing(images, seed=seed)
    acc = FlooredAccumulator(x.shape[2], y.shape[2], pairing)
    for first in range(0, images, batch):
        last = min(first + batch, images)
        x_own, _ = image_datapoints(x[first:last], count, first, pairing, grid=grid, seed=3)
        y_own, y_served = image_datapoints(y[first:last], count, first, pairing, grid=grid, seed=3)
        acc.update(first, x_own, y_own, y_served)
    assert acc.complete
    return acc


def _mean_square(result):
    return float(np.mean(result.rhos**2))


def test_groups_by_hand():
    assert floor_groups(35, 16) == ((0, 16), (16, 32), (32, 35))
    # A last group of 2 would be a swap: it joins the previous group.
    assert floor_groups(34, 16) == ((0, 16), (16, 34))
    assert floor_groups(2) == ((0, 2),)
    assert FLOOR_GROUP == 16
    with pytest.raises(ValueError, match="at least 2 images, got 1"):
        floor_groups(1)
    with pytest.raises(ValueError, match="at least 3 images, got 2"):
        floor_groups(10, group=2)


def test_pairing_is_one_seeded_cycle_per_group():
    pairing = floor_pairing(40, seed=5)
    assert pairing.groups == ((0, 16), (16, 32), (32, 40))
    for start, stop in pairing.groups:
        # Following partners from the first image visits every image of the group once.
        image, seen = start, []
        for _ in range(stop - start):
            seen.append(image)
            image = int(pairing.partner[image])
        assert image == start and sorted(seen) == list(range(start, stop))
    assert (pairing.partner != np.arange(40)).all()
    np.testing.assert_array_equal(pairing.partner[pairing.served], np.arange(40))
    np.testing.assert_array_equal(pairing.partner, floor_pairing(40, seed=5).partner)
    assert not np.array_equal(pairing.partner, floor_pairing(40, seed=6).partner)


def test_identical_layers_floor_at_the_gaussian_expectation():
    # x = y: the value is 1; the floor pairs each image with another, independent one, so
    # its mean squared rho is c / (n - 1) for c = 64 channels, n = 32 x 20 = 640 (sd of one
    # draw 0.002).
    images, cells, c = 32, 20, 64
    floors = []
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((images, cells, c))
        acc = _floored(x, x, seed=seed)
        value, floor = acc.similarity("mean_cca")
        assert value == pytest.approx(1.0, abs=1e-9)
        assert value - floor == pytest.approx(1.0 - floor, abs=1e-12)
        assert acc.floor.num_datapoints == acc.value.num_datapoints == images * cells
        floors.append(_mean_square(acc.floor.result()))
    assert np.mean(floors) == pytest.approx(c / (images * cells - 1), abs=0.005)


def test_image_permutation_keeps_the_within_image_correlation():
    # Independent layers whose positions share a per-image effect: the effective n is near
    # the image count, so the value (itself a null) is far above c / (n - 1). The image-
    # permuted floor lands on it; a permutation of single positions would not.
    images, cells, c = 64, 40, 32
    for seed in range(2):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((images, 1, c)) + 0.5 * rng.standard_normal((images, cells, c))
        y = rng.standard_normal((images, 1, c)) + 0.5 * rng.standard_normal((images, cells, c))
        acc = _floored(x, y, seed=seed)
        value, floor = (_mean_square(a.result()) for a in (acc.value, acc.floor))
        gaussian = c / (images * cells - 1)
        assert value > 10 * gaussian and floor > 10 * gaussian
        assert floor == pytest.approx(value, abs=0.05)
        positions = rng.permutation(images * cells)
        shuffled = canonical_correlations(x.reshape(-1, c).T, y.reshape(-1, c).T[:, positions])
        assert _mean_square(shuffled) == pytest.approx(gaussian, abs=0.005)


def test_positions_stay_aligned_when_subsampled():
    # Layers linked only through the grid cell (the same map at every image, plus noise):
    # the floor keeps cells aligned, so it keeps that link; pairing the partner's own
    # positions instead loses it.
    rng = np.random.default_rng(4)
    images, grid, count, c = 48, (8, 8), 16, 6
    layout = rng.standard_normal((64, c))
    x = layout + 0.2 * rng.standard_normal((images, 64, c))
    y = layout @ rng.standard_normal((c, c)) + 0.2 * rng.standard_normal((images, 64, c))
    acc = _floored(x, y, grid=grid, count=count)
    assert acc.value.num_datapoints == images * count
    value, floor = acc.similarity("mean_cca")
    assert value > 0.8 and floor == pytest.approx(value, abs=0.05)
    pairing = floor_pairing(images, seed=0)
    own_x = take_positions(x, count, range(images), grid=grid, seed=3)
    own_y = take_positions(y, count, range(images), grid=grid, seed=3)
    misaligned = own_y[pairing.partner].reshape(-1, c).T
    assert canonical_correlations(own_x.reshape(-1, c).T, misaligned).mean < value - 0.3


def test_the_floor_is_seeded_and_independent_of_batching():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((37, 5, 12)), rng.standard_normal((37, 5, 9))
    first = _floored(x, y, seed=1, batch=7)
    for measure in ("mean_cca", "svcca", "pwcca", "cka"):
        floor = first.similarity(measure)[1]
        assert _floored(x, y, seed=1, batch=37).similarity(measure)[1] == floor
        assert _floored(x, y, seed=1, batch=3).similarity(measure)[1] == floor
    assert _floored(x, y, seed=2).similarity("mean_cca")[1] != first.similarity("mean_cca")[1]


def test_an_incomplete_floor_raises():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((20, 4, 3))
    pairing = floor_pairing(20, seed=0)
    acc = FlooredAccumulator(3, 3, pairing)
    own, served = image_datapoints(x[:10], 4, 0, pairing, grid=(2, 2), seed=0)
    acc.update(0, own, own, served)
    assert not acc.complete
    with pytest.raises(ValueError, match=r"incomplete: images 0\.\.15 were not all fed"):
        acc.similarity("mean_cca")
