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

import math

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
    *,
    to_px,
    disc: tuple[float, float],
    disc_radius: float,
    fovea: tuple[float, float],
    vessels: list[Vessel],
    scale: float,
) -> None:
    """Places and draws the planned lesions.

    Args:
      rng: the only source of randomness.
      plan: from `plan_lesions`.
      layers: drawing contexts of the mode-"L" layers "red" (haemorrhages, microaneurysms),
        "yellow" (exudates), "cotton" (cotton-wool spots, fibrous veils), "new_vessels" and
        "vein" (for beading).
      to_px: maps field-unit points, float array (..., 2), to layer pixels.
      disc: optic disc centre, field units.
      disc_radius: optic disc radius, field units.
      fovea: fovea centre, field units.
      vessels: the vessel tree (for lesions that follow vessels).
      scale: layer pixels per field unit.
    """

    def px(x: float, y: float) -> tuple[float, float]:
        p = to_px(np.array([x, y]))
        return float(p[0]), float(p[1])

    red, yellow, cotton = layers["red"], layers["yellow"], layers["cotton"]
    for _ in range(plan["microaneurysm"]):
        x, y = px(*_posterior_point(rng, fovea, disc, disc_radius, 0.35))
        r = rng.uniform(0.015, 0.022) * scale
        _ellipse(red, x, y, r, r, 255)
    for _ in range(plan["blot"]):
        cx, cy = _posterior_point(rng, fovea, disc, disc_radius, 0.4)
        size = rng.uniform(0.035, 0.06)
        for _part in range(int(rng.integers(1, 4))):
            ox, oy = rng.normal(0.0, 0.4 * size, 2)
            rx, ry = size * rng.uniform(0.6, 1.0, 2)
            x, y = px(cx + ox, cy + oy)
            _ellipse(red, x, y, rx * scale, ry * scale, 255)

    remaining = plan["exudate"]
    while remaining > 0:
        n = min(remaining, int(rng.integers(5, 13)))
        remaining -= n
        cx, cy = _posterior_point(rng, fovea, disc, disc_radius, 0.22)
        ring = rng.random() < 0.5
        ring_radius = rng.uniform(0.07, 0.14)
        for _ in range(n):
            if ring:
                a = rng.uniform(0.0, 2 * math.pi)
                d = ring_radius * rng.uniform(0.85, 1.15)
                x, y = cx + d * math.cos(a), cy + d * math.sin(a)
            else:
                x, y = cx + rng.normal(0.0, 0.05), cy + rng.normal(0.0, 0.05)
            r = rng.uniform(0.013, 0.025) * scale
            _ellipse(yellow, *px(x, y), r, r * rng.uniform(0.7, 1.0), 255)

    for _ in range(plan["cotton_wool"]):
        vessel, i = _vessel_point(rng, vessels)
        x, y = vessel.points[i] + rng.normal(0.0, 0.04, 2)
        r = rng.uniform(0.035, 0.055) * scale
        _ellipse(cotton, *px(x, y), r, r * rng.uniform(0.6, 1.0), 230)

    for _ in range(plan["venous_beading"]):
        vessel, i = _vessel_point(rng, vessels, VEIN)
        for j in range(i, min(i + 12, len(vessel.points)), 2):
            r = vessel.widths[j] * rng.uniform(0.6, 0.8) * scale
            _ellipse(layers["vein"], *px(*vessel.points[j]), r, r, 255)

    nv_width = max(1, round(0.009 * scale))
    for _ in range(plan["neovascular"]):
        if rng.random() < 0.5:
            a = rng.uniform(0.0, 2 * math.pi)
            cx = disc[0] + disc_radius * 0.7 * math.cos(a)
            cy = disc[1] + disc_radius * 0.7 * math.sin(a)
        else:
            vessel, i = _vessel_point(rng, vessels)
            cx, cy = vessel.points[i]
        # A tuft: many short, tightly curling vessels, on a faint fibrous veil.
        _ellipse(cotton, *px(cx, cy), 0.07 * scale, 0.07 * scale, 70)
        for _ in range(int(rng.integers(14, 26))):
            x, y = cx + rng.normal(0.0, 0.035), cy + rng.normal(0.0, 0.035)
            heading = rng.uniform(0.0, 2 * math.pi)
            pts = [px(x, y)]
            for _step in range(int(rng.integers(5, 10))):
                heading += rng.normal(0.0, 0.9)
                x += 0.014 * math.cos(heading)
                y += 0.014 * math.sin(heading)
                pts.append(px(x, y))
            layers["new_vessels"].line(pts, fill=255, width=nv_width, joint="curve")
