"""The bytes a converted record stores for one image file, checked by decoding them.

JPEG and PNG bytes are stored as they are; TIFF files (which TensorFlow cannot decode)
are decoded once with Pillow and stored as lossless PNG. With `max_side`, images whose
longer side exceeds it are downscaled once (aspect ratio kept, Lanczos) and re-encoded
(JPEG sources as JPEG at `jpeg_quality`, others as PNG), so training decodes small images
instead of multi-megapixel photographs every epoch.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from PIL import Image

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_TIFF = (b"II*\x00", b"MM\x00*")
# Pillow modes stored as they are; the others become the mode given (PNG holds both).
_TIFF_MODES = {"L": "L", "RGB": "RGB", "1": "L", "LA": "L", "P": "RGB", "RGBA": "RGB"}


class StoredImage(NamedTuple):
    """What goes into a record for one image file."""

    encoded: bytes
    format: str  # Stored: JPEG or PNG.
    source_format: str  # JPEG, PNG or TIFF.
    shape: tuple[int, int, int]  # Of the stored image: (height, width, channels).
    source_shape: tuple[int, int, int]  # Of the file's image.


def read_image(path: str, max_side: int = 0, jpeg_quality: int = 95) -> StoredImage:
    """The bytes to store for one image file, checked by decoding them.

    Args:
      path: the image file.
      max_side: 0 keeps the image as it is; otherwise an image whose longer side exceeds
        it is downscaled to exactly `max_side` on that side (aspect ratio kept, the other
        side rounded, at least 1) and re-encoded. Smaller images are stored unchanged.
      jpeg_quality: JPEG quality of re-encoded JPEG sources.

    Returns:
      The stored bytes, their format and shape, and the source's format and shape.

    Raises:
      ValueError: why the file cannot be used (missing, not an image, undecodable).
    """
    stored = _read_as_is(path)
    if max_side and max(stored.shape[:2]) > max_side:
        return _downscaled(stored, max_side, jpeg_quality)
    return stored


def _read_as_is(path: str) -> StoredImage:
    """`read_image` without downscaling: JPEG/PNG bytes as they are, TIFF as PNG."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ValueError("missing file") from None
    except OSError as e:
        raise ValueError(f"unreadable: {e}") from None
    if raw.startswith(_TIFF):
        try:
            with Image.open(io.BytesIO(raw)) as image:
                mode = _TIFF_MODES.get(image.mode)
                if mode is None:
                    raise ValueError(f"TIFF mode {image.mode!r} is not supported")
                pixels = np.asarray(image.convert(mode))
        except (OSError, Image.DecompressionBombError) as e:
            raise ValueError(f"cannot decode TIFF: {e}") from None
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        shape = tuple(int(s) for s in (pixels.shape if pixels.ndim == 3 else (*pixels.shape, 1)))
        return StoredImage(buffer.getvalue(), "PNG", "TIFF", shape, shape)
    if raw.startswith(_JPEG):
        kind = "JPEG"
    elif raw.startswith(_PNG):
        kind = "PNG"
    else:
        raise ValueError("empty file" if not raw else "not a JPEG, PNG or TIFF file")
    try:
        shape = tf.io.decode_image(raw, expand_animations=False).shape
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        raise ValueError(f"cannot decode: {e.message.splitlines()[0]}") from None
    shape = tuple(int(s) for s in shape)
    return StoredImage(raw, kind, kind, shape, shape)


def _downscaled(image: StoredImage, max_side: int, jpeg_quality: int) -> StoredImage:
    """`image` (decodable JPEG or PNG bytes) with its longer side scaled to `max_side`."""
    with Image.open(io.BytesIO(image.encoded)) as image_file:
        mode = _TIFF_MODES.get(image_file.mode)
        if mode is None:  # e.g. 16-bit PNG: resampling would change its value range.
            raise ValueError(
                f"cannot downscale image mode {image_file.mode!r}; convert without max_side"
            )
        width, height = image_file.size
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = image_file.convert(mode).resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    stored = image.format  # JPEG stays JPEG; PNG (and TIFF, stored as PNG) stays PNG.
    if stored == "JPEG":
        small.save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        small.save(buffer, format="PNG")
    shape = (size[1], size[0], 3 if small.mode == "RGB" else 1)
    return image._replace(encoded=buffer.getvalue(), format=stored, shape=shape)
