"""Checking image files before training: missing, empty, truncated or corrupt.

TensorFlow's decoders fail inside the input pipeline with a message that does not name
the file, so every dataset is scanned up front. The default `header` scan reads only the
first and last bytes of each file (cheap even for 35k full-size fundus photographs) and
catches missing, empty, truncated and non-image files; the `decode` scan decodes every
file and also catches corruption inside the compressed data.

A file is complete when its end marker (JPEG end-of-image, PNG IEND chunk) follows its
image data; bytes after the marker (padding, an appended thumbnail) are accepted, as
TensorFlow's decoders ignore them. For a JPEG the image data starts after the first
start-of-scan header, found by walking the marker segments from the start (reading four
bytes per segment), so an end-of-image inside the headers (an EXIF thumbnail's) does not
hide a cut in the image data. The end marker is searched backwards from the end of the
file: a file with a long tail costs a read of that tail, a truncated one a read of the
whole file.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import pandas as pd

from errors import UsageError
from pipelines.errors import DataError

SCAN_MODES = ("none", "header", "decode")
TIFF_EXTENSIONS = (".tif", ".tiff")  # Checked by header only: TensorFlow cannot decode TIFF.
BAD_IMAGE_POLICIES = ("stop", "skip")

_JPEG_START = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
_PNG_START = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TIFF_STARTS = (b"II*\x00", b"MM\x00*")
# The end marker is searched from the end backwards, in windows growing from this size
# (the marker is almost always in the last few bytes) up to _MAX_WINDOW.
_TAIL_BYTES = 4096
_MAX_WINDOW = 1 << 20
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn: markers without a length.


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
            if head.startswith(_JPEG_START):
                return _check_jpeg(f, size)
            if head.startswith(_PNG_START):
                if _ends_after(f, _PNG_END, len(_PNG_START), size):
                    return None
                return "truncated PNG (no IEND chunk)"
    except OSError as e:
        return f"unreadable: {e}"
    if head.startswith(_TIFF_STARTS):
        return None
    return "not a JPEG, PNG or TIFF file"


def _check_jpeg(f, size: int) -> str | None:
    """Why an open JPEG file is incomplete, or None: an end-of-image after its image data."""
    # In entropy-coded data 0xFF is always stuffed, so 0xFFD9 there only marks end-of-image.
    if _ends_after(f, _JPEG_END, _jpeg_data_start(f, size), size):
        return None
    return "truncated JPEG (no end-of-image marker)"


def _jpeg_data_start(f, size: int) -> int:
    """Offset of the first scan's data, by walking the marker segments after SOI.

    Returns:
      The offset; or 2 (just after SOI) when the walk does not reach a scan: the file
      ends in its headers, or they are not laid out as segments (stray bytes, which
      decoders skip, or garbage, which only decoding can judge). Any end-of-image after
      SOI counts then.
    """
    offset = 2
    while offset + 4 <= size:
        f.seek(offset)
        fill, marker, high, low = f.read(4)
        if fill != 0xFF or marker in (0xD8, 0xD9):
            return 2
        if marker == 0xFF:  # A fill byte before a marker.
            offset += 1
            continue
        if marker in _JPEG_STANDALONE:
            offset += 2
            continue
        length = high * 256 + low
        offset += 2 + length
        if length < 2 or offset > size:
            return 2
        if marker == 0xDA:  # Start of scan: its header is done, the image data follows.
            return offset
    return 2


def _ends_after(f, marker: bytes, start: int, size: int) -> bool:
    """Whether `marker` occurs in the open file at or after offset `start`."""
    end, window = size, _TAIL_BYTES
    while end > start:
        begin = max(start, end - window)
        f.seek(begin)
        # Overlap the previous window by len(marker) - 1 bytes: a marker may straddle them.
        if marker in f.read(end - begin + len(marker) - 1):
            return True
        end, window = begin, min(4 * window, _MAX_WINDOW)
    return False


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
