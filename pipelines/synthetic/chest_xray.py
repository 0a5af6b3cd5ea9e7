"""Synthetic chest radiographs: anatomy, projection and exposure (numpy and Pillow).

`render_chest(anatomy, findings, view=..., projection=..., size=..., seed=...)` returns a
grayscale uint8 picture. It is built as an attenuation map in a canonical body frame
(x to the image right, y down; the thorax spans about [-0.75, 0.75]): soft tissue, aerated
lungs, heart and mediastinum, spine, ribs, clavicles, diaphragm, stomach bubble, vascular
markings, then the signs of `pipelines.synthetic.chest_signs`. The frame is placed in the picture
with a random shift, scale and tilt, and the attenuation is windowed with a random level,
width and gamma, blurred and made noisy: exposure and positioning vary from picture to
picture so that global intensity statistics say little, while the signs stay local.

`Anatomy` is a patient's body (shared by all their studies); everything else is drawn per
picture from `seed`. Frontal views put the patient's right on the image left (heart to the
image right); lateral views face the image left (sternum left, spine right).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from pipelines.synthetic import chest_signs
from pipelines.synthetic.chest_signs import Canvas, Geometry, Lung, ramp, segment_distance

PATHOLOGIES = chest_signs.PATHOLOGIES
STATES = chest_signs.STATES
# Observations drawn besides the five pathologies (as 'absent'/'uncertain'/'present').
EXTRA_FINDINGS = ("Lung Lesion", "Support Devices")
VIEWS = ("frontal", "lateral")
PROJECTIONS = {"frontal": ("PA", "AP"), "lateral": ("", "LL", "RL")}


@dataclasses.dataclass(frozen=True)
class Anatomy:
    """A patient's body, the same in every study.

    Attributes:
      body_half_width: half the chest wall's width.
      lung_half_width: half a lung's width (frontal).
      apex: y of the lung apices.
      base: y of the right hemidiaphragm at the costophrenic angle.
      heart_ratio: the healthy cardiothoracic ratio (0.38-0.5).
      soft_tissue: attenuation of the soft tissue.
      air: fraction of the soft-tissue attenuation that aerated lung lacks.
      bone: attenuation scale of bones.
      rib_spacing: vertical period of the ribs.
      female: draws breast shadows.
    """

    body_half_width: float
    lung_half_width: float
    apex: float
    base: float
    heart_ratio: float
    soft_tissue: float
    air: float
    bone: float
    rib_spacing: float
    female: bool


def sample_anatomy(rng: np.random.Generator, *, female: bool | None = None) -> Anatomy:
    """Draws a patient's body."""
    return Anatomy(
        body_half_width=rng.uniform(0.84, 0.97),
        lung_half_width=rng.uniform(0.28, 0.32),
        apex=rng.uniform(-0.78, -0.7),
        base=rng.uniform(0.38, 0.48),
        heart_ratio=rng.uniform(0.38, 0.5),
        soft_tissue=rng.uniform(0.42, 0.6),
        air=rng.uniform(0.55, 0.72),
        bone=rng.uniform(0.8, 1.2),
        rib_spacing=rng.uniform(0.12, 0.145),
        female=bool(rng.uniform() < 0.45) if female is None else female,
    )


