"""One synthetic fundus photograph as an image file: what every retina writer renders.

A job names the file, its seed and what to draw; `render_file` renders it with
`pipelines.synthetic.fundus.render_fundus`, centres the square field on a black canvas of
the job's width (APTOS and Messidor-2 photographs are wider than tall) and writes it in the
format its extension says. Each file depends only on its job.
"""

from __future__ import annotations

import dataclasses
import io
import os

import numpy as np
from PIL import Image

from pipelines.synthetic import writing
from pipelines.synthetic.fundus import render_fundus, sample_camera


def job(
    path: str,
    seed: list[int],
    *,
    grade: int,
    eye: str,
    size: int,
    width: int | None = None,
    ungradable: bool = False,
    jpeg_quality: int = 90,
) -> dict:
    """A `render_file` job (a plain dict, so worker processes can take it).

    Args:
      path: the file to write; `.jpg`/`.jpeg` JPEG, `.png` PNG, anything else TIFF.
      seed: entropy of its `np.random.SeedSequence`.
      grade: DR grade 0-4.
      eye: 'left' or 'right'.
      size: height (and field diameter) in pixels.
      width: canvas width >= size (default size).
      ungradable: render dark and defocused, as an ungradable photograph.
      jpeg_quality: JPEG quality.
    """
    return {
        "path": path,
        "seed": seed,
        "grade": grade,
        "eye": eye,
        "size": size,
        "width": size if width is None else width,
        "ungradable": ungradable,
        "jpeg_quality": jpeg_quality,
    }


def render_file(task: dict) -> str:
    """Renders one image and writes it atomically; a pure function of `task` (see `job`).

    Returns:
      The path written.
    """
    rng = np.random.default_rng(np.random.SeedSequence(task["seed"]))
    camera = sample_camera(rng)
    if task["ungradable"]:
        camera = dataclasses.replace(camera, exposure=0.3, blur=0.04, haze=0.4)
    size, width = task["size"], task["width"]
    pixels = render_fundus(rng, grade=task["grade"], size=size, eye=task["eye"], camera=camera)
    canvas = np.zeros((size, width, 3), np.uint8)
    left = (width - size) // 2
    canvas[:, left : left + size] = pixels
    extension = os.path.splitext(task["path"])[1].lower()
    buffer = io.BytesIO()
    if extension in (".jpg", ".jpeg"):
        Image.fromarray(canvas).save(buffer, format="JPEG", quality=task["jpeg_quality"])
    elif extension == ".png":
        Image.fromarray(canvas).save(buffer, format="PNG", compress_level=3)
    else:
        Image.fromarray(canvas).save(buffer, format="TIFF")
    writing.write_atomic(task["path"], buffer.getvalue())
    return task["path"]
