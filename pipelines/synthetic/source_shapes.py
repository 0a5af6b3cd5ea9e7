"""Silhouettes of the synthetic source task's classes: shapes and simple objects.

Each class is a function returning parts `(points, filled)` in a unit frame (x right, y
down, the silhouette inside the unit disc): `points` is an (n, 2) polygon, drawn filled
when `filled` and cut out otherwise, in order. The renderer (`pipelines.synthetic.source`)
scales, rotates, textures and places them on clutter. Classes are defined by silhouette
only; colour, texture, scale, orientation and background carry no label information.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Part = tuple[np.ndarray, bool]


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 40):
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(angle), math.sin(angle)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _circle(cx: float, cy: float, r: float, n: int = 40):
    return _ellipse(cx, cy, r, r, n=n)


def _regular(sides: int, r: float = 0.9, rotation: float = -math.pi / 2):
    t = rotation + 2.0 * math.pi * np.arange(sides) / sides
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _rect(x0: float, y0: float, x1: float, y1: float):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _poly(*points: tuple[float, float]):
    return np.array(points, np.float64)


def _star() -> list[Part]:
    t = -math.pi / 2 + math.pi * np.arange(10) / 5
    r = np.where(np.arange(10) % 2 == 0, 0.95, 0.4)
    return [(np.stack([r * np.cos(t), r * np.sin(t)], axis=1), True)]


def _heart() -> list[Part]:
    t = np.linspace(0.0, 2.0 * math.pi, 60, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [(np.stack([x, y + 2.5], axis=1) / 17.5, True)]


def _flower() -> list[Part]:
    petals = [
        (_ellipse(0.5 * math.cos(a), 0.5 * math.sin(a), 0.42, 0.2, a), True)
        for a in np.arange(6) * math.pi / 3
    ]
    return [*petals, (_circle(0, 0, 0.22), False), (_circle(0, 0, 0.14), True)]


def _face() -> list[Part]:
    mouth = np.concatenate(
        [_ellipse(0, 0.28, 0.42, 0.22)[:21], _ellipse(0, 0.28, 0.42, 0.1)[:21][::-1]]
    )
    return [
        (_circle(0, 0, 0.9), True),
        (_circle(-0.32, -0.25, 0.14), False),
        (_circle(0.32, -0.25, 0.14), False),
        (mouth, False),
    ]


def _sun() -> list[Part]:
    rays = []
    for a in np.arange(8) * math.pi / 4:
        c, s = math.cos(a), math.sin(a)
        rays.append((_poly((0.95 * c, 0.95 * s), (0.5 * c - 0.15 * s, 0.5 * s + 0.15 * c),
                           (0.5 * c + 0.15 * s, 0.5 * s - 0.15 * c)), True))  # fmt: skip
    return [*rays, (_circle(0, 0, 0.5), True)]


def _key() -> list[Part]:
    return [
        (_circle(-0.55, 0, 0.36), True),
        (_circle(-0.55, 0, 0.17), False),
        (_rect(-0.25, -0.09, 0.95, 0.09), True),
        (_rect(0.55, 0.0, 0.68, 0.35), True),
        (_rect(0.8, 0.0, 0.93, 0.28), True),
    ]


def _umbrella() -> list[Part]:
    canopy = _ellipse(0, 0.0, 0.9, 0.75, n=48)[24:]  # Upper half (y <= 0).
    scallops = [(_circle(x, 0.0, 0.15), False) for x in (-0.6, -0.2, 0.2, 0.6)]
    return [
        (canopy, True),
        *scallops,
        (_rect(-0.05, -0.05, 0.05, 0.75), True),
        (_circle(-0.17, 0.75, 0.17), True),
        (_circle(-0.17, 0.75, 0.08), False),
        (_rect(-0.34, 0.5, -0.05, 0.75), False),
    ]


def _car() -> list[Part]:
    return [
        (_rect(-0.95, -0.05, 0.95, 0.35), True),
        (_poly((-0.5, -0.05), (-0.3, -0.45), (0.35, -0.45), (0.55, -0.05)), True),
        (_poly((-0.38, -0.08), (-0.25, -0.36), (0.0, -0.36), (0.0, -0.08)), False),
        (_circle(-0.55, 0.38, 0.22), True),
        (_circle(0.55, 0.38, 0.22), True),
    ]


CLASSES: dict[str, Callable[[], list[Part]]] = {
    "disc": lambda: [(_circle(0, 0, 0.9), True)],
    "ring": lambda: [(_circle(0, 0, 0.9), True), (_circle(0, 0, 0.5), False)],
    "square": lambda: [(_regular(4, 0.95, math.pi / 4), True)],
    "triangle": lambda: [(_regular(3, 0.95), True)],
    "pentagon": lambda: [(_regular(5, 0.92), True)],
    "hexagon": lambda: [(_regular(6, 0.92), True)],
    "star": _star,
    "cross": lambda: [(_rect(-0.9, -0.25, 0.9, 0.25), True), (_rect(-0.25, -0.9, 0.25, 0.9), True)],
    "crescent": lambda: [(_circle(0, 0, 0.9), True), (_circle(0.4, -0.15, 0.75), False)],
    "heart": _heart,
    "arrow": lambda: [
        (_rect(-0.9, -0.16, 0.25, 0.16), True),
        (_poly((0.2, -0.55), (0.95, 0.0), (0.2, 0.55)), True),
    ],
    "diamond": lambda: [(_poly((0, -0.95), (0.45, 0), (0, 0.95), (-0.45, 0)), True)],
    "flower": _flower,
    "tree": lambda: [
        (_poly((0, -0.95), (0.65, 0.35), (-0.65, 0.35)), True),
        (_rect(-0.13, 0.3, 0.13, 0.95), True),
    ],
    "house": lambda: [
        (_rect(-0.6, -0.1, 0.6, 0.85), True),
        (_poly((-0.8, -0.05), (0, -0.85), (0.8, -0.05)), True),
        (_rect(-0.15, 0.35, 0.15, 0.85), False),
    ],
    "face": _face,
    "mushroom": lambda: [
        (_ellipse(0, 0.0, 0.9, 0.7, n=48)[24:], True),
        (_rect(-0.22, -0.02, 0.22, 0.85), True),
    ],
    "fish": lambda: [
        (_ellipse(-0.15, 0, 0.65, 0.38), True),
        (_poly((0.4, 0), (0.95, -0.45), (0.95, 0.45)), True),
        (_circle(-0.5, -0.08, 0.08), False),
    ],
    "sun": _sun,
    "hourglass": lambda: [
        (_poly((-0.6, -0.9), (0.6, -0.9), (0, 0)), True),
        (_poly((0, 0), (0.6, 0.9), (-0.6, 0.9)), True),
    ],
    "lightning": lambda: [
        (
            _poly(
                (0.15, -0.95),
                (-0.45, 0.1),
                (-0.02, 0.1),
                (-0.25, 0.95),
                (0.45, -0.2),
                (0.02, -0.2),
                (0.3, -0.95),
            ),
            True,
        )  # fmt: skip
    ],
    "key": _key,
    "umbrella": _umbrella,
    "car": _car,
}


def class_names(num_classes: int | None = None) -> list[str]:
    """The first `num_classes` class names (all by default), in label order.

    Raises:
      ValueError: if more classes are asked for than defined.
    """
    names = list(CLASSES)
    if num_classes is None:
        return names
    if not 1 <= num_classes <= len(names):
        raise ValueError(f"num_classes must be in 1..{len(names)}, got {num_classes}")
    return names[:num_classes]
