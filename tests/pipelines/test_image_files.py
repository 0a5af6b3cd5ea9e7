import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines import image_files
from pipelines.tables import DataError


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
