"""Checking image files before training: missing, empty, truncated or corrupt.

TensorFlow's decoders fail inside the input pipeline with a message that does not name
the file, so every dataset is scanned up front. The default `header` scan reads only the
first and last bytes of each file (cheap even for 35k full-size fundus photographs) and
catches missing, empty, truncated and non-image files; the `decode` scan decodes every
file and also catches corruption inside the compressed data.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import pandas as pd

from errors import UsageError
from pipelines.tables import DataError

SCAN_MODES = ("none", "header", "decode")
BAD_IMAGE_POLICIES = ("stop", "skip")

_JPEG_START = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
_PNG_START = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TIFF_STARTS = (b"II*\x00", b"MM\x00*")
# JPEG writers may append padding after the end-of-image marker; search a short tail.
_TAIL_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class BadImage:
    """One unusable image: where it came from and why it is unusable."""

    path: str
    reason: str
    label_file: str
    line: int

    def describe(self) -> str:
        return f"{self.path}: {self.reason} ({self.label_file} line {self.line})"


def check_header(path: str) -> str | None:
    """Returns why `path` is not a complete JPEG/PNG/TIFF file, or None if it looks whole."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return "missing file"
    except OSError as e:
        return f"unreadable: {e}"
    if size == 0:
        return "empty file"
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - _TAIL_BYTES))
            tail = f.read()
    except OSError as e:
        return f"unreadable: {e}"
    if head.startswith(_JPEG_START):
        # In entropy-coded data 0xFF is always stuffed, so 0xFFD9 only marks end-of-image.
        return None if _JPEG_END in tail else "truncated JPEG (no end-of-image marker)"
    if head.startswith(_PNG_START):
        return None if tail.endswith(_PNG_END) else "truncated PNG (no IEND chunk)"
    if head.startswith(_TIFF_STARTS):
        return None
    return "not a JPEG, PNG or TIFF file"


def check_decode(path: str) -> str | None:
    """Returns why TensorFlow cannot decode `path`, or None if it decodes."""
    reason = check_header(path)
    if reason is not None:
        return reason
    import tensorflow as tf

    try:
        tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
        return f"cannot decode: {e.message.splitlines()[0]}"
    return None


def scan_images(
    table: pd.DataFrame,
    *,
    label_file: str,
    mode: str = "header",
    on_bad: str = "stop",
    workers: int = 8,
) -> tuple[pd.DataFrame, list[BadImage]]:
    """Checks every image of a table and applies the bad-image policy.

    Args:
      table: rows with columns `path` (absolute image path) and `line` (line in the label
        file).
      label_file: the label file the rows came from, for messages.
      mode: one of SCAN_MODES.
      on_bad: `stop` raises on the first bad image; `skip` drops bad images and returns
        them so the caller can count and log them.
      workers: threads used for the scan (file I/O and TF decoding release the GIL).

    Returns:
      (kept rows, bad images in table order).

    Raises:
      DataError: with `on_bad='stop'`, naming the file, the reason and the label-file line.
      ValueError: for an unknown mode or policy.
    """
    if mode not in SCAN_MODES:
        raise UsageError(f"unknown image scan mode {mode!r}; valid: {', '.join(SCAN_MODES)}")
    if on_bad not in BAD_IMAGE_POLICIES:
        raise UsageError(f"unknown bad-image policy {on_bad!r}; valid: {BAD_IMAGE_POLICIES}")
    if mode == "none" or table.empty:
        return table, []
    check = check_header if mode == "header" else check_decode
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(check, table["path"]))
    bad = [
        BadImage(path, reason, label_file, int(line))
        for path, line, reason in zip(table["path"], table["line"], reasons, strict=True)
        if reason is not None
    ]
    if bad and on_bad == "stop":
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(
            f"bad image {bad[0].describe()}{more}; set data.on_bad_image='skip' to skip and "
            "count bad images instead"
        )
    keep = [reason is None for reason in reasons]
    return table[keep], bad
