"""Visible signs of the five CheXpert task pathologies, drawn into a synthetic radiograph.

Each sign is local and anatomical: it changes the lungs, heart or pleura where a
radiologist would look for it, never the image as a whole. Coordinates are the canonical
body frame of `pipelines.synthetic.chest_xray` (x to the image right, y down, the thorax spanning
about [-0.75, 0.75] across); `Canvas` holds the per-pixel maps the signs write into.

A sign has three states: `absent`, `uncertain` (drawn small or faint, the kind of picture
a report hedges on) and `present` (drawn clearly). Every sign draws its random numbers
from its own generator, in the same order whatever its state, so switching one sign on or
off leaves the rest of the picture unchanged.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw

PATHOLOGIES = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
STATES = ("absent", "uncertain", "present")


@dataclasses.dataclass
class Lung:
    """One lung field (frontal view) or both lungs superimposed (lateral view, side 0).

    Attributes:
      side: -1 image left (the patient's right), +1 image right, 0 lateral view.
      cx: horizontal centre.
      half_width: half its width.
      apex: y of the apex.
      base: y of the diaphragm at the costophrenic angle.
    """

    side: int
    cx: float
    half_width: float
    apex: float
    base: float

    @property
    def medial_x(self) -> float:
        return self.cx - self.side * self.half_width

    @property
    def lateral_x(self) -> float:
        return self.cx + self.side * self.half_width


@dataclasses.dataclass
class Geometry:
    """Landmarks the signs are placed by."""

    view: str
    lungs: list[Lung]
    hila: list[tuple[float, float]]


@dataclasses.dataclass
class Canvas:
    """Per-pixel maps of one picture, all float32 (size, size).

    Attributes:
      X, Y: canonical coordinates of each pixel.
      px: canonical units per pixel.
      to_pixels: maps canonical (x, y) to pixel (column, row).
      opacity: fraction of the lung's air replaced by fluid or tissue, in [0, 1].
      layers: named line drawings (Pillow, 'L' mode) made on demand.
      vessel_blur: extra blur (pixels) of the vascular markings; oedema makes them hazy.
    """

    X: np.ndarray
    Y: np.ndarray
    px: float
    to_pixels: object
    opacity: np.ndarray
    layers: dict = dataclasses.field(default_factory=dict)
    vessel_blur: float = 0.0

    def draw(self, layer: str) -> ImageDraw.ImageDraw:
        if layer not in self.layers:
            self.layers[layer] = Image.new("L", self.X.shape[::-1])
        return ImageDraw.Draw(self.layers[layer])

    def layer(self, layer: str) -> np.ndarray:
        """The drawing as float32 in [0, 1] (zeros if nothing was drawn)."""
        if layer not in self.layers:
            return np.zeros_like(self.X)
        return np.asarray(self.layers[layer], np.float32) / 255.0

    def polyline(self, layer: str, points, width: float, fill: int = 255) -> None:
        pixels = [self.to_pixels(x, y) for x, y in points]
        scale = self.X.shape[0] / 128.0
        self.draw(layer).line(pixels, fill=fill, width=max(1, round(width * scale)), joint="curve")

    def add_opacity(self, amount: np.ndarray) -> None:
        np.maximum(self.opacity, amount, out=self.opacity)


def ramp(distance: np.ndarray, width: float) -> np.ndarray:
    """0 -> 1 as `distance` rises through [-width/2, width/2]: an antialiased edge."""
    return np.clip(distance / width + 0.5, 0.0, 1.0)


def segment_distance(X, Y, p0, p1) -> np.ndarray:
    """Distance of every pixel from the segment p0-p1."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((X - x0) * dx + (Y - y0) * dy) / (dx * dx + dy * dy + 1e-12), 0.0, 1.0)
    return np.hypot(X - (x0 + t * dx), Y - (y0 + t * dy))


# ---- Cardiomegaly -------------------------------------------------------------------------


def heart_ratio(state: str, rng: np.random.Generator, normal: float) -> float:
    """Cardiothoracic ratio: the patient's own (0.38-0.5) when absent, 0.52-0.64 present.

    AP films magnify the heart by 6%, so some healthy AP hearts reach an uncertain or even
    a mildly enlarged PA heart's ratio.
    """
    u = rng.uniform()
    if state == "present":
        return 0.52 + 0.12 * u
    if state == "uncertain":
        return 0.5 + 0.03 * u
    return normal


# ---- Atelectasis --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AtelectasisPlan:
    """Where the plate-like opacity goes and how much volume the lung loses.

    `elevation` lifts the affected hemidiaphragm and `shift` moves the mediastinum toward
    the affected side (volume loss); both are zero for an uncertain finding.
    """

    sides: tuple[int, ...]
    elevation: float
    shift: float
    thickness: float
    density: float
    bands: tuple[tuple[float, float, float, float], ...]  # (height above base, x, length, tilt)


def plan_atelectasis(state: str, rng: np.random.Generator, view: str) -> AtelectasisPlan | None:
    """Draws the atelectasis parameters (geometry changes come before the anatomy)."""
    side = -1 if rng.uniform() < 0.5 else 1
    bilateral = rng.uniform() < 0.15
    elevation = rng.uniform(0.08, 0.13)
    shift = side * rng.uniform(0.02, 0.045)
    thickness = rng.uniform(0.03, 0.045)
    bands = tuple(
        (
            rng.uniform(0.1, 0.24),
            rng.uniform(-0.2, 0.3),
            rng.uniform(0.22, 0.34),
            rng.normal(0, 0.15),
        )
        for _ in range(2)
    )
    if state == "absent":
        return None
    sides = (0,) if view == "lateral" else ((-1, 1) if bilateral else (side,))
    if state == "uncertain":
        return AtelectasisPlan(sides, 0.0, 0.0, thickness * 0.5, 0.5, bands[:1])
    return AtelectasisPlan(
        sides, elevation, shift if view == "frontal" else 0.0, thickness, 0.9, bands
    )


def draw_atelectasis(canvas: Canvas, geo: Geometry, plan: AtelectasisPlan | None) -> None:
    if plan is None:
        return
    for lung in geo.lungs:
        if lung.side not in plan.sides:
            continue
        direction = lung.side or 1
        for height, offset, length, tilt in plan.bands[: 1 if len(plan.sides) > 1 else 2]:
            cy = lung.base - height
            cx = lung.cx + direction * offset * lung.half_width
            dx, dy = 0.5 * length * np.cos(tilt), 0.5 * length * np.sin(tilt)
            d = segment_distance(canvas.X, canvas.Y, (cx - dx, cy - dy), (cx + dx, cy + dy))
            canvas.add_opacity(plan.density * ramp(plan.thickness - d, 1.5 * canvas.px))


# ---- Pleural effusion ---------------------------------------------------------------------


def draw_effusion(canvas: Canvas, geo: Geometry, state: str, rng: np.random.Generator) -> None:
    """Fluid at the lung base: blunted costophrenic angle, meniscus rising to the wall."""
    choice = rng.choice(3, p=[0.35, 0.3, 0.35])
    heights = rng.uniform(0.12, 0.34, size=2)
    small = rng.uniform(0.045, 0.075, size=2)
    if state == "absent":
        return
    sides = {0: (-1,), 1: (1,), 2: (-1, 1)}[int(choice)]
    X, Y = canvas.X, canvas.Y
    for i, lung in enumerate(geo.lungs):
        if lung.side and lung.side not in sides:
            continue
        h = heights[i] if state == "present" else small[i]
        if lung.side == 0:  # Lateral: the posterior sulcus fills first.
            q = np.clip((X - lung.cx + 0.35) / (0.35 + lung.half_width), 0.0, 1.0)
        else:
            q = np.clip((X - lung.medial_x) / (lung.lateral_x - lung.medial_x), 0.0, 1.0)
        surface = lung.base - h * (0.35 + 0.9 * q * q)
        fluid = ramp(Y - surface, 0.02 + 0.1 * h)
        if lung.side:  # Each hemithorax holds its own fluid.
            fluid *= ramp(X * lung.side - 0.02, canvas.px)
        canvas.add_opacity(0.93 * fluid)


# ---- Edema --------------------------------------------------------------------------------


def draw_edema(canvas: Canvas, geo: Geometry, state: str, rng: np.random.Generator) -> None:
    """Perihilar (bat-wing) haze, hazy vessels and, when present, Kerley B lines.

    Healthy lungs get a mild perihilar prominence and slightly soft vessels too, so it is
    the strength of the haze, not its presence, that marks oedema.
    """
    normal, normal_blur = rng.uniform(0.0, 0.22), rng.uniform(0.0, 0.9)
    strength, blur = rng.uniform(0.34, 0.6), rng.uniform(1.2, 2.0)
    faint = rng.uniform(0.2, 0.3)
    spread = rng.uniform(0.85, 1.15)
    lines = [
        (rng.integers(2, 7), rng.uniform(0.03, 0.28, size=8), rng.uniform(0.05, 0.09, size=8))
        for _ in geo.lungs
    ]
    k = {"absent": normal, "uncertain": faint, "present": strength}[state]
    haze = np.zeros_like(canvas.X)
    for hx, hy in geo.hila:
        sx = (0.2 if geo.view == "frontal" else 0.3) * spread
        haze += np.exp(-(((canvas.X - hx) / sx) ** 2) - ((canvas.Y - hy) / (0.27 * spread)) ** 2)
    canvas.add_opacity(k * np.clip(haze, 0.0, 1.0))
    canvas.vessel_blur = {"absent": normal_blur, "uncertain": 1.0, "present": blur}[state]
    if state != "present":
        return
    for lung, (count, heights, lengths) in zip(geo.lungs, lines, strict=True):
        wall = lung.lateral_x if lung.side else lung.cx + lung.half_width
        inward = -(lung.side or 1)
        for j in range(count):
            y = lung.base - heights[j]
            canvas.polyline("marks", [(wall, y), (wall + inward * lengths[j], y)], 1.0)


# ---- Consolidation ------------------------------------------------------------------------


def draw_consolidation(canvas: Canvas, geo: Geometry, state: str, rng: np.random.Generator) -> None:
    """A dense, irregular patch; when present it carries air bronchograms."""
    lung = geo.lungs[rng.integers(len(geo.lungs))]
    zone = rng.choice(3, p=[0.5, 0.3, 0.2])
    frac = (rng.uniform(0.65, 0.78), rng.uniform(0.42, 0.58), rng.uniform(0.2, 0.35))[int(zone)]
    offset = rng.uniform(-0.45, 0.55)
    count = rng.integers(3, 6)
    jitter = rng.normal(0.0, 0.045, size=(6, 2))
    sigmas = rng.uniform(0.055, 0.08, size=6)
    branches = rng.uniform(-0.6, 0.6, size=(3, 3))
    lengths = rng.uniform(0.08, 0.15, size=3)
    if state == "absent":
        return
    cx = lung.cx + (lung.side or 1) * offset * lung.half_width
    cy = lung.apex + frac * (lung.base - lung.apex)
    scale = 1.0 if state == "present" else 0.55
    field = np.zeros_like(canvas.X)
    for (jx, jy), sigma in zip(jitter[:count] * scale, sigmas[:count] * scale, strict=True):
        d2 = (canvas.X - cx - jx) ** 2 + (canvas.Y - cy - jy) ** 2
        field += np.exp(-d2 / (2 * sigma * sigma))
    patch = np.clip((field - 0.3) / 0.35, 0.0, 1.0)
    if state != "present":
        canvas.add_opacity(0.5 * patch)
        return
    # Bronchi run away from the hilum; inside the patch their air stays visible.
    hx, hy = min(geo.hila, key=lambda h: (h[0] - cx) ** 2 + (h[1] - cy) ** 2)
    angle = np.arctan2(cy - hy, cx - hx)
    for (a0, a1, a2), length in zip(branches, lengths, strict=True):
        start = (cx - 0.6 * length * np.cos(angle + a0), cy - 0.6 * length * np.sin(angle + a0))
        mid = (start[0] + length * np.cos(angle + a0), start[1] + length * np.sin(angle + a0))
        end = (
            mid[0] + 0.6 * length * np.cos(angle + a1),
            mid[1] + 0.6 * length * np.sin(angle + a1),
        )
        twig = (
            mid[0] + 0.5 * length * np.cos(angle + a2),
            mid[1] + 0.5 * length * np.sin(angle + a2),
        )
        canvas.polyline("bronchi", [start, mid, end], 1.6)
        canvas.polyline("bronchi", [mid, twig], 1.0)
    canvas.add_opacity(0.93 * patch * (1.0 - 0.7 * canvas.layer("bronchi")))


# ---- Other drawn observations -------------------------------------------------------------


def draw_nodule(canvas: Canvas, geo: Geometry, state: str, rng: np.random.Generator) -> None:
    """Lung Lesion: a small round opacity."""
    lung = geo.lungs[rng.integers(len(geo.lungs))]
    u, v, radius = rng.uniform(-0.6, 0.6), rng.uniform(0.15, 0.7), rng.uniform(0.025, 0.045)
    if state == "absent":
        return
    x = lung.cx + u * lung.half_width
    y = lung.apex + v * (lung.base - lung.apex)
    d = np.hypot(canvas.X - x, canvas.Y - y)
    canvas.add_opacity((0.85 if state == "present" else 0.45) * ramp(radius - d, 2 * canvas.px))


def draw_devices(canvas: Canvas, geo: Geometry, present: bool, rng: np.random.Generator) -> None:
    """Support Devices: endotracheal tube, central line, ECG leads (radiopaque, bright)."""
    kinds = rng.uniform(size=3) < (0.5, 0.5, 0.6)
    side = -1 if rng.uniform() < 0.6 else 1
    leads = rng.uniform(-0.7, 0.7, size=(4, 2))
    tip = rng.uniform(-0.5, -0.35)
    if not present:
        return
    if not kinds.any():
        kinds[0] = True
    frontal = geo.view == "frontal"
    if kinds[0]:  # Endotracheal tube down the trachea.
        x = 0.01 if frontal else -0.05
        canvas.polyline("devices", [(x, -1.1), (x, tip)], 2.5)
    if kinds[1]:  # Central venous line from the subclavian vein into the SVC.
        path = [(side * 0.55, -0.95), (side * 0.3, -0.66), (0.08, -0.52), (0.05, -0.15)]
        canvas.polyline("devices", path if frontal else [(0.2, -0.95), (-0.1, -0.2)], 1.5)
    if kinds[2]:  # ECG electrodes.
        for x, y in leads[: 2 + int(rng.integers(3))]:
            cx, cy = canvas.to_pixels(x, y)
            r = max(1.5, 2.5 * canvas.X.shape[0] / 128)
            canvas.draw("devices").ellipse((cx - r, cy - r, cx + r, cy + r), outline=255, width=1)