@dataclasses.dataclass(frozen=True)
class Frame:
    """Places the canonical body frame in a size x size picture."""

    size: int
    cx: float
    cy: float
    scale: float
    angle: float

    @property
    def px(self) -> float:
        """Canonical units per pixel."""
        return 2.0 / (self.size * self.scale)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Canonical (X, Y) of every pixel centre, float32 (size, size) each."""
        t = (np.arange(self.size, dtype=np.float32) + 0.5) * (2.0 / self.size) - 1.0
        dx, dy = t[None, :] - self.cx, t[:, None] - self.cy
        c, s = math.cos(self.angle), math.sin(self.angle)
        return (c * dx + s * dy) / self.scale, (-s * dx + c * dy) / self.scale

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        c, s = math.cos(self.angle), math.sin(self.angle)
        u = self.cx + self.scale * (c * x - s * y)
        v = self.cy + self.scale * (s * x + c * y)
        return (u + 1.0) * self.size / 2.0 - 0.5, (v + 1.0) * self.size / 2.0 - 0.5


def render_chest(
    anatomy: Anatomy,
    findings: Mapping[str, str],
    *,
    view: str = "frontal",
    projection: str = "PA",
    size: int = 128,
    seed: int | Sequence[int] = 0,
) -> np.ndarray:
    """Renders one radiograph.

    Args:
      anatomy: the patient's body.
      findings: observation name (`PATHOLOGIES` or `EXTRA_FINDINGS`) -> one of `STATES`;
        missing names are absent.
      view: `frontal` or `lateral`.
      projection: `PA` or `AP` for frontal views (AP magnifies the heart, raises the
        diaphragm and shows the scapulae); `''`, `LL` or `RL` for laterals (drawn alike).
      size: side of the square picture in pixels.
      seed: seeds positioning, exposure, texture and the signs.

    Returns:
      uint8 (size, size), 0 = black (air outside the body).

    Raises:
      ValueError: for an unknown view, projection, finding or state.
    """
    if view not in VIEWS or projection not in PROJECTIONS[view]:
        raise ValueError(f"bad view/projection {view!r}/{projection!r}; valid: {PROJECTIONS}")
    for name, state in findings.items():
        if name not in PATHOLOGIES + EXTRA_FINDINGS or state not in STATES:
            raise ValueError(f"bad finding {name!r}={state!r}")
    states = {name: findings.get(name, "absent") for name in PATHOLOGIES + EXTRA_FINDINGS}
    entropy = [int(seed)] if np.ndim(seed) == 0 else [int(s) for s in seed]
    rng = np.random.default_rng([*entropy, 0])
    sign_rngs = {name: np.random.default_rng([*entropy, 1 + i]) for i, name in enumerate(states)}
    frame = Frame(
        size=size,
        cx=rng.uniform(-0.06, 0.06),
        cy=rng.uniform(-0.04, 0.07),
        scale=rng.uniform(0.86, 1.04),
        angle=rng.uniform(-0.06, 0.06),
    )
    X, Y = frame.grid()
    canvas = Canvas(X, Y, frame.px, frame.to_pixels, np.zeros_like(X))
    if view == "frontal":
        attenuation = _frontal(anatomy, states, projection == "AP", canvas, rng, sign_rngs)
    else:
        attenuation = _lateral(anatomy, states, canvas, rng, sign_rngs)
    return _expose(attenuation, canvas, rng)


def _frontal(anatomy, states, ap, canvas, rng, sign_rngs) -> np.ndarray:
    """A frontal film's attenuation: lungs and heart, vessels, signs, bones, soft tissue."""
    ratio = chest_signs.heart_ratio(
        states["Cardiomegaly"], sign_rngs["Cardiomegaly"], anatomy.heart_ratio
    )
    ratio *= 1.06 if ap else 1.0  # AP films magnify the heart.
    atel = chest_signs.plan_atelectasis(states["Atelectasis"], sign_rngs["Atelectasis"], "frontal")
    lift = rng.uniform(-0.05, 0.05) + (0.04 if ap else 0.0)  # Poorer inspiration on AP.
    geo, shift = _frontal_geometry(anatomy, atel, lift)
    S = anatomy.soft_tissue
    body, lung, heart = _frontal_organs(anatomy, geo, shift, ratio, canvas)
    _vessels(canvas, geo, rng)
    _draw_signs(canvas, geo, states, sign_rngs, atel)
    air = S * anatomy.air * lung * (1.0 - canvas.opacity)
    attenuation = S * body + 0.04 * S * heart * body - air
    mean_base = 0.5 * (geo.lungs[0].base + geo.lungs[1].base)
    bones = _frontal_bones(anatomy, ap, shift, mean_base, canvas, rng)
    attenuation += 0.2 * anatomy.bone * S * bones * body
    X, Y = canvas.X, canvas.Y
    if anatomy.female:
        for side in (-1, 1):
            r = ((X - side * 0.48) / 0.3) ** 2 + ((Y - mean_base + 0.05) / 0.2) ** 2
            attenuation += 0.08 * S * ramp(1.0 - r, 0.6)
    if rng.uniform() < 0.7:  # Gas in the stomach under the left hemidiaphragm.
        r = ((X - 0.42) / 0.08) ** 2 + ((Y - geo.lungs[1].base - 0.09) / 0.045) ** 2
        attenuation -= 0.5 * S * anatomy.air * ramp(1.0 - r, 0.3)
    return _finish(attenuation, lung, canvas, S)


