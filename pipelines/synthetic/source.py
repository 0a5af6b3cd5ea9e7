"""A synthetic natural-image source task, written as TF-Slim ImageNet TFRecords.

The paper pretrained its CBRs on ImageNet. We cannot download ImageNet here, so CBRs are
pretrained on this task instead, read through the real ImageNet reader
(`pipelines.readers.imagenet`): every run on it exercises the code path real ImageNet takes.

Each image holds one object whose silhouette is the class (`pipelines.synthetic.source_shapes`:
geometric shapes and simple objects) on a cluttered background. Nuisances, all independent
of the class: the object's texture (solid, stripes, checks, dots, mottled) and its two
colours, scale (radius 28-48% of the side), orientation (uniform), position; the
background's colour gradient, low-frequency colour noise, 2-8 strokes and 1-5 blobs; an
occluding stroke over the object (30%); directional lighting; sensor noise; JPEG
compression. Everything is drawn at twice the output size and box-filtered down, so edges
are anti-aliased like a photograph's.

Layout written (as `build_imagenet_data.py` writes ImageNet): `<root>/train-00000-of-000NN`,
`<root>/validation-00000-of-000MM`, each a TFRecord of `tf.train.Example`s with
`image/encoded` (JPEG), `image/format` (b'JPEG'), `image/class/label` (1-based, as slim's
ImageNet: 0 is reserved for background), `image/class/text`, `image/class/synset`,
`image/height`, `image/width`, `image/channels`, `image/colorspace`, `image/filename`;
plus `labels.txt` (`<label>:<name>` per line, slim's format) and `synthetic_source.json`
(what was generated). The same seed gives the same bytes.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from pipelines.records import image_examples
from pipelines.synthetic import source_shapes

_SPLIT_CODES = {"train": 0, "validation": 1}
_TEXTURES = ("solid", "stripes", "checks", "dots", "mottled")


def render_image(label: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """Renders one image of class `label` (0-based index into `source_shapes.CLASSES`).

    Returns:
      uint8 (size, size, 3).
    """
    canvas_size = 2 * size
    canvas = _background(rng, canvas_size)
    image = Image.fromarray(_to_uint8(canvas))
    _clutter(ImageDraw.Draw(image), rng, canvas_size)
    canvas = np.asarray(image, np.float64)

    name = list(source_shapes.CLASSES)[label]
    radius = rng.uniform(0.28, 0.48) * canvas_size
    slack = canvas_size / 2 - radius
    centre = canvas_size / 2 + rng.uniform(-0.9, 0.9, 2) * slack
    mask = _silhouette(
        source_shapes.CLASSES[name](), canvas_size, radius, rng.uniform(0, 2 * math.pi), centre
    )
    mask = mask[:, :, None] / 255.0
    under = (canvas * mask).sum(axis=(0, 1)) / max(mask.sum(), 1.0)
    texture = _texture(rng, canvas_size, _contrasting_colour(rng, under))
    canvas = canvas * (1.0 - mask) + texture * mask

    image = Image.fromarray(_to_uint8(canvas))
    if rng.random() < 0.3:  # An occluding stroke across the object.
        ends = centre + rng.uniform(-1, 1, (2, 2)) * radius
        ImageDraw.Draw(image).line(
            [tuple(ends[0]), tuple(ends[1])],
            fill=tuple(int(c) for c in rng.integers(0, 256, 3)),
            width=int(rng.integers(2, 7)),
        )
    canvas = np.asarray(image, np.float64)
    yy, xx = np.mgrid[0:canvas_size, 0:canvas_size] / canvas_size - 0.5
    direction = rng.uniform(0, 2 * math.pi)
    light = 1.0 + rng.uniform(-0.3, 0.3) * (xx * math.cos(direction) + yy * math.sin(direction))
    canvas = canvas * light[:, :, None]
    canvas += rng.normal(0.0, rng.uniform(0.0, 8.0), canvas.shape)
    small = Image.fromarray(_to_uint8(canvas)).resize((size, size), Image.BOX)
    return np.asarray(small)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size, 3) noise with about `cells` blobs per side, unit standard deviation."""
    channels = [
        np.asarray(
            Image.fromarray(rng.normal(0, 1, (cells, cells)).astype(np.float32), mode="F").resize(
                (size, size), Image.BICUBIC
            )
        )
        for _ in range(3)
    ]
    noise = np.stack(channels, axis=-1).astype(np.float64)
    return noise / max(noise.std(), 1e-6)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    start, end = rng.uniform(0, 255, (2, 3))
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    ramp = np.clip((xx * math.cos(angle) + yy * math.sin(angle) + 1) / 2, 0, 1)[:, :, None]
    base = start * (1 - ramp) + end * ramp
    return base + rng.uniform(10, 45) * _smooth_noise(rng, size, int(rng.integers(3, 9)))


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    for _ in range(int(rng.integers(1, 6))):
        points = source_shapes._ellipse(
            *rng.uniform(0, size, 2), *rng.uniform(0.04, 0.15, 2) * size, rng.uniform(0, math.pi)
        )
        draw.polygon(
            [tuple(p) for p in points], fill=tuple(int(c) for c in rng.integers(0, 256, 3))
        )
    for _ in range(int(rng.integers(2, 9))):
        ends = rng.uniform(-0.1, 1.1, (2, 2)) * size
        draw.line(
            [tuple(ends[0]), tuple(ends[1])],
            fill=tuple(int(c) for c in rng.integers(0, 256, 3)),
            width=int(rng.integers(1, 7)),
        )


