"""A fast renderer of synthetic colour fundus photographs with diabetic-retinopathy lesions.

`render_fundus` draws one photograph: a dark surround and a circular field of view; an
orange-red fundus with choroidal mottling; the optic disc with its cup; a branching tree of
veins and arteries leaving the disc; the darker macula with the fovea; the lesions of the
requested grade (`pipelines.synthetic.lesions`); and then the camera (`Camera`): exposure,
colour cast, gamma, uneven illumination, haze, blur, sensor noise, rotation and the size and
position of the field. Left eyes are the mirror image of right eyes, so the optic disc is
always on the nasal side (right of the fovea for a right eye, as in a standard photograph).

Every random draw comes from the generator passed in, in a fixed order, so a seeded
generator gives the same image on every machine with the same numpy and Pillow.

Geometry is in field units (field centre (0, 0), radius 1, y down) for a canonical right eye.
Thin structures are drawn on 2x supersampled layers and box-reduced, which anti-aliases
them at a fraction of the cost of per-pixel rasterisation in numpy.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipelines.synthetic.lesions import draw_lesions, plan_lesions
from pipelines.synthetic.vessels import ARTERY, VEIN, draw_vessels, grow_vessel_tree

EYES = ("left", "right")
MIN_SIZE = 32
_SUPERSAMPLE = 2

# Multiplicative colour of each dark structure relative to the fundus behind it (RGB).
_VEIN_TINT = np.array([0.50, 0.24, 0.30], np.float32)
_ARTERY_TINT = np.array([0.72, 0.45, 0.50], np.float32)
_HAEMORRHAGE_TINT = np.array([0.32, 0.11, 0.15], np.float32)
_NEW_VESSEL_TINT = np.array([0.62, 0.32, 0.36], np.float32)
# Colours that bright structures blend towards (RGB, linear 0..1).
_EXUDATE = np.array([1.0, 0.88, 0.42], np.float32)
_COTTON_WOOL = np.array([0.96, 0.90, 0.80], np.float32)
_SHEEN = np.array([0.88, 0.86, 0.88], np.float32)
_DISC = np.array([1.0, 0.80, 0.56], np.float32)
_CUP = np.array([1.0, 0.93, 0.80], np.float32)
# Fundus colour of a lightly and of a darkly pigmented eye.
# Layers drawn on, and the dark ones in compositing order with their tints.
_LAYERS = ("sheen", "vein", "artery", "new_vessels", "red", "yellow", "cotton")
_TINTS = (
    ("vein", _VEIN_TINT),
    ("artery", _ARTERY_TINT),
    ("new_vessels", _NEW_VESSEL_TINT),
    ("red", _HAEMORRHAGE_TINT),
)
_LIGHT_FUNDUS = np.array([0.86, 0.42, 0.20], np.float32)
_DARK_FUNDUS = np.array([0.56, 0.22, 0.11], np.float32)


@dataclasses.dataclass(frozen=True)
class Camera:
    """Acquisition parameters of one photograph. The defaults are a neutral camera.

    Attributes:
      exposure: gain on linear intensity.
      gamma: output = input ** gamma after exposure (> 1 darkens mid-tones).
      cast: per-channel (R, G, B) gain: colour cast of the flash and sensor.
      field: radius of the circular field as a fraction of half the image side; above 1
        the circle is cut by the image border, as on many EyePACS photographs.
      shift: (x, y) offset of the field centre as a fraction of the image side.
      rotation: rotation of the retina about the field centre, degrees counter-clockwise.
      blur: Gaussian defocus sigma as a fraction of the field radius.
      vignetting: fractional darkening at the field edge (quadratic in radius).
      tilt: (x, y) linear illumination gradient across the field, per field radius.
      haze: fraction of a grey veil mixed in (media opacity, flare).
      noise: sensor noise standard deviation, intensity units (0..1).
    """

    exposure: float = 1.0
    gamma: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    field: float = 0.92
    shift: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0
    blur: float = 0.0
    vignetting: float = 0.0
    tilt: tuple[float, float] = (0.0, 0.0)
    haze: float = 0.0
    noise: float = 0.0


def sample_camera(rng: np.random.Generator) -> Camera:
    """Draws camera parameters spanning the variety of a screening programme.

    The spread is deliberately wide: exposure, colour cast and field size dominate an
    image's global colour statistics, so that those statistics say little about the grade.

    Args:
      rng: the only source of randomness.

    Returns:
      A `Camera`.
    """
    exposure = float(np.exp(rng.normal(0.0, 0.30)))
    gamma = float(rng.uniform(0.8, 1.25))
    cast = tuple(float(c) for c in np.exp(rng.normal(0.0, 0.16, 3)))
    field = float(rng.uniform(0.78, 1.12))
    shift = tuple(float(s) for s in rng.normal(0.0, 0.02, 2))
    rotation = float(np.clip(rng.normal(0.0, 8.0), -25.0, 25.0))
    blur = float(rng.uniform(0.0, 0.012)) if rng.random() < 0.4 else 0.0
    vignetting = float(rng.uniform(0.0, 0.5))
    tilt = tuple(float(t) for t in rng.normal(0.0, 0.12, 2))
    haze = float(rng.uniform(0.0, 0.25)) if rng.random() < 0.25 else 0.0
    noise = float(rng.uniform(0.004, 0.02))
    return Camera(
        exposure, gamma, cast, field, shift, rotation, blur, vignetting, tilt, haze, noise
    )


def field_geometry(size: int, camera: Camera) -> tuple[float, float, float]:
    """Where the circular field lies in a canonical (right-eye) image.

    Args:
      size: image side in pixels.
      camera: the camera.

    Returns:
      (centre_x, centre_y, radius) in pixels, pixel centres at integer + 0.5. A left eye's
      image is mirrored, so its centre_x is `size - centre_x`.
    """
    return (
        size / 2 + camera.shift[0] * size,
        size / 2 + camera.shift[1] * size,
        camera.field * size / 2,
    )


def _smooth_noise(rng: np.random.Generator, grid: int, size: int) -> np.ndarray:
    """Zero-mean smooth noise, float32 (size, size), std about 1, from a bicubic upsample."""
    coarse = rng.normal(0.0, 1.0, (grid, grid)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.BICUBIC))


@dataclasses.dataclass(frozen=True)
class _Anatomy:
    """One eye's anatomy, in field units of a right eye (see the module docstring)."""

    disc: tuple[float, float]
    disc_radius: float
    disc_aspect: float
    cup_fraction: float
    disc_brightness: float
    fovea: tuple[float, float]
    fundus: np.ndarray  # RGB colour of the fundus, float32 (3,).
    mottle: np.ndarray  # Choroidal mottling, float32 (size, size).
    vessels: list
    sheen: int  # Opacity of the nerve-fibre-layer sheen, 0 for none.