def _frontal_geometry(anatomy, atel, lift: float) -> tuple[Geometry, float]:
    """The lungs (bases lifted, an atelectatic side raised) and hila; the mediastinal shift."""
    hw = anatomy.lung_half_width
    lungs = []
    for side in (-1, 1):
        base = anatomy.base + (0.05 if side == 1 else 0.0) - lift
        if atel is not None and side in atel.sides:
            base -= atel.elevation
        lungs.append(Lung(side, side * (0.1 + hw), hw, anatomy.apex, base))
    shift = atel.shift if atel is not None else 0.0
    mean_base = 0.5 * (lungs[0].base + lungs[1].base)
    hila = [(side * 0.21 + shift, 0.5 * (anatomy.apex + mean_base) + 0.05) for side in (-1, 1)]
    return Geometry("frontal", lungs, hila), shift


def _frontal_organs(anatomy, geo: Geometry, shift: float, ratio: float, canvas: Canvas):
    """(body, aerated lung, heart) maps: the lungs pushed apart by mediastinum and heart."""
    X, Y, e = canvas.X, canvas.Y, 1.5 * canvas.px
    hw = anatomy.lung_half_width
    body_w = anatomy.body_half_width - (anatomy.body_half_width - 0.22) * np.clip(
        (-0.84 - Y) / 0.1, 0.0, 1.0
    )
    body = ramp(body_w - np.abs(X), e)
    lung = np.zeros_like(X)
    for ln in geo.lungs:
        u = np.abs((X - ln.cx) / ln.half_width)
        mid, half = 0.5 * (ln.apex + ln.base) + 0.15, 0.5 * (ln.base - ln.apex) + 0.15
        v = np.abs((Y - mid) / half)
        outline = ramp(1.0 - u**2.5 - v**2.5, 4 * e)
        q = np.clip(((X - ln.cx + ln.side * 0.05 * hw) / (1.05 * hw)) ** 2, 0.0, 1.0)
        dome = ln.base - 0.12 * (1.0 - q)
        lung = np.maximum(lung, outline * ramp(dome - Y, e))
    # Mediastinum (with the aortic knob) and heart push the lungs apart.
    mean_base = 0.5 * (geo.lungs[0].base + geo.lungs[1].base)
    medi_w = 0.1 + 0.03 * np.clip(Y + 0.8, 0.0, 1.0)
    medi = ramp(medi_w - np.abs(X - 0.02 - shift), e) * ramp(mean_base - Y, e)
    knob = ramp(0.065 - np.hypot(X - 0.13 - shift, Y - geo.hila[0][1] + 0.32), e)
    width = ratio * 2 * (0.1 + 2 * hw)
    hcx, hcy = 0.06 + shift, mean_base - 0.12
    dx = X - hcx
    reach = np.where(dx < 0, 0.38 * width, 0.62 * width)
    half_height = 0.24 + 0.25 * (ratio - 0.45)
    heart = ramp(1.0 - (dx / reach) ** 2 - ((Y - hcy) / half_height) ** 2, 6 * e)
    lung *= (1.0 - np.maximum(medi, knob)) * (1.0 - heart)
    return body, lung, heart


