"""Diabetic-retinopathy lesions of a synthetic fundus: what each grade shows, and where.

`plan_lesions` decides how many lesions of each kind an eye of a given grade has (the
International Clinical DR scale, 0-indexed as in EyePACS); `draw_lesions` places and draws
them on the mode-"L" layers that `pipelines.synthetic.fundus` composites. Geometry is in field units
(see `pipelines.synthetic.vessels`).

Grade by grade:
  0  none.
  1  a few microaneurysms only (tiny red dots).
  2  more microaneurysms, blot haemorrhages, and in most eyes a cluster of hard exudates.
  3  many haemorrhages in the posterior pole, exudates, cotton-wool spots, venous beading.
  4  as 3, plus one to three tufts of new vessels on the disc or along the arcades.
Referable (grade >= 2) and non-referable eyes differ by the kind and number of small local
lesions, whose total area stays a few percent of the field, so that global colour statistics,
dominated by the camera, say little about the grade.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
from PIL import ImageDraw

from pipelines.synthetic.vessels import VEIN, Vessel

LESION_KINDS = (
    "microaneurysm",
    "blot",
    "exudate",
    "cotton_wool",
    "venous_beading",
    "neovascular",
)

NUM_GRADES = 5


def plan_lesions(rng: np.random.Generator, grade: int) -> dict[str, int]:
    """Draws how many lesions of each kind an eye of `grade` shows.

    Args:
      rng: the only source of randomness.
      grade: DR grade, 0..4.

    Returns:
      {kind: count} for every kind in `LESION_KINDS`. `exudate` counts single spots (drawn
      in clusters), `venous_beading` counts beaded vein stretches, `neovascular` counts tufts.

    Raises:
      ValueError: if `grade` is not in 0..4.
    """
    if grade not in range(NUM_GRADES):
        raise ValueError(f"grade must be in 0..{NUM_GRADES - 1}, got {grade!r}")
    plan = dict.fromkeys(LESION_KINDS, 0)
    if grade == 1:
        plan["microaneurysm"] = int(rng.integers(1, 6))
    elif grade == 2:
        plan["microaneurysm"] = int(rng.integers(3, 13))
        plan["blot"] = int(rng.integers(3, 8))
        plan["exudate"] = int(rng.integers(5, 17)) if rng.random() < 0.65 else 0
        plan["cotton_wool"] = int(rng.random() < 0.15)
    elif grade >= 3:
        plan["microaneurysm"] = int(rng.integers(8, 21))
        plan["blot"] = int(rng.integers(8, 19))
        plan["exudate"] = int(rng.integers(6, 26)) if rng.random() < 0.75 else 0
        plan["cotton_wool"] = int(rng.integers(1, 5))
        plan["venous_beading"] = int(rng.integers(0, 3))
        if grade == 4:
            plan["neovascular"] = int(rng.integers(1, 4))
    return plan


def _posterior_point(
    rng: np.random.Generator,
    fovea: tuple[float, float],
    disc: tuple[float, float],
    disc_radius: float,
    spread: float,
) -> tuple[float, float]:
    """A point spread round the fovea, inside the field and off the disc."""
    for _ in range(30):
        x = fovea[0] + rng.normal(0.0, spread)
        y = fovea[1] + rng.normal(0.0, spread)
        if x * x + y * y < 0.85**2 and math.hypot(x - disc[0], y - disc[1]) > 1.6 * disc_radius:
            return x, y
    return fovea


def _ellipse(draw: ImageDraw.ImageDraw, cx: float, cy: float, rx: float, ry: float, fill: int):
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)


def _vessel_point(rng: np.random.Generator, vessels: list[Vessel], kind: int | None = None):
    """A random point on the first 70% of a random trunk, and the vessel's heading there."""
    trunks = [v for v in vessels if v.depth == 0 and (kind is None or v.kind == kind)]
    vessel = trunks[int(rng.integers(len(trunks)))]
    n = len(vessel.points)
    i = int(rng.integers(1, max(2, int(0.7 * n))))
    i = min(i, n - 1)
    return vessel, i


def draw_lesions(
    rng: np.random.Generator,
    plan: dict[str, int],
    layers: dict[str, ImageDraw.ImageDraw],
    anatomy,
    *,
    to_px,
    scale: float,
) -> None:
    """Places and draws the planned lesions.

    Args:
      rng: the only source of randomness.
      plan: from `plan_lesions`.
      layers: drawing contexts of the mode-"L" layers "red" (haemorrhages, microaneurysms),
        "yellow" (exudates), "cotton" (cotton-wool spots, fibrous veils), "new_vessels" and
        "vein" (for beading).
      anatomy: the eye's landmarks, in field units: `disc` (optic disc centre),
        `disc_radius`, `fovea` (centre) and `vessels` (the vessel tree, for lesions that
        follow vessels).
      to_px: maps field-unit points, float array (..., 2), to layer pixels.
      scale: layer pixels per field unit.
    """
    landmarks = (anatomy.disc, anatomy.disc_radius, anatomy.fovea, anatomy.vessels)
    at = _Placement(rng, to_px, *landmarks, scale)
    _microaneurysms(at, layers["red"], plan["microaneurysm"])
    _blots(at, layers["red"], plan["blot"])
    _exudates(at, layers["yellow"], plan["exudate"])
    _cotton_wool(at, layers["cotton"], plan["cotton_wool"])
    _venous_beading(at, layers["vein"], plan["venous_beading"])
    _new_vessels(at, layers["new_vessels"], layers["cotton"], plan["neovascular"])


