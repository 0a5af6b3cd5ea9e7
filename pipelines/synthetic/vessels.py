"""The retinal vessel tree of a synthetic fundus: growth and drawing.

Geometry is in *field units*: the circular field of view has centre (0, 0) and radius 1,
x to the right and y downwards (image convention), for a canonical right eye whose optic
disc sits right of the centre. `pipelines.synthetic.fundus` mirrors it for left eyes.

Vessels leave the disc as four arcades (superior/inferior temporal curving round the
macula, superior/inferior nasal), each a vein and an artery, and branch as they go. A
vessel is a polyline of points with a width that tapers along it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import numpy as np
from PIL import ImageDraw

VEIN, ARTERY = 0, 1

# (initial heading in radians, curvature in radians per field unit, length). Headings are
# image angles (y down): the temporal arcades start up/down-left and bend left round the
# macula; the nasal ones fan out to the right.
_TRUNKS = (
    (-1.80, -2.3, 1.7),
    (1.80, 2.3, 1.7),
    (-1.00, 0.9, 1.0),
    (1.00, -0.9, 1.0),
)
_STEP = 0.03
_MAX_DEPTH = 3
_BRANCH_PROB = (0.08, 0.05, 0.03)
_VEIN_WIDTH = 0.034
_ARTERY_WIDTH = 0.025


@dataclasses.dataclass
class Vessel:
    """One unbranched vessel.

    Attributes:
      points: float64 array (n, 2) of (x, y) in field units, n >= 2.
      widths: float64 array (n,) of width in field units at each point.
      kind: VEIN or ARTERY.
      depth: 0 for the arcade trunks, +1 per branching.
    """

    points: np.ndarray
    widths: np.ndarray
    kind: int
    depth: int


def grow_vessel_tree(rng: np.random.Generator, disc: tuple[float, float]) -> list[Vessel]:
    """Grows the vessel tree from the optic disc.

    Args:
      rng: the only source of randomness.
      disc: (x, y) centre of the optic disc in field units (canonical right eye).

    Returns:
      The vessels, trunks first. The number of vessels depends on the random draws.
    """
    stack = []
    for heading, curvature, length in _TRUNKS:
        for kind, width, offset in ((VEIN, _VEIN_WIDTH, 0.12), (ARTERY, _ARTERY_WIDTH, -0.12)):
            stack.append(
                (
                    disc[0],
                    disc[1],
                    heading + offset + rng.normal(0.0, 0.08),
                    curvature * rng.uniform(0.8, 1.2),
                    width * rng.uniform(0.9, 1.1),
                    length * rng.uniform(0.85, 1.1),
                    0,
                    kind,
                )
            )
    # Small vessels running from the disc straight towards the macula.
    for sign in (-1.0, 1.0):
        stack.append((disc[0], disc[1], math.pi + sign * 0.25, -sign * 0.5, 0.012, 0.35, 2, ARTERY))

    vessels = []
    while stack:
        x, y, heading, curvature, width, length, depth, kind = stack.pop(0)
        n_steps = max(2, int(length / _STEP))
        points = [(x, y)]
        widths = [width]
        # Drawn per vessel up front: one generator call per array instead of per step.
        wiggle = rng.normal(0.0, 0.10, n_steps)
        branch = rng.random(n_steps)
        for i in range(n_steps):
            s = i * _STEP
            # Curvature fades with distance so the arcades straighten towards the periphery.
            heading += curvature * _STEP * math.exp(-s / 0.8) + wiggle[i]
            x += _STEP * math.cos(heading)
            y += _STEP * math.sin(heading)
            if x * x + y * y > 1.1:
                break
            w = width * (1.0 - 0.45 * (i + 1) / n_steps)
            points.append((x, y))
            widths.append(w)
            if depth < _MAX_DEPTH and i > 2 and branch[i] < _BRANCH_PROB[depth]:
                side = 1.0 if rng.random() < 0.5 else -1.0
                stack.append(
                    (
                        x,
                        y,
                        heading + side * rng.uniform(0.45, 1.1),
                        rng.normal(0.0, 1.5),
                        w * rng.uniform(0.55, 0.75),
                        (length - s) * rng.uniform(0.35, 0.7) + 0.1,
                        depth + 1,
                        kind,
                    )
                )
        if len(points) >= 2:
            vessels.append(Vessel(np.asarray(points), np.asarray(widths), kind, depth))
    return vessels


def draw_vessels(
    draw: ImageDraw.ImageDraw,
    vessels: list[Vessel],
    to_px: Callable[[np.ndarray], np.ndarray],
    scale: float,
    kind: int,
    fill: int = 255,
) -> None:
    """Draws the vessels of one kind as opaque strokes on a mode-"L" layer.

    Args:
      draw: drawing context of the layer.
      vessels: from `grow_vessel_tree`.
      to_px: maps field-unit points, float array (n, 2), to layer pixels (n, 2).
      scale: layer pixels per field unit (for stroke widths).
      kind: VEIN or ARTERY; others are skipped.
      fill: stroke value, 0..255.
    """
    for vessel in vessels:
        if vessel.kind != kind:
            continue
        pts = to_px(vessel.points)
        # Drawn in a few chunks of constant width: PIL strokes have one width each, and
        # per-segment strokes would cost more than the whole rest of the image.
        n = len(pts)
        chunks = max(1, min(4, n // 6))
        bounds = np.linspace(0, n - 1, chunks + 1).astype(int)
        for a, b in itertools.pairwise(bounds):
            width = max(1, round(float(vessel.widths[a]) * scale))
            # No rounded joints: the heading turns little per step, so the notches at the
            # corners are sub-pixel, and Pillow draws round joints slice by slice in Python
            # (a third of the render time at 256 px).
            draw.line([tuple(p) for p in pts[a : b + 1].tolist()], fill=fill, width=width)