def _frontal_bones(anatomy, ap, shift, mean_base, canvas: Canvas, rng) -> np.ndarray:
    """Spine, posterior and anterior ribs, clavicles (scapulae on AP films), unit scale."""
    X, Y, e = canvas.X, canvas.Y, 1.5 * canvas.px
    hw = anatomy.lung_half_width
    spine = ramp(0.065 - np.abs(X - 0.3 * shift), e) * (0.8 + 0.2 * np.cos(Y * (2 * np.pi / 0.09)))
    cage = ramp(0.12 + 2 * hw + 0.03 - np.abs(X), e) * ramp(Y + 0.82, e) * ramp(mean_base - Y, e)
    phase = (Y - 0.35 * X * X + 0.08 * np.abs(X)) / anatomy.rib_spacing + rng.uniform()
    posterior = np.clip((np.cos(2 * np.pi * phase) - 0.5) / 0.5, 0.0, 1.0)
    phase = (Y + 0.3 * np.abs(X)) / (1.15 * anatomy.rib_spacing) + rng.uniform()
    anterior = np.clip((np.cos(2 * np.pi * phase) - 0.6) / 0.4, 0.0, 1.0) * ramp(
        np.abs(X) - 0.3, 0.1
    )
    bones = spine + cage * (0.45 * posterior + 0.2 * anterior)
    for side in (-1, 1):
        d = segment_distance(X, Y, (side * 0.09, anatomy.apex + 0.04), (side * 0.62, -0.84))
        bones += 1.1 * ramp(0.028 - d, e)
        if ap:
            r = ((X - side * 0.66) / 0.14) ** 2 + ((Y + 0.42) / 0.3) ** 2
            bones += 0.3 * ramp(1.0 - r, 0.5)
    return bones


def _lateral(anatomy, states, canvas, rng, sign_rngs) -> np.ndarray:
    X, Y, e = canvas.X, canvas.Y, 1.5 * canvas.px
    ratio = chest_signs.heart_ratio(
        states["Cardiomegaly"], sign_rngs["Cardiomegaly"], anatomy.heart_ratio
    )
    atel = chest_signs.plan_atelectasis(states["Atelectasis"], sign_rngs["Atelectasis"], "lateral")
    base = anatomy.base + 0.03 - rng.uniform(-0.05, 0.05)
    if atel is not None:
        base -= 0.5 * atel.elevation
    ln = Lung(0, 0.05, 0.58, anatomy.apex, base)
    geo = Geometry("lateral", [ln], [(0.02, 0.5 * (ln.apex + base) + 0.03)])

    S = anatomy.soft_tissue
    r = ((X - 0.03) / (0.62 + 0.3 * anatomy.body_half_width - 0.25)) ** 4 + ((Y - 0.2) / 1.25) ** 4
    body = ramp(1.0 - r, 0.05)
    u = np.abs((X - ln.cx) / ln.half_width)
    mid, half = 0.5 * (ln.apex + base) + 0.12, 0.5 * (base - ln.apex) + 0.12
    outline = ramp(1.0 - u**2.5 - np.abs((Y - mid) / half) ** 2.5, 4 * e)
    t = np.clip((X - ln.cx) / ln.half_width, -1.0, 1.0)
    diaphragm = base + 0.08 * t - 0.13 * (1.0 - t * t)  # Lowest at the posterior sulcus.
    lung = outline * ramp(diaphragm - Y, e)
    hw_heart = 0.27 * ratio / 0.45
    hx, hy = -0.32 + 0.7 * (hw_heart - 0.27), base - 0.17
    heart = ramp(
        1.0 - ((X - hx) / hw_heart) ** 2 - ((Y - hy) / (0.27 + 0.2 * (ratio - 0.45))) ** 2, 6 * e
    )
    lung *= 1.0 - heart

    _vessels(canvas, geo, rng)
    _draw_signs(canvas, geo, states, sign_rngs, atel)
    air = S * anatomy.air * lung * (1.0 - canvas.opacity)
    attenuation = S * body + 0.04 * S * heart - air
    bone = 0.2 * anatomy.bone * S
    discs = 0.75 + 0.25 * np.cos(Y * (2 * np.pi / 0.1))
    spine = ramp(0.085 - np.abs(X - 0.6), e) * discs * ramp(base + 0.5 - Y, e)
    sternum = ramp(0.025 - np.abs(X + 0.64 + 0.05 * Y), e) * ramp(Y + 0.7, e) * ramp(0.15 - Y, e)
    phase = (Y - 0.35 * X) / anatomy.rib_spacing + rng.uniform()
    ribs = np.clip((np.cos(2 * np.pi * phase) - 0.6) / 0.4, 0.0, 1.0) * outline
    attenuation += bone * (1.2 * spine + 0.8 * sternum + 0.25 * ribs) * body
    arms = ((X - 0.05) / 0.55) ** 2 + ((Y - ln.apex + 0.05) / 0.22) ** 2
    attenuation += 0.12 * S * ramp(1.0 - arms, 0.5)
    return _finish(attenuation, lung, canvas, S)


