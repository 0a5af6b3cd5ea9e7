"""Tests for analysis/filters.py: tiles by hand, figures from a saved NPZ."""

import numpy as np
import pytest

from analysis.figures import filters


def test_filter_tiles_by_hand():
    kernel = np.zeros((1, 2, 3, 2))
    kernel[0, 0, :, 0] = [1.0, -1.0, 0.5]  # filter 0, pixel 0 holds an RGB triple
    kernel[0, 1, :, 1] = [2.0, 2.0, 2.0]
    tiles = filters.filter_tiles(kernel, np.array([1.0, 4.0]))
    assert tiles.shape == (2, 1, 2, 3)
    np.testing.assert_allclose(tiles[0, 0, 0], [1.0, 0.0, 0.75])
    np.testing.assert_allclose(tiles[0, 0, 1], [0.5, 0.5, 0.5])  # zero weight: mid-gray
    np.testing.assert_allclose(tiles[1, 0, 1], [0.75, 0.75, 0.75])
    # Not 3 input channels: the mean over them, in gray; a zero scale does not divide by 0.
    gray = filters.filter_tiles(np.full((2, 2, 4, 1), -0.5), 0.0)
    np.testing.assert_allclose(gray, 0.25)


def test_tile_grid_layout():
    tiles = np.zeros((5, 2, 3, 3))
    grid = filters.tile_grid(tiles)  # 5 tiles -> 3 columns, 2 rows, 1 px gaps
    assert grid.shape == (2 * 3 - 1, 3 * 4 - 1, 3)
    assert grid[2].min() == 1.0 and grid[0, 3].min() == 1.0  # white gaps
    assert grid[3:, 8:].min() == 1.0  # the unused sixth cell stays white


def _save(path, run="r0"):
    rng = np.random.default_rng(0)
    init = rng.normal(size=(5, 5, 3, 6)).astype(np.float32)
    np.savez(
        path,
        run=run,
        layer="block1/conv",
        init=init,
        final=init * 1.1,
        init_step=0,
        final_step=6,
    )


def test_plot_all(tmp_path):
    _save(tmp_path / "fig5_r0.npz")
    _save(tmp_path / "fig5_p0.npz", run="p0")
    for normalize in filters.NORMALIZATIONS:
        written = filters.plot_all(str(tmp_path), normalize=normalize, max_filters=4)
        assert written == [
            str(tmp_path / f"fig5_{run}.{ext}") for run in ("p0", "r0") for ext in ("png", "pdf")
        ]
    with pytest.raises(ValueError, match="unknown normalize 'minmax'"):
        filters.plot_all(str(tmp_path), normalize="minmax")
    with pytest.raises(FileNotFoundError, match="no fig5_.*npz in"):
        filters.plot_all(str(tmp_path / "empty"))