def _sample_anatomy(rng: np.random.Generator, size: int) -> _Anatomy:
    disc = (0.38 + rng.normal(0.0, 0.03), -0.03 + rng.normal(0.0, 0.03))
    disc_radius = 0.11 * float(np.exp(rng.normal(0.0, 0.12)))
    disc_aspect = rng.uniform(1.0, 1.15)
    cup_fraction = rng.uniform(0.25, 0.6)
    disc_brightness = rng.uniform(0.75, 1.05)
    fovea = (-0.08 + rng.normal(0.0, 0.03), 0.03 + rng.normal(0.0, 0.03))
    pigment = rng.uniform(0.0, 1.0)
    fundus = (1.0 - pigment) * _LIGHT_FUNDUS + pigment * _DARK_FUNDUS
    fundus = fundus * np.exp(rng.normal(0.0, 0.08, 3)).astype(np.float32)
    mottle = 0.07 * _smooth_noise(rng, 6, size) + 0.04 * _smooth_noise(rng, 24, size)
    vessels = grow_vessel_tree(rng, disc)
    # Nerve-fibre-layer sheen along the arcades, strong in young eyes and absent in others:
    # a pale, grade-independent structure that varies the image's colour spread as lesions do.
    sheen = int(rng.uniform(30, 120)) if rng.random() < 0.6 else 0
    return _Anatomy(
        disc,
        disc_radius,
        disc_aspect,
        cup_fraction,
        disc_brightness,
        fovea,
        fundus,
        mottle,
        vessels,
        sheen,
    )