def _silhouette(parts, size: int, radius: float, angle: float, centre: np.ndarray) -> np.ndarray:
    """The class silhouette as a (size, size) uint8 mask: scaled, rotated and placed."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    for points, filled in parts:
        placed = points @ rotation.T * radius + centre
        draw.polygon([tuple(p) for p in placed], fill=255 if filled else 0)
    return np.asarray(mask, np.float64)


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A random colour at least 80 (RGB distance) from the background under the object."""
    for _ in range(20):
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - background) >= 80:
            return colour
    return 255.0 - background


def _texture(rng: np.random.Generator, size: int, first: np.ndarray) -> np.ndarray:
    """(size, size, 3) fill of the object: a random pattern in `first` and a random colour."""
    second = rng.uniform(0, 255, 3)
    kind = _TEXTURES[int(rng.integers(len(_TEXTURES)))]
    if kind == "solid":
        return np.broadcast_to(first, (size, size, 3)).copy()
    if kind == "mottled":
        weight = np.clip(
            0.5 + 0.35 * _smooth_noise(rng, size, int(rng.integers(4, 10)))[..., :1], 0, 1
        )
    else:
        angle, period = rng.uniform(0, math.pi), rng.uniform(6, 20)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
        u = (xx * math.cos(angle) + yy * math.sin(angle)) / period
        v = (-xx * math.sin(angle) + yy * math.cos(angle)) / period
        if kind == "stripes":
            weight = (np.sin(2 * math.pi * u) > 0).astype(np.float64)
        elif kind == "checks":
            weight = ((np.floor(u) + np.floor(v)) % 2).astype(np.float64)
        else:  # dots
            weight = (np.hypot(u - np.round(u), v - np.round(v)) < 0.28).astype(np.float64)
        weight = weight[:, :, None]
    return first * (1 - weight) + second * weight


def _example(encoded: bytes, *, label: int, text: str, size: int, filename: str) -> bytes:
    """A serialized `tf.train.Example` with the fields slim's ImageNet records carry."""
    b, i = image_examples.bytes_feature, image_examples.int_feature
    features = {
        "image/encoded": b(encoded),
        "image/format": b(b"JPEG"),
        "image/class/label": i(label),
        "image/class/text": b(text),
        "image/class/synset": b(f"s{label:08d}"),
        "image/height": i(size),
        "image/width": i(size),
        "image/channels": i(3),
        "image/colorspace": b(b"RGB"),
        "image/filename": b(filename),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _write_split(
    root: str,
    split: str,
    *,
    per_class: int,
    shards: int,
    names: list[str],
    image_size: int,
    seed: int,
    jpeg_quality: int,
    written: Callable[[], None],
) -> None:
    """One split's shards; image k depends only on (seed, split, k)."""
    code = _SPLIT_CODES[split]
    # Labels are balanced, then shuffled so every shard holds every class.
    labels = np.random.default_rng([seed, code]).permutation(
        np.arange(per_class * len(names)) % len(names)
    )
    for shard, indices in enumerate(np.array_split(np.arange(len(labels)), shards)):
        path = os.path.join(root, f"{split}-{shard:05d}-of-{shards:05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for k in indices:
                label = int(labels[k])
                rng = np.random.default_rng([seed, code, int(k)])
                buffer = io.BytesIO()
                Image.fromarray(render_image(label, rng, image_size)).save(
                    buffer, format="JPEG", quality=jpeg_quality
                )
                record = _example(
                    buffer.getvalue(),
                    label=label + 1,
                    text=names[label],
                    size=image_size,
                    filename=f"{split}_{k:06d}.JPEG",
                )
                writer.write(record)
                written()


def write_source(
    root: str,
    *,
    num_classes: int = 24,
    train_per_class: int = 400,
    validation_per_class: int = 50,
    image_size: int = 64,
    seed: int = 0,
    train_shards: int = 8,
    validation_shards: int = 2,
    jpeg_quality: int = 90,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Writes the source task to `root` in the TF-Slim ImageNet layout.

    Args:
      root: output directory (created).
      num_classes: classes, the first of `source_shapes.CLASSES` (at most 24).
      train_per_class, validation_per_class: images per class in each split.
      image_size: side of the square images in pixels.
      seed: the dataset seed; image k of a split depends only on (seed, split, k).
      train_shards, validation_shards: TFRecord files per split.
      jpeg_quality: JPEG quality (1-95).
      progress: called as progress(images written, total images).

    Returns:
      A summary: classes, images per split, shards, image size, seed (also written to
      `<root>/synthetic_source.json`).
    """
    names = source_shapes.class_names(num_classes)
    os.makedirs(root, exist_ok=True)
    plan = {
        "train": (train_per_class, train_shards),
        "validation": (validation_per_class, validation_shards),
    }
    total = sum(per * num_classes for per, _ in plan.values())
    done = 0

    def written() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    for split, (per_class, shards) in plan.items():
        _write_split(
            root,
            split,
            per_class=per_class,
            shards=shards,
            names=names,
            image_size=image_size,
            seed=seed,
            jpeg_quality=jpeg_quality,
            written=written,
        )
    with open(os.path.join(root, "labels.txt"), "w") as f:
        f.writelines(f"{i + 1}:{name}\n" for i, name in enumerate(names))
    summary = {
        "dataset": "synthetic_source",
        "layout": "TF-Slim ImageNet TFRecords, labels 1..num_classes",
        "classes": names,
        "num_classes": num_classes,
        "images": {split: per * num_classes for split, (per, _) in plan.items()},
        "shards": {split: n for split, (_, n) in plan.items()},
        "image_size": image_size,
        "seed": seed,
        "jpeg_quality": jpeg_quality,
    }
    with open(os.path.join(root, "synthetic_source.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    return summary
