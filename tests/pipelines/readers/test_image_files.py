import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines.errors import DataError
from pipelines.readers import image_files


def _write(path, fmt):
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(buffer, format=fmt)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_header_check_on_each_kind_of_file(tmp_path):
    jpeg = _write(tmp_path / "a.jpeg", "JPEG")
    png = _write(tmp_path / "a.png", "PNG")
    tiff = _write(tmp_path / "a.tif", "TIFF")
    assert [image_files.check_header(p) for p in (jpeg, png, tiff)] == [None, None, None]
    (tmp_path / "empty.jpeg").write_bytes(b"")
    (tmp_path / "half.png").write_bytes(open(png, "rb").read()[:-20])
    (tmp_path / "padded.jpeg").write_bytes(open(jpeg, "rb").read() + b"\x00" * 100)
    assert image_files.check_header(str(tmp_path / "empty.jpeg")) == "empty file"
    assert image_files.check_header(str(tmp_path / "half.png")) == "truncated PNG (no IEND chunk)"
    assert image_files.check_header(str(tmp_path / "padded.jpeg")) is None
    assert image_files.check_header(str(tmp_path / "absent.jpeg")) == "missing file"


def test_decode_check(tmp_path):
    jpeg = _write(tmp_path / "a.jpeg", "JPEG")
    assert image_files.check_decode(jpeg) is None
    broken = bytearray(open(jpeg, "rb").read())
    broken[3:60] = b"\x00" * 57
    (tmp_path / "b.jpeg").write_bytes(bytes(broken))
    assert image_files.check_decode(str(tmp_path / "b.jpeg")).startswith("cannot decode")


def test_scan_keeps_order_and_validates_arguments(tmp_path):
    good = _write(tmp_path / "a.jpeg", "JPEG")
    table = pd.DataFrame({"path": [good, str(tmp_path / "gone.jpeg"), good], "line": [2, 3, 4]})
    kept, bad = image_files.scan_images(table, label_file="l.csv", on_bad="skip")
    assert list(kept["line"]) == [2, 4]
    assert [b.describe() for b in bad] == [f"{tmp_path}/gone.jpeg: missing file (l.csv line 3)"]
    with pytest.raises(DataError, match=r"gone.jpeg: missing file \(l.csv line 3\); set data"):
        image_files.scan_images(table, label_file="l.csv")
    with pytest.raises(ValueError, match="unknown image scan mode"):
        image_files.scan_images(table, label_file="l.csv", mode="deep")
    with pytest.raises(ValueError, match="unknown bad-image policy"):
        image_files.scan_images(table, label_file="l.csv", on_bad="ignore")


def _jpeg(size=64, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


TRUNCATED_JPEG = "truncated JPEG (no end-of-image marker)"


@pytest.mark.parametrize(
    "tail",
    [
        b"\x00" * 10_000,  # Padding longer than the first window searched.
        b"appended" * 100_000,  # 800 kB after the end-of-image marker.
        b"\xff\xd8" + b"\x55" * 300_000,  # Looks like the start of a second image.
    ],
    ids=["padding", "800kB", "second-image"],
)
def test_bytes_after_the_end_of_image_are_accepted_as_tensorflow_accepts_them(tmp_path, tail):
    # Issue 14: a valid JPEG with bytes after its end-of-image marker was refused as
    # truncated (the marker was searched in the last 4 kB only).
    path = tmp_path / "tail.jpeg"
    path.write_bytes(_jpeg() + tail)
    assert image_files.check_header(str(path)) is None
    assert image_files.check_decode(str(path)) is None  # TensorFlow decodes it.


def test_png_with_bytes_after_iend_is_accepted(tmp_path):
    path = _write(tmp_path / "a.png", "PNG")
    with open(path, "ab") as f:
        f.write(b"\x00" * 9000)
    assert image_files.check_header(path) is None and image_files.check_decode(path) is None


@pytest.mark.parametrize("keep", [3, 20, 200, 0.5, -2, -1])
def test_truncation_is_caught_wherever_the_file_ends(tmp_path, keep):
    raw = _jpeg()
    cut = raw[: int(len(raw) * keep) if isinstance(keep, float) else keep]
    path = tmp_path / "cut.jpeg"
    path.write_bytes(cut)
    assert image_files.check_header(str(path)) == TRUNCATED_JPEG
    assert image_files.check_decode(str(path)) == TRUNCATED_JPEG


def test_an_end_marker_inside_the_headers_does_not_hide_truncation(tmp_path):
    # An APP1 segment (EXIF, say, with a thumbnail) holds 0xFFD9 bytes of its own; the
    # image data after it is cut short, within the last 4 kB that used to be searched.
    raw = _jpeg(size=16)
    payload = b"Exif\x00\x00" + b"\xff\xd8thumbnail\xff\xd9" * 4
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    whole = raw[:2] + app1 + raw[2:]
    path = tmp_path / "exif.jpeg"
    path.write_bytes(whole)
    assert image_files.check_header(str(path)) is None
    path.write_bytes(whole[:-100])  # Inside the image data (about 240 bytes of it).
    assert len(whole) < 4096  # All of it within the tail the old check searched.
    assert image_files.check_header(str(path)) == TRUNCATED_JPEG