class _Frame:
    """Where the field lies in the image: field units <-> pixels, for one size and camera."""

    def __init__(self, size: int, camera: Camera):
        self.size = size
        self.cx, self.cy, self.radius = field_geometry(size, camera)
        theta = math.radians(camera.rotation)
        # Field units -> image pixels: rotate (counter-clockwise on screen, y down), scale,
        # shift.
        self.rot = np.array(
            [[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]]
        )

    def to_big(self, points: np.ndarray) -> np.ndarray:
        """Field units -> pixels of the supersampled layers."""
        return (points @ self.rot.T * self.radius + (self.cx, self.cy)) * _SUPERSAMPLE

    def field_coords(self, ys: slice, xs: slice) -> tuple[np.ndarray, np.ndarray]:
        """Field coordinates (u, v) of the pixel centres in a window, float32 2-D each."""
        dx = (np.arange(xs.start, xs.stop, dtype=np.float32)[None, :] + 0.5 - self.cx) / self.radius
        dy = (np.arange(ys.start, ys.stop, dtype=np.float32)[:, None] + 0.5 - self.cy) / self.radius
        rot = self.rot
        return rot[0, 0] * dx + rot[1, 0] * dy, rot[0, 1] * dx + rot[1, 1] * dy

    def window(self, point: tuple[float, float], half: float) -> tuple[slice, slice]:
        """Pixel window round a field-unit point, `half` field units each way."""
        px, py = self.to_big(np.asarray(point)) / _SUPERSAMPLE
        h, size = half * self.radius, self.size
        return (
            slice(int(np.clip(py - h, 0, size)), int(np.clip(py + h + 1, 0, size))),
            slice(int(np.clip(px - h, 0, size)), int(np.clip(px + h + 1, 0, size))),
        )


def render_fundus(
    rng: np.random.Generator,
    *,
    grade: int,
    size: int,
    eye: str,
    camera: Camera | None = None,
) -> np.ndarray:
    """Renders one synthetic fundus photograph.

    Args:
      rng: the only source of randomness; draws, in order: the camera (if not given), the
        anatomy, the lesion plan, the lesion positions, the sensor noise.
      grade: DR grade 0..4 (0 none, 1 mild, 2 moderate, 3 severe NPDR, 4 proliferative).
      size: image side in pixels, >= 32.
      eye: "left" or "right"; a left eye is the exact mirror image of the right eye that
        the same generator state would give.
      camera: acquisition parameters; drawn with `sample_camera` when None.

    Returns:
      uint8 array (size, size, 3), RGB.

    Raises:
      ValueError: on an unknown eye, a grade outside 0..4 or a size below 32.
    """
    if eye not in EYES:
        raise ValueError(f"eye must be one of {EYES}, got {eye!r}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be >= {MIN_SIZE}, got {size}")
    if camera is None:
        camera = sample_camera(rng)
    anatomy = _sample_anatomy(rng, size)
    plan = plan_lesions(rng, grade)
    frame = _Frame(size, camera)
    layers = _draw_layers(rng, anatomy, plan, frame)
    image = _paint(anatomy, frame, layers)
    return _expose(image, rng, camera, frame, eye)


def _draw_layers(
    rng: np.random.Generator, anatomy: _Anatomy, plan: dict[str, int], frame: _Frame
) -> dict[str, Image.Image]:
    """Vessels and lesions on supersampled mode-"L" layers, one per structure (`_LAYERS`)."""
    big = frame.size * _SUPERSAMPLE
    scale = frame.radius * _SUPERSAMPLE
    layers = {name: Image.new("L", (big, big), 0) for name in _LAYERS}
    draws = {name: ImageDraw.Draw(layer) for name, layer in layers.items()}
    if anatomy.sheen:
        draw_vessels(
            draws["sheen"], anatomy.vessels, frame.to_big, 2.5 * scale, VEIN, anatomy.sheen
        )
    draw_vessels(draws["vein"], anatomy.vessels, frame.to_big, scale, VEIN)
    draw_vessels(draws["artery"], anatomy.vessels, frame.to_big, scale, ARTERY)
    draw_lesions(rng, plan, draws, anatomy, to_px=frame.to_big, scale=scale)
    return layers


def _paint(anatomy: _Anatomy, frame: _Frame, layers: dict[str, Image.Image]) -> np.ndarray:
    """The fundus in linear light, float32 (size, size, 3): background, macula, disc, layers."""
    a = anatomy
    # Fundus with choroidal mottling, then the darker macula and the bright disc and cup.
    img = a.fundus[None, None, :] * (1.0 + a.mottle)[..., None]
    ys, xs = frame.window(a.fovea, 0.45)
    u, v = frame.field_coords(ys, xs)
    fd2 = (u - a.fovea[0]) ** 2 + (v - a.fovea[1]) ** 2
    macula = 0.32 * np.exp(fd2 * (-1.0 / (2 * 0.12**2))) + 0.18 * np.exp(fd2 * (-1 / 0.0016))
    img[ys, xs] *= (1.0 - macula)[..., None]
    ys, xs = frame.window(a.disc, 1.4 * a.disc_radius * a.disc_aspect)
    u, v = frame.field_coords(ys, xs)
    ed = np.sqrt(
        ((u - a.disc[0]) / a.disc_radius) ** 2
        + ((v - a.disc[1]) / (a.disc_radius * a.disc_aspect)) ** 2
    )
    disc_alpha = np.clip((1.1 - ed) / 0.25, 0.0, 1.0)[..., None]
    cup_alpha = np.clip((a.cup_fraction - ed) / 0.2, 0.0, 1.0)[..., None]
    patch = img[ys, xs] * (1.0 - disc_alpha) + (a.disc_brightness * _DISC) * disc_alpha
    img[ys, xs] = patch * (1.0 - cup_alpha) + (a.disc_brightness * _CUP) * cup_alpha

    _composite(img, layers["sheen"], None, _SHEEN, blur_px=0.04 * frame.radius)
    # Vessels and lesions: dark ones darken the fundus behind them, bright ones cover it.
    for name, tint in _TINTS:
        _composite(img, layers[name], 1.0 - tint, None)
    _composite(img, layers["yellow"], None, _EXUDATE)
    _composite(img, layers["cotton"], None, _COTTON_WOOL, blur_px=0.025 * frame.radius)
    return img


