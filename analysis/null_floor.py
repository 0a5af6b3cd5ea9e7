"""The null floor of a layer similarity: the same measure with the images paired at random.

Why: after centring, independent random layers of p and q channels over n datapoints have
mean squared canonical correlation max(p, q) / (n - 1), so unrelated layers score a mean
CCA near 0.3 at p/n = 0.1, and neighbouring positions of one image are correlated, which
shrinks the effective n further by an amount that depends on the layer and the images. A
similarity means something only against what unrelated layers score on the same
datapoints: its floor.

Which null: the same activations with the images permuted on the y side. The x datapoints
of image i are paired with the y datapoints of image pi(i) at the same positions (pi has no
fixed point), and the measure is computed exactly as for the value: same datapoint count,
positions, measures and accumulator. This keeps each side's activations (spectrum, dead
units, scales) and, within every image, their spatial autocorrelation; it breaks only
which image the y side saw. Alternatives rejected:
- Permuting single datapoints (positions): the y datapoints paired with one image's x
  datapoints would come from many images, so the within-image correlation no longer lines
  up on the two sides; the floor drops to about the independent-datapoint value
  max(p, q) / (n - 1), too low exactly where neighbouring positions shrink the effective n
  (tests/analysis/test_null_floor.py shows both on activations with an image effect).
- The same layer of an independently seeded network at initialisation: another
  representation (untrained spectrum), so it measures what two random networks share, not
  what chance gives for these activations; and it needs one more network per run.
Positions stay aligned, so structure every image shares at a grid cell (padding, a fundus
mask) counts towards the floor, not towards similarity.

Pairing: the images, in selection order (`analysis.capture.select_images` shuffles them, so
neighbours are unrelated; file order would put a patient's two eyes side by side), are cut
into consecutive groups of `FLOOR_GROUP`; within a group pi is a seeded random single cycle
through all its images. A single cycle has no swaps: with a swap (i, j) the floor pairs
(x_i, y_j) and (x_j, y_i), which share the genuine x_i-y_i and x_j-y_j correlations and
raise the floor by about the square of the similarity. A last group of fewer than 3 images
joins the previous one. Groups bound the memory to one group's datapoints per compared
pair and make the floor independent of the batch size.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis.activations import take_positions
from analysis.cca_streaming import CCAAccumulator

FLOOR_GROUP = 16


@dataclasses.dataclass(frozen=True)
class FloorPairing:
    """Which image's y side each image's x side meets in the null floor.

    Attributes:
      partner: (images,) int64; partner[i] = pi(i) != i, in the same group as i.
      groups: consecutive (start, stop) image ranges covering every image.
      seed: the seed the cycles were drawn with.
    """

    partner: np.ndarray
    groups: tuple[tuple[int, int], ...]
    seed: int

    @property
    def served(self) -> np.ndarray:
        """(images,) the inverse of `partner`: image j's y side meets served[j]'s x side."""
        inverse = np.empty_like(self.partner)
        inverse[self.partner] = np.arange(self.partner.size)
        return inverse


def floor_groups(num_images: int, group: int = FLOOR_GROUP) -> tuple[tuple[int, int], ...]:
    """Consecutive (start, stop) ranges of `group` images; a last one under 3 joins the previous.

    Raises:
      ValueError: fewer than 2 images (no image to pair with) or a group under 3.
    """
    if num_images < 2:
        raise ValueError(
            f"the null floor pairs each image with another one: it needs at least 2 images, "
            f"got {num_images}"
        )
    if group < 3:
        raise ValueError(f"floor groups need at least 3 images, got {group}")
    starts = list(range(0, num_images, group))
    if len(starts) > 1 and num_images - starts[-1] < 3:
        starts.pop()
    return tuple(zip(starts, [*starts[1:], num_images], strict=True))


def floor_pairing(num_images: int, *, seed: int, group: int = FLOOR_GROUP) -> FloorPairing:
    """A seeded random single cycle through each group of images (see the module docstring).

    Args:
      num_images: images in the selection, >= 2.
      seed: seeds the cycles; group g draws from a generator seeded with (seed, g).
      group: images per group, >= 3.
    """
    groups = floor_groups(num_images, group)
    partner = np.empty(num_images, dtype=np.int64)
    for g, (start, stop) in enumerate(groups):
        order = start + np.random.default_rng([seed, g]).permutation(stop - start)
        partner[order] = np.roll(order, -1)
    return FloorPairing(partner, groups, int(seed))


def image_datapoints(
    maps: np.ndarray,
    count: int,
    first_image: int,
    pairing: FloorPairing,
    *,
    grid: tuple[int, int],
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One batch of one layer's maps as `FlooredAccumulator.update` takes them.

    Args:
      maps: (b, h * w, c) flattened maps of images first_image .. first_image + b - 1.
      count: positions per image.
      first_image: index of the batch's first image.
      pairing: the floor pairing.
      grid: (h, w); positions come from `analysis.activations.sample_positions`.
      seed: the position seed.

    Returns:
      own (b, count, c): each image at its own positions; served (b, count, c): each image j
      at the positions of the image whose x side it meets, pairing.served[j].
    """
    images = np.arange(first_image, first_image + maps.shape[0])
    own = take_positions(maps, count, images, grid=grid, seed=seed)
    served = take_positions(maps, count, pairing.served[images], grid=grid, seed=seed)
    return own, served


