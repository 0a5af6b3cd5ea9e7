"""A synthetic Gabor filter bank for conv1, as the paper's authors describe theirs.

The paper's Fig 8: grayscale Gabor filters over orientations x spatial frequencies (low and
high) x phases, repeated across the RGB channels, scaled to the pretrained conv1. Filter i
on the k x k grid centred on the kernel (pixel offsets x, y in [-(k-1)/2, (k-1)/2]) is

    g(x, y) = exp(-(x'^2 + y'^2) / (2 sigma^2)) cos(2 pi f x' + phase),
    x' = x cos(theta) + y sin(theta),  y' = -x sin(theta) + y cos(theta),

made zero-mean (so a flat patch gives no response, as in learned conv1 filters) and scaled
to unit L2 norm (so low and high frequencies carry equal energy), then copied to every input
channel. The whole bank is finally multiplied by one scalar so its standard deviation
equals the target. Filters enumerate orientation-major: (theta_0, f_0, phase_0),
(theta_0, f_0, phase_1), (theta_0, f_1, phase_0), ...; orientations are evenly spaced in
[0, pi).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np

# Cycles per pixel: a 10-pixel and a 3.3-pixel period (Nyquist is 0.5).
DEFAULT_FREQUENCIES = (0.1, 0.3)
# Even (cosine) and odd (sine) filters: bar and edge detectors.
DEFAULT_PHASES = (0.0, math.pi / 2)


@dataclasses.dataclass(frozen=True)
class GaborGrid:
    """The parameters of a bank.

    Attributes:
      orientations: theta values in radians, evenly spaced in [0, pi).
      frequencies: spatial frequencies in cycles per pixel.
      phases: phases in radians.
      sigma: the Gaussian envelope's standard deviation in pixels.
      filters: (theta, frequency, phase) of each output channel, in order.
    """

    orientations: tuple[float, ...]
    frequencies: tuple[float, ...]
    phases: tuple[float, ...]
    sigma: float
    filters: tuple[tuple[float, float, float], ...]

    def describe(self) -> str:
        return (
            f"Gabor {len(self.filters)} filters: {len(self.orientations)} orientations x "
            f"frequencies {list(self.frequencies)} cycles/px x phases "
            f"{[round(p, 4) for p in self.phases]}, sigma {self.sigma:.3g} px"
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def gabor_filter(
    size: int, *, theta: float, frequency: float, phase: float, sigma: float
) -> np.ndarray:
    """One zero-mean, unit-norm grayscale Gabor filter.

    Returns:
      float64 (size, size); rows are y (downwards), columns x.

    Raises:
      ValueError: if the filter is constant (e.g. size 1), so it cannot be normalised.
    """
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    y, x = np.meshgrid(offsets, offsets, indexing="ij")
    along = x * math.cos(theta) + y * math.sin(theta)
    across = -x * math.sin(theta) + y * math.cos(theta)
    envelope = np.exp(-(along**2 + across**2) / (2.0 * sigma**2))
    g = envelope * np.cos(2.0 * math.pi * frequency * along + phase)
    g -= g.mean()
    norm = np.linalg.norm(g)
    if norm < 1e-12:
        raise ValueError(
            f"a {size}x{size} Gabor filter (theta {theta:.3f}, f {frequency}, phase {phase:.3f}) "
            "is constant; use kernels of at least 3x3"
        )
    return g / norm


def gabor_grid(
    out_channels: int,
    *,
    frequencies: Sequence[float] = DEFAULT_FREQUENCIES,
    phases: Sequence[float] = DEFAULT_PHASES,
    num_orientations: int | None = None,
    sigma: float,
) -> GaborGrid:
    """Chooses (theta, frequency, phase) for `out_channels` filters.

    Args:
      out_channels: filters in the bank.
      frequencies: spatial frequencies (cycles per pixel, in (0, 0.5]).
      phases: phases (radians).
      num_orientations: orientations; default ceil(out / (frequencies x phases)), so the
        full grid is covered whenever it divides `out_channels` (32 = 8 x 2 x 2,
        64 = 16 x 2 x 2); extra grid points beyond `out_channels` are dropped from the end.
      sigma: envelope standard deviation in pixels.

    Raises:
      ValueError: on empty lists, frequencies outside (0, 0.5] or a grid too small.
    """
    if not frequencies or not phases:
        raise ValueError("a Gabor bank needs at least one frequency and one phase")
    if any(not 0 < f <= 0.5 for f in frequencies):
        raise ValueError(f"frequencies must lie in (0, 0.5] cycles/pixel, got {frequencies}")
    per_orientation = len(frequencies) * len(phases)
    if num_orientations is None:
        num_orientations = math.ceil(out_channels / per_orientation)
    if num_orientations * per_orientation < out_channels:
        raise ValueError(
            f"{num_orientations} orientations x {per_orientation} give fewer than "
            f"{out_channels} filters"
        )
    orientations = tuple(math.pi * i / num_orientations for i in range(num_orientations))
    filters = tuple(itertools.product(orientations, frequencies, phases))[:out_channels]
    return GaborGrid(
        orientations=orientations,
        frequencies=tuple(float(f) for f in frequencies),
        phases=tuple(float(p) for p in phases),
        sigma=float(sigma),
        filters=filters,
    )


def gabor_bank(
    shape: Sequence[int],
    *,
    target_std: float,
    frequencies: Sequence[float] = DEFAULT_FREQUENCIES,
    phases: Sequence[float] = DEFAULT_PHASES,
    num_orientations: int | None = None,
    sigma: float | None = None,
) -> tuple[np.ndarray, GaborGrid]:
    """A conv1 kernel of Gabor filters.

    Args:
      shape: the kernel shape (k, k, in_channels, out_channels); square kernels only.
      target_std: the bank's standard deviation over all its values (> 0).
      frequencies, phases, num_orientations: see `gabor_grid`.
      sigma: envelope standard deviation in pixels; default k / 4 (the envelope spans the
        kernel at +-2 sigma).

    Returns:
      (float64 kernel of `shape`, its `GaborGrid`). Every filter (and every channel slice)
      has mean 0; the kernel's standard deviation equals `target_std`.

    Raises:
      ValueError: for a non-square or non-4-D shape, a non-positive target, or a bad grid.
    """
    if len(shape) != 4 or shape[0] != shape[1]:
        raise ValueError(f"Gabor banks need a square 4-D kernel (k, k, in, out), got {shape}")
    if not target_std > 0:
        raise ValueError(f"target_std must be > 0, got {target_std}")
    size, _, in_channels, out_channels = (int(d) for d in shape)
    grid = gabor_grid(
        out_channels,
        frequencies=frequencies,
        phases=phases,
        num_orientations=num_orientations,
        sigma=sigma if sigma is not None else size / 4.0,
    )
    filters = np.stack(
        [
            gabor_filter(size, theta=t, frequency=f, phase=p, sigma=grid.sigma)
            for t, f, p in grid.filters
        ],
        axis=-1,
    )  # (k, k, out)
    bank = np.repeat(filters[:, :, None, :], in_channels, axis=2)
    bank *= target_std / bank.std()
    return bank, grid