@dataclasses.dataclass(frozen=True)
class _Placement:
    """Where lesions go: the eye's landmarks, the generator, field units -> layer pixels."""

    rng: np.random.Generator
    to_px: Callable[[np.ndarray], np.ndarray]
    disc: tuple[float, float]
    disc_radius: float
    fovea: tuple[float, float]
    vessels: list[Vessel]
    scale: float

    def px(self, x: float, y: float) -> tuple[float, float]:
        p = self.to_px(np.array([x, y]))
        return float(p[0]), float(p[1])

    def posterior(self, spread: float) -> tuple[float, float]:
        return _posterior_point(self.rng, self.fovea, self.disc, self.disc_radius, spread)


def _microaneurysms(at: _Placement, red: ImageDraw.ImageDraw, count: int) -> None:
    for _ in range(count):
        x, y = at.px(*at.posterior(0.35))
        r = at.rng.uniform(0.015, 0.022) * at.scale
        _ellipse(red, x, y, r, r, 255)


def _blots(at: _Placement, red: ImageDraw.ImageDraw, count: int) -> None:
    rng = at.rng
    for _ in range(count):
        cx, cy = at.posterior(0.4)
        size = rng.uniform(0.035, 0.06)
        for _part in range(int(rng.integers(1, 4))):
            ox, oy = rng.normal(0.0, 0.4 * size, 2)
            rx, ry = size * rng.uniform(0.6, 1.0, 2)
            x, y = at.px(cx + ox, cy + oy)
            _ellipse(red, x, y, rx * at.scale, ry * at.scale, 255)


def _exudates(at: _Placement, yellow: ImageDraw.ImageDraw, count: int) -> None:
    """`count` spots in clusters of 5-12, each a ring (circinate) or a heap."""
    rng, remaining = at.rng, count
    while remaining > 0:
        n = min(remaining, int(rng.integers(5, 13)))
        remaining -= n
        cx, cy = at.posterior(0.22)
        ring = rng.random() < 0.5
        ring_radius = rng.uniform(0.07, 0.14)
        for _ in range(n):
            if ring:
                a = rng.uniform(0.0, 2 * math.pi)
                d = ring_radius * rng.uniform(0.85, 1.15)
                x, y = cx + d * math.cos(a), cy + d * math.sin(a)
            else:
                x, y = cx + rng.normal(0.0, 0.05), cy + rng.normal(0.0, 0.05)
            r = rng.uniform(0.013, 0.025) * at.scale
            _ellipse(yellow, *at.px(x, y), r, r * rng.uniform(0.7, 1.0), 255)


def _cotton_wool(at: _Placement, cotton: ImageDraw.ImageDraw, count: int) -> None:
    rng = at.rng
    for _ in range(count):
        vessel, i = _vessel_point(rng, at.vessels)
        x, y = vessel.points[i] + rng.normal(0.0, 0.04, 2)
        r = rng.uniform(0.035, 0.055) * at.scale
        _ellipse(cotton, *at.px(x, y), r, r * rng.uniform(0.6, 1.0), 230)


def _venous_beading(at: _Placement, vein: ImageDraw.ImageDraw, count: int) -> None:
    for _ in range(count):
        vessel, i = _vessel_point(at.rng, at.vessels, VEIN)
        for j in range(i, min(i + 12, len(vessel.points)), 2):
            r = vessel.widths[j] * at.rng.uniform(0.6, 0.8) * at.scale
            _ellipse(vein, *at.px(*vessel.points[j]), r, r, 255)


def _new_vessels(
    at: _Placement, new_vessels: ImageDraw.ImageDraw, cotton: ImageDraw.ImageDraw, count: int
) -> None:
    """`count` tufts on the disc or along the arcades: many short, tightly curling vessels
    on a faint fibrous veil."""
    rng, scale = at.rng, at.scale
    nv_width = max(1, round(0.009 * scale))
    for _ in range(count):
        if rng.random() < 0.5:
            a = rng.uniform(0.0, 2 * math.pi)
            cx = at.disc[0] + at.disc_radius * 0.7 * math.cos(a)
            cy = at.disc[1] + at.disc_radius * 0.7 * math.sin(a)
        else:
            vessel, i = _vessel_point(rng, at.vessels)
            cx, cy = vessel.points[i]
        _ellipse(cotton, *at.px(cx, cy), 0.07 * scale, 0.07 * scale, 70)
        for _ in range(int(rng.integers(14, 26))):
            x, y = cx + rng.normal(0.0, 0.035), cy + rng.normal(0.0, 0.035)
            heading = rng.uniform(0.0, 2 * math.pi)
            pts = [at.px(x, y)]
            for _step in range(int(rng.integers(5, 10))):
                heading += rng.normal(0.0, 0.9)
                x += 0.014 * math.cos(heading)
                y += 0.014 * math.sin(heading)
                pts.append(at.px(x, y))
            new_vessels.line(pts, fill=255, width=nv_width, joint="curve")
