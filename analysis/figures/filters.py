"""Fig 5: conv1 filters at initialisation and after training, from saved NPZ files.

Reads every `fig5_<run>.npz` written by `analysis.run_analysis --analyses=fig5` (arrays
`init` and `final` of shape (kh, kw, in, out)) and writes `fig5_<run>.png/.pdf`: two
grids side by side, one tile per output filter. 3 input channels are drawn as RGB, other
counts as the mean over input channels in gray. Tiles map 0 to mid-gray:
0.5 + 0.5 * w / scale, where scale is each filter's own max |w| (`per_filter`, shows
shapes) or the max |w| over the layer at both checkpoints (`shared`, shows how much the
weights grew or shrank).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

import numpy as np

from analysis.figures.files import FORMATS, plt, save_figure

NORMALIZATIONS = ("per_filter", "shared")
TILE_PIXELS = 30  # Enlarged tile height in image pixels.


def filter_tiles(kernel: np.ndarray, scale: np.ndarray | float) -> np.ndarray:
    """Conv kernels as displayable tiles.

    Args:
      kernel: (kh, kw, in, out).
      scale: scalar or (out,) positive divisors.

    Returns:
      (out, kh, kw, 3) float in [0, 1], 0.5 where a weight is 0.
    """
    assert kernel.ndim == 4, kernel.shape
    k = np.moveaxis(np.asarray(kernel, np.float64), -1, 0)  # (out, kh, kw, in)
    if k.shape[-1] != 3:
        k = np.repeat(k.mean(axis=-1, keepdims=True), 3, axis=-1)
    scale = np.broadcast_to(np.asarray(scale, np.float64), (k.shape[0],))
    scale = np.where(scale > 0, scale, 1.0)[:, None, None, None]
    return np.clip(0.5 + 0.5 * k / scale, 0.0, 1.0)


def tile_grid(tiles: np.ndarray, *, pad: int = 1, zoom: int = 1) -> np.ndarray:
    """(n, h, w, 3) tiles -> one (rows*(h'+pad)-pad, cols*(w'+pad)-pad, 3) image, white gaps.

    Each tile is first enlarged `zoom` times by pixel repetition (h' = zoom * h), so a 5x5
    filter reads as 5x5 blocks, not as a few blurred screen pixels.
    """
    tiles = np.repeat(np.repeat(tiles, zoom, axis=1), zoom, axis=2)
    n, h, w, _ = tiles.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, 3))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return grid


def plot_run_filters(npz, *, normalize: str = "per_filter", max_filters: int = 64):
    """Init and final filter grids of one saved run, side by side."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown normalize {normalize!r}; valid: {', '.join(NORMALIZATIONS)}")
    init, final = npz["init"][..., :max_filters], npz["final"][..., :max_filters]
    shared = max(np.abs(init).max(), np.abs(final).max())
    zoom = max(1, -(-TILE_PIXELS // init.shape[0]))  # Every tile at least TILE_PIXELS high.
    fig, axes = plt.subplots(1, 2, figsize=(11, 6), dpi=110)
    for ax, kernel, which in ((axes[0], init, "init"), (axes[1], final, "final")):
        scale = np.abs(kernel).max(axis=(0, 1, 2)) if normalize == "per_filter" else shared
        grid = tile_grid(filter_tiles(kernel, scale), pad=zoom, zoom=zoom)
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(f"{which} (step {int(npz[f'{which}_step'])})", fontsize=10)
        ax.axis("off")
    how = {
        "per_filter": "each filter scaled to its own max |w|",
        "shared": "one scale: the layer's max |w| at both steps",
    }[normalize]
    fig.suptitle(
        f"{npz['run']}: {npz['layer']} {tuple(npz['init'].shape)}; {how}, mid-gray = 0",
        fontsize=10,
    )
    return fig


def plot_all(
    analysis_dir: str,
    *,
    out_dir: str | None = None,
    normalize: str = "per_filter",
    max_filters: int = 64,
    formats: Sequence[str] = FORMATS,
) -> list[str]:
    """Draws `fig5_<run>` for every `fig5_<run>.npz`; returns the files written.

    Raises:
      FileNotFoundError: no `fig5_*.npz` in `analysis_dir`.
    """
    paths = sorted(glob.glob(os.path.join(analysis_dir, "fig5_*.npz")))
    if not paths:
        raise FileNotFoundError(
            f"no fig5_*.npz in {analysis_dir}; run python -m analysis.run_analysis "
            "--analyses=fig5 first"
        )
    written = []
    for path in paths:
        with np.load(path) as npz:
            fig = plot_run_filters(npz, normalize=normalize, max_filters=max_filters)
        stem = os.path.basename(path)[: -len(".npz")]
        written += save_figure(fig, out_dir or analysis_dir, stem, formats)
    return written