def _expose(
    img: np.ndarray, rng: np.random.Generator, camera: Camera, frame: _Frame, eye: str
) -> np.ndarray:
    """The camera: illumination, exposure, cast, haze and noise (in linear light), then
    gamma as a lookup table on 8-bit values, defocus blur, the field stop and the eye's
    mirroring. Returns uint8 (size, size, 3)."""
    size, radius = frame.size, frame.radius
    pix = np.arange(size, dtype=np.float32) + 0.5
    dx = (pix[None, :] - frame.cx) / radius
    dy = (pix[:, None] - frame.cy) / radius
    r2 = dx * dx + dy * dy
    illum = (1.0 - camera.vignetting * np.minimum(r2, 1.0)) * (
        1.0 + camera.tilt[0] * dx + camera.tilt[1] * dy
    )
    gain = (255.0 * camera.exposure * (1.0 - camera.haze)) * np.asarray(camera.cast, np.float32)
    img *= illum[..., None] * gain
    img += 255.0 * camera.haze * 0.55 + 0.5
    if camera.noise > 0:
        # One draw per pixel shared by the channels: a third of the cost of colour noise,
        # and demosaiced sensor noise is mostly in luminance anyway.
        img += (255.0 * camera.noise) * rng.standard_normal((size, size, 1), dtype=np.float32)
    np.clip(img, 0.0, 255.0, out=img)
    out = Image.fromarray(img.astype(np.uint8))
    if camera.gamma != 1.0:
        lut = np.round(255.0 * np.linspace(0.0, 1.0, 256) ** camera.gamma).astype(np.uint8)
        out = out.point(lut.tolist() * 3)
    if camera.blur * radius > 0.3:
        out = out.filter(ImageFilter.GaussianBlur(camera.blur * radius))
    # Field stop: black outside, one pixel of anti-aliasing at the edge.
    stop = np.clip((1.0 - np.sqrt(r2)) * radius * 255.0 + 128.0, 0.0, 255.0).astype(np.uint8)
    out = Image.composite(out, Image.new("RGB", out.size), Image.fromarray(stop, "L"))
    if eye == "left":
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.array(out)


def _composite(
    img: np.ndarray,
    layer: Image.Image,
    darken: np.ndarray | None,
    colour: np.ndarray | None,
    blur_px: float = 0.0,
) -> None:
    """Composites one supersampled mode-"L" layer into `img` in place.

    Only the layer's bounding box is touched: most layers are empty or small.

    Args:
      img: float32 (size, size, 3) image being built.
      layer: mode-"L" layer, `_SUPERSAMPLE` times the image side.
      darken: per-channel fraction removed where the layer is opaque (multiplicative), or
        None to blend towards `colour` instead.
      colour: RGB colour to blend towards where the layer is opaque.
      blur_px: Gaussian blur of the reduced layer, pixels (soft-edged lesions).
    """
    bbox = layer.getbbox()
    if bbox is None:
        return
    small = layer.reduce(_SUPERSAMPLE)
    if blur_px > 0.3:
        small = small.filter(ImageFilter.GaussianBlur(blur_px))
        bbox = small.getbbox()
        if bbox is None:
            return
    else:
        bbox = tuple(b // _SUPERSAMPLE for b in bbox[:2]) + tuple(
            -(-b // _SUPERSAMPLE) for b in bbox[2:]
        )
    x0, y0, x1, y1 = bbox
    alpha = np.asarray(small.crop(bbox), np.float32)[..., None] * (1.0 / 255.0)
    patch = img[y0:y1, x0:x1]
    if darken is not None:
        patch *= 1.0 - alpha * darken
    else:
        patch *= 1.0 - alpha
        patch += alpha * colour
