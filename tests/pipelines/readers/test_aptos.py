"""The APTOS 2019 reader and its synthetic writer: layout, splits, every bad input."""

import csv
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import aptos
from pipelines.synthetic import aptos as synthetic_aptos
from tests.pipelines.readers import identity

FRACTIONS = {"train": 0.5, "valid": 0.25, "test": 0.25}


@pytest.fixture
def root(tmp_path):
    """Hand-typed: 4 images, grades 0, 2, 4, 1 (lines 2-5), 8 px PNGs."""
    root = tmp_path / "aptos"
    (root / "train_images").mkdir(parents=True)
    for code in ("000c1434d8d7", "001639a390f0", "0024cdab0c1e", "002c21358ce6"):
        Image.fromarray(np.full((8, 12, 3), 90, np.uint8)).save(
            root / "train_images" / f"{code}.png"
        )
    _rewrite(str(root), "000c1434d8d7,0\n001639a390f0,2\n0024cdab0c1e,4\n002c21358ce6,1\n")
    return str(root)


def _rewrite(root, body, header="id_code,diagnosis"):
    path = os.path.join(root, "train.csv")
    with open(path, "w") as f:
        f.write(f"{header}\n{body}")
    return path


def test_reads_the_hand_typed_file(root):
    table = aptos.read_aptos(root)
    assert list(table["label"]) == [0, 2, 4, 1]
    assert list(table["line"]) == [2, 3, 4, 5]
    assert list(table["patient"]) == list(table["image"])  # One patient per image.
    assert table["path"].iloc[1] == os.path.join(
        os.path.abspath(root), "train_images", "001639a390f0.png"
    )


def test_reads_what_the_writer_wrote(aptos_root):
    with open(os.path.join(aptos_root, "train.csv")) as f:
        header, *rows = list(csv.reader(f))
    assert header == ["id_code", "diagnosis"]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert all(len(r[0]) == 12 and int(r[0], 16) >= 0 for r in rows)
    table = aptos.read_aptos(aptos_root)
    assert len(table) == 34 and list(table["label"]) == [int(r[1]) for r in rows]
    widths = set()
    for path in table["path"]:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.height == 40
            widths.add(image.width)
    assert widths <= {40, 53, 60} and len(widths) > 1  # Aspect ratios 1, 4/3, 3/2.


def test_writer_is_deterministic_whatever_the_workers(tmp_path):
    one = synthetic_aptos.write_aptos(str(tmp_path / "a"), num_patients=3, image_size=32, seed=1)
    two = synthetic_aptos.write_aptos(
        str(tmp_path / "b"), num_patients=3, image_size=32, seed=1, workers=2
    )
    assert one["grade_counts"] == two["grade_counts"]
    names = sorted(os.listdir(tmp_path / "a" / "train_images"))
    assert names == sorted(os.listdir(tmp_path / "b" / "train_images"))
    for name in names:
        a = (tmp_path / "a" / "train_images" / name).read_bytes()
        assert a == (tmp_path / "b" / "train_images" / name).read_bytes()


def test_every_image_is_its_own_patient_in_the_splits(aptos_root):
    data = datasets.load_dataset("aptos", aptos_root, split_fractions=FRACTIONS, split_seed=1)
    sizes = {name: len(part.rows()) for name, part in data.splits.items()}
    assert sum(sizes.values()) == 34
    # Grades 0-4 have 21/4/5/1/3 images; largest-remainder rounding of 1/2, 1/4, 1/4 per
    # grade gives train 11+2+3+1+1, valid 5+1+1+0+1, test 5+1+1+0+1.
    assert sizes == {"train": 18, "valid": 8, "test": 8}
    for rows in (part.rows() for part in data.splits.values()):
        assert rows["patient"].nunique() == len(rows)


@pytest.mark.parametrize("cell", ["5", "-1", "x", "", "2.5", "moderate"])
def test_unknown_label_strings_name_file_and_line(root, cell):
    path = _rewrite(root, f"000c1434d8d7,0\n001639a390f0,{cell}\n")
    with pytest.raises(DataError, match=rf"{path} line 3: diagnosis='{cell}' is not one of"):
        aptos.read_aptos(root)