class FlooredAccumulator:
    """One endpoint pair's similarity and its null floor, streamed in batches of images.

    Attributes:
      value: `CCAAccumulator` of the pairs as observed.
      floor: `CCAAccumulator` of the image-permuted pairs (fed one complete group at a time).
    """

    def __init__(self, num_x: int, num_y: int, pairing: FloorPairing, *, rtol=None):
        """Args:
        num_x, num_y: channels of the two layers.
        pairing: from `floor_pairing`, over the images that will be fed.
        rtol: rank tolerance of both accumulators (see `analysis.cca`).
        """
        self.value = CCAAccumulator(num_x, num_y, rtol=rtol)
        self.floor = CCAAccumulator(num_x, num_y, rtol=rtol)
        self._pairing = pairing
        self._served = pairing.served
        self._x, self._y = {}, {}
        self._next_group = 0

    def update(self, first_image: int, x_own, y_own, y_served) -> None:
        """Adds images first_image .. first_image + b - 1.

        Args:
          first_image: index of the batch's first image in the selection.
          x_own: (b, k, p) x's datapoints of each image at its own positions.
          y_own: (b, k, q) y's datapoints of each image at its own positions.
          y_served: (b, k, q) y's datapoints of each image j at the positions of the image
            whose x side it meets, `pairing.served[j]`.
        """
        b, k, p = x_own.shape
        assert y_own.shape[:2] == y_served.shape[:2] == (b, k), (y_own.shape, y_served.shape)
        self.value.update(x_own.reshape(b * k, p).T, y_own.reshape(b * k, -1).T)
        for j in range(b):
            image = first_image + j
            self._x[image] = x_own[j]
            self._y[int(self._served[image])] = y_served[j]
        self._flush()

    @property
    def complete(self) -> bool:
        """Whether every group has gone into the floor."""
        return self._next_group == len(self._pairing.groups)

    def similarity(self, measure: str, **kwargs) -> tuple[float, float]:
        """(value, floor) of a measure (see `CCAAccumulator.similarity`).

        Raises:
          ValueError: some images of the pairing were never fed.
        """
        if not self.complete:
            start, stop = self._pairing.groups[self._next_group]
            raise ValueError(
                f"the null floor is incomplete: images {start}..{stop - 1} were not all fed"
            )
        return (
            self.value.similarity(measure, **kwargs),
            self.floor.similarity(measure, **kwargs),
        )

    def _flush(self) -> None:
        while not self.complete:
            start, stop = self._pairing.groups[self._next_group]
            images = range(start, stop)
            if any(i not in self._x or i not in self._y for i in images):
                return
            x = np.concatenate([self._x.pop(i) for i in images])
            y = np.concatenate([self._y.pop(i) for i in images])
            self.floor.update(x.T, y.T)
            self._next_group += 1