def _vessels(canvas: Canvas, geo: Geometry, rng: np.random.Generator) -> None:
    """Vascular markings branching from each hilum (drawn into the 'vessels' layer)."""
    for hx, hy in geo.hila:
        lateral = 1 if hx >= 0.0 else -1
        if geo.view == "lateral":
            lateral = 1
        for angle, length in zip(
            rng.uniform(-1.25, 1.15, 9), rng.uniform(0.22, 0.45, 9), strict=True
        ):
            bend = rng.normal(0, 0.2)
            points = [(hx, hy)]
            for step in (0.35, 0.7, 1.0):
                a = angle + bend * step
                points.append(
                    (hx + lateral * math.cos(a) * length * step, hy + math.sin(a) * length * step)
                )
            canvas.polyline("vessels", points, 1.8)
            x, y = points[2]
            twig = angle + rng.choice([-1, 1]) * rng.uniform(0.3, 0.7)
            end = (x + lateral * math.cos(twig) * 0.3 * length, y + math.sin(twig) * 0.3 * length)
            canvas.polyline("vessels", [(x, y), end], 1.0)


def _draw_signs(canvas, geo, states, sign_rngs, atel) -> None:
    chest_signs.draw_atelectasis(canvas, geo, atel)
    chest_signs.draw_effusion(
        canvas, geo, states["Pleural Effusion"], sign_rngs["Pleural Effusion"]
    )
    chest_signs.draw_edema(canvas, geo, states["Edema"], sign_rngs["Edema"])
    chest_signs.draw_consolidation(canvas, geo, states["Consolidation"], sign_rngs["Consolidation"])
    chest_signs.draw_nodule(canvas, geo, states["Lung Lesion"], sign_rngs["Lung Lesion"])
    chest_signs.draw_devices(
        canvas, geo, states["Support Devices"] == "present", sign_rngs["Support Devices"]
    )


def _finish(attenuation, lung, canvas, S) -> np.ndarray:
    """Adds the line layers: vessels and septal lines inside the lung, devices anywhere."""
    vessels = canvas.layer("vessels")
    if canvas.vessel_blur:
        vessels = ndimage.gaussian_filter(vessels, canvas.vessel_blur)
    inside = lung * (1.0 - 0.8 * canvas.opacity)
    attenuation = attenuation + S * (0.16 * vessels * inside + 0.2 * canvas.layer("marks") * lung)
    return attenuation + 0.5 * canvas.layer("devices")


def _expose(attenuation: np.ndarray, canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Detector blur, random window level/width/gamma, heel effect, noise, side marker."""
    size = attenuation.shape[0]
    image = ndimage.gaussian_filter(attenuation, rng.uniform(0.4, 0.8) * size / 128)
    low, high = rng.uniform(-0.08, 0.1), rng.uniform(0.55, 0.9)
    image = np.clip((image - low) / (high - low), 0.0, 1.0) ** rng.uniform(0.7, 1.4)
    image *= 1.0 + rng.uniform(-0.08, 0.08) * canvas.Y
    image += rng.normal(0.0, rng.uniform(0.01, 0.035), image.shape).astype(np.float32)
    if rng.uniform() < 0.6:  # A lead side marker in an upper corner.
        m = max(2, size // 25)
        r0, c0 = int(rng.integers(m, 4 * m)), int(rng.integers(m, 4 * m))
        if rng.uniform() < 0.5:
            c0 = size - c0 - m
        image[r0 : r0 + m, c0 : c0 + m] = 0.95
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