@pytest.mark.parametrize(
    ("row", "message"),
    [("001639a390f0,2,7", "3 cells, expected 2"), ("001639a390f0", "1 cells, expected 2")],
)
def test_malformed_rows_name_file_and_line(root, row, message):
    path = _rewrite(root, f"000c1434d8d7,0\n\n{row}\n")
    with pytest.raises(DataError, match=rf"{path} line 4: {message}"):
        aptos.read_aptos(root)


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        ("id_code,level", "000c1434d8d7,0\n", r": missing required column\(s\) \['diagnosis'\]"),
        (
            None,
            "000c1434d8d7,0\n001639a390f0,1\n000c1434d8d7,2\n",
            " line 4: duplicate id_code '000c1434d8d7' .*2",
        ),
        (None, "000c1434d8d7,0\n,1\n", " line 3: empty id_code"),
        (
            None,
            "000c1434d8d7,0\n../../../etc/passwd,1\n",
            " line 3: image path .* escapes the root",
        ),
        (None, "/etc/passwd,1\n", " line 2: image path '/etc/passwd.png' must be"),
    ],
    ids=["no diagnosis column", "duplicate", "empty id", "escaping", "absolute"],
)
def test_a_bad_label_file_is_named_with_the_line(root, header, body, message):
    path = _rewrite(root, body, *([header] if header else []))
    with pytest.raises(DataError, match=rf"{path}{message}"):
        aptos.read_aptos(root)


def test_one_image_under_two_spellings_is_a_duplicate(root):
    path = _rewrite(root, "000c1434d8d7,0\n001639a390f0,1\n./000c1434d8d7,2\n")
    image = os.path.join(os.path.abspath(root), "train_images", "000c1434d8d7.png")
    what = f"the image file {image}"
    match = identity.duplicate(path, 4, "id_code", "./000c1434d8d7", 2, "000c1434d8d7", what)
    with pytest.raises(DataError, match=match):
        aptos.read_aptos(root)


def test_a_hard_link_to_an_image_is_that_image(root):
    folder = os.path.join(root, "train_images")
    os.link(os.path.join(folder, "001639a390f0.png"), os.path.join(folder, "ffff00000000.png"))
    path = _rewrite(root, "001639a390f0,0\n000c1434d8d7,1\nffff00000000,2\n")
    match = identity.duplicate(path, 4, "id_code", "ffff00000000", 2, "001639a390f0", "one")
    with pytest.raises(DataError, match=match + " image file"):
        aptos.read_aptos(root)


def test_ids_come_from_the_canonical_path(root):
    _rewrite(root, "./000c1434d8d7,0\n../train_images/001639a390f0,2\n")
    table = aptos.read_aptos(root)
    assert list(table["image"]) == ["000c1434d8d7", "001639a390f0"]
    assert list(table["patient"]) == list(table["image"])


def test_missing_and_corrupt_images_stop_or_are_skipped_and_counted(root):
    os.remove(os.path.join(root, "train_images", "0024cdab0c1e.png"))
    with open(os.path.join(root, "train_images", "001639a390f0.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError) as error:
        datasets.load_dataset("aptos", root, split_fractions={"train": 1.0})
    message = str(error.value)
    assert "001639a390f0.png: truncated PNG (no IEND chunk)" in message
    assert "train.csv line 3)" in message and "(and 1 more)" in message
    data = datasets.load_dataset("aptos", root, split_fractions={"train": 1.0}, on_bad_image="skip")
    assert len(data.splits["train"].rows()) == 2
    assert [(os.path.basename(b.path), b.line) for b in data.bad_images] == [
        ("001639a390f0.png", 3),
        ("0024cdab0c1e.png", 4),
    ]
    assert data.summary()["skipped_images"] == 2


def test_reader_options(root):
    shutil.move(os.path.join(root, "train_images"), os.path.join(root, "imgs"))
    _rewrite(root, "000c1434d8d7,0\n")
    os.rename(os.path.join(root, "train.csv"), os.path.join(root, "labels.csv"))
    table = aptos.read_aptos(root, labels_file="labels.csv", image_dir="imgs")
    assert os.path.exists(table["path"].iloc[0])
