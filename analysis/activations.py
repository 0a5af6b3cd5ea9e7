"""Activation arrays in the package orientation `(neurons, datapoints)`.

`as_activation_pair` checks the shape contract of every measure; `to_datapoints` turns a
batch of endpoint activations into that orientation, with conv positions resized to a
common grid and subsampled (or pooled) identically for every network compared.
"""

from __future__ import annotations

import dataclasses

import numpy as np


def as_activation_pair(
    x, y, *, allow_fewer_datapoints: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Checks two activation arrays and returns them as float64.

    Both arrays hold the responses of one layer each to the same datapoints, in the same
    order: row i is neuron i, column t is datapoint t. Conv activations of shape
    (images, h, w, channels) become (channels, images * h * w).

    Args:
      x: (p, n) array-like, p neurons of the first layer.
      y: (q, n) array-like, q neurons of the second layer.
      allow_fewer_datapoints: accept n < max(p, q). CCA needs n >= max(p, q) (with fewer
        datapoints every canonical correlation is trivially 1), so only CKA may set it.

    Returns:
      (x, y) as float64 arrays of shapes (p, n) and (q, n); no copy when already float64.

    Raises:
      ValueError: an input is not 2-D, is empty, holds NaN or inf, the datapoint counts
        differ, or n < max(p, q) (the usual sign of a `(datapoints, neurons)` array).
    """
    arrays = {"x": np.asarray(x), "y": np.asarray(y)}
    for name, a in arrays.items():
        if a.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (neurons, datapoints); got shape {a.shape}. Flatten conv "
                "activations (images, h, w, channels) to (channels, images * h * w)."
            )
        if a.size == 0:
            raise ValueError(f"{name} is empty: shape {a.shape}")
    x, y = (a.astype(np.float64, copy=False) for a in arrays.values())
    if x.shape[1] != y.shape[1]:
        hint = (
            "; their first dimensions match instead, so they look like (datapoints, neurons): "
            "transpose them"
            if x.shape[0] == y.shape[0]
            else ""
        )
        raise ValueError(
            f"x has shape {x.shape} and y has shape {y.shape}: both must be (neurons, "
            f"datapoints) over the same datapoints, so their second dimensions must match{hint}"
        )
    p, n = x.shape
    q = y.shape[0]
    if n < max(p, q) and not allow_fewer_datapoints:
        raise ValueError(
            f"x has shape {x.shape} and y has shape {y.shape}: {n} datapoints for {max(p, q)} "
            "neurons. The orientation is (neurons, datapoints); an array passed as "
            "(datapoints, neurons) looks like this, so transpose it. With genuinely fewer "
            "datapoints than neurons CCA is degenerate (every correlation is 1)."
        )
    for name, a in (("x", x), ("y", y)):
        bad = a.size - np.count_nonzero(np.isfinite(a))
        if bad:
            raise ValueError(f"{name} has {bad} non-finite values (NaN or inf)")
    return x, y


# --- Conv activations to datapoints ----------------------------------------------------------
#
# A conv endpoint gives (images, h, w, c); each (image, h, w) position is a datapoint. Two
# networks are compared on the same images and the same positions: when their grids differ
# (other input size or architecture) both are brought to the smaller grid by area
# averaging, and the positions are drawn on that grid from a generator seeded by
# (seed, image index, grid), so every network compared on that grid gets the same ones.
#
# How many: independent random layers of p and q channels have mean squared canonical
# correlation max(p, q) / (n - 1), so n must grow with the channels for CCA to mean
# anything; the default asks for 10 datapoints per channel of the larger layer of a pair.

SAMPLING_MODES = ("subsample", "pool")


@dataclasses.dataclass(frozen=True)
class SpatialSampling:
    """How conv activations become datapoints.

    Attributes:
      mode: "subsample" keeps `positions_per_image` seeded positions per image (all of them
        when the grid is smaller); "pool" area-averages each image's map to
        `pool_grid` x `pool_grid` (1: global average pooling) and keeps every cell.
      datapoints: subsample mode: the minimum total over all images of a compared pair.
      per_channel: subsample mode: datapoints per channel of the larger layer of the pair;
        the target is max(datapoints, per_channel * max(p, q)). 0: `datapoints` alone.
      pool_grid: pool mode: side of the pooled grid.
      seed: seeds the positions.
    """

    mode: str = "subsample"
    datapoints: int = 10_000
    pool_grid: int = 1
    seed: int = 0
    per_channel: int = 10

    def __post_init__(self):
        if self.mode not in SAMPLING_MODES:
            raise ValueError(
                f"unknown sampling mode {self.mode!r}; valid: {', '.join(SAMPLING_MODES)}"
            )
        if self.datapoints < 1 or self.pool_grid < 1:
            raise ValueError(
                f"datapoints and pool_grid must be >= 1, got {self.datapoints}, {self.pool_grid}"
            )
        if self.per_channel < 0:
            raise ValueError(f"per_channel must be >= 0, got {self.per_channel}")

    def target_grid(self, grid: tuple[int, int]) -> tuple[int, int]:
        """The grid the datapoints are taken from, given the common endpoint grid."""
        if self.mode == "pool":
            return (min(grid[0], self.pool_grid), min(grid[1], self.pool_grid))
        return tuple(grid)

    def target_datapoints(self, channels: int = 0) -> int:
        """Datapoints asked for a pair whose larger layer has `channels` channels."""
        return max(self.datapoints, self.per_channel * int(channels))

    def positions_per_image(self, grid: tuple[int, int], num_images: int, channels: int = 0) -> int:
        """Datapoints each image contributes on `grid` (its target grid).

        Subsample: ceil(target / images), the same for every image (the null floor pairs
        whole images), at most the grid's cells. Pool: every pooled cell.
        """
        cells = grid[0] * grid[1]
        if self.mode == "pool":
            return cells
        return min(cells, -(-self.target_datapoints(channels) // num_images))


def spatial_grid(shape) -> tuple[int, int]:
    """(h, w) of an endpoint output shape: (batch, h, w, c), or (1, 1) for (batch, c)."""
    if len(shape) == 2:
        return (1, 1)
    if len(shape) == 4:
        return (int(shape[1]), int(shape[2]))
    raise ValueError(f"endpoint activations must be (batch, c) or (batch, h, w, c); got {shape}")


def common_grid(*grids: tuple[int, int]) -> tuple[int, int]:
    """The grid every compared endpoint is brought to: the smallest height and width."""
    return (min(g[0] for g in grids), min(g[1] for g in grids))


def area_weights(size: int, new_size: int) -> np.ndarray:
    """(new_size, size) matrix averaging `size` cells into `new_size` equal intervals.

    Row i weighs input cell j by the length of its overlap with [i, i + 1) * size / new_size,
    divided by that interval's length; rows sum to 1. With size = m * new_size it averages
    blocks of m.
    """
    edges = np.arange(new_size + 1) * (size / new_size)
    lo = np.maximum(edges[:-1, None], np.arange(size)[None, :])
    hi = np.minimum(edges[1:, None], np.arange(1, size + 1)[None, :])
    return np.clip(hi - lo, 0.0, None) * (new_size / size)


def resize_to_grid(acts: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Area-averages (images, h, w, c) activations down to `grid`.

    Area averaging (not point sampling) so each cell of the smaller grid summarises the
    input cells it covers; an exact m x m block repeat comes back unchanged. Separable:
    one weight matrix per axis.

    Args:
      acts: (images, h, w, c) or (images, c) (treated as a 1x1 grid).
      grid: (gh, gw) with gh <= h and gw <= w.

    Returns:
      (images, gh, gw, c) float32.
    """
    acts = np.asarray(acts, dtype=np.float32)
    if acts.ndim == 2:
        acts = acts[:, None, None, :]
    _, h, w, _ = acts.shape
    if (h, w) == tuple(grid):
        return acts
    if grid[0] > h or grid[1] > w:
        raise ValueError(f"cannot area-average a {(h, w)} grid up to {tuple(grid)}")
    rows = area_weights(h, grid[0]).astype(np.float32)
    cols = area_weights(w, grid[1]).astype(np.float32)
    return np.einsum("ih,bhwc,jw->bijc", rows, acts, cols, optimize=True)


def sample_positions(
    grid: tuple[int, int], count: int, *, image_index: int, seed: int
) -> np.ndarray:
    """The flat (h * w) position indices one image contributes, ascending.

    A function of (seed, image index, grid) only, so any two networks compared on the same
    grid use the same positions for the same image.

    Returns:
      (count,) int64 indices into the grid's h * w cells; every cell when count >= h * w.
    """
    cells = grid[0] * grid[1]
    if count >= cells:
        return np.arange(cells)
    rng = np.random.default_rng([seed, image_index, grid[0], grid[1]])
    return np.sort(rng.choice(cells, size=count, replace=False))


def take_positions(
    maps: np.ndarray, count: int, image_indices, *, grid: tuple[int, int], seed: int
) -> np.ndarray:
    """Each map's values at the positions `sample_positions` draws for a given image.

    Args:
      maps: (b, h * w, c) activations on `grid`, one flattened map per image.
      count: positions per image.
      image_indices: (b,) for map i, the image whose positions to take (its own index for
        the value; the index of the image it is paired with for the null floor).
      grid: (h, w).
      seed: the position seed.

    Returns:
      (b, count, c): row i holds map i at image_indices[i]'s positions.
    """
    if count >= maps.shape[1]:
        return maps
    index = np.stack(
        [sample_positions(grid, count, image_index=int(i), seed=seed) for i in image_indices]
    )
    return np.take_along_axis(maps, index[:, :, None], axis=1)


def to_datapoints(
    acts: np.ndarray,
    *,
    grid: tuple[int, int],
    first_image: int,
    num_images: int,
    sampling: SpatialSampling,
    channels: int = 0,
) -> np.ndarray:
    """One batch of endpoint activations as (neurons, datapoints).

    Args:
      acts: (b, h, w, c) or (b, c) activations of images first_image .. first_image + b - 1
        of the selected set.
      grid: the common grid of the endpoints being compared (see `common_grid`).
      first_image: index of the batch's first image in the selected set (seeds positions).
      num_images: size of the selected set (sets positions per image).
      sampling: subsampling or pooling.
      channels: channels of the larger layer of the compared pair (sets the target count).

    Returns:
      (c, b * k) float32, image-major: the k datapoints of image 0, then of image 1, ...
    """
    target = sampling.target_grid(grid)
    maps = resize_to_grid(acts, target)
    b, gh, gw, c = maps.shape
    k = sampling.positions_per_image(target, num_images, channels)
    images = range(first_image, first_image + b)
    flat = take_positions(maps.reshape(b, gh * gw, c), k, images, grid=target, seed=sampling.seed)
    return flat.reshape(b * k, c).T
