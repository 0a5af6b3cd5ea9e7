"""Bad input for the EyePACS reader: every message names the file and the line."""

import os
import re
import shutil

import pytest

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import eyepacs
from tests import fixtures
from tests.pipelines.readers import identity

FRACTIONS = {"train": 0.6, "valid": 0.2, "test": 0.2}


@pytest.fixture
def root(tmp_path, eyepacs_root):
    copy = tmp_path / "eyepacs"
    shutil.copytree(eyepacs_root, copy)
    return str(copy)


def _rewrite_labels(root, text):
    path = os.path.join(root, "trainLabels.csv")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_reads_rows_with_patients_eyes_paths_and_lines(eyepacs_root):
    table = eyepacs.read_eyepacs(eyepacs_root)
    assert len(table) == 80
    first = table.iloc[0]
    assert (first["image"], first["patient"], first["eye"], first["line"]) == (
        "1_left",
        "1",
        "left",
        2,
    )
    assert first["path"] == os.path.join(os.path.abspath(eyepacs_root), "train", "1_left.jpeg")
    assert sorted(table["label"].unique()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("cell", ["5", "-1", "x", "", "2.5"])
def test_label_outside_0_4_or_not_a_number(root, cell):
    path = _rewrite_labels(root, f"image,level\n1_left,0\n1_right,{cell}\n")
    with pytest.raises(DataError, match=rf"{path} line 3: level='{cell}' is not one of"):
        eyepacs.read_eyepacs(root)


def test_float_formatted_grades_are_accepted(root):
    _rewrite_labels(root, "image,level\n1_left,2.0\n1_right,0\n")
    assert list(eyepacs.read_eyepacs(root)["label"]) == [2, 0]


@pytest.mark.parametrize("spelling", ["./20_left", "../train/20_left", "./sub/../20_left"])
def test_one_image_under_two_spellings_is_a_duplicate(root, spelling):
    # Issue 14: `./20_left` beside `20_left` passed the id check and the patient grouping
    # while both rows read one file, which could land in train and in test.
    path = _rewrite_labels(root, f"image,level\n20_left,0\n20_right,1\n{spelling},2\n")
    image = os.path.join(os.path.abspath(root), "train", "20_left.jpeg")
    what = f"the image file {image}"
    with pytest.raises(
        DataError, match=identity.duplicate(path, 4, "image", spelling, 2, "20_left", what)
    ):
        eyepacs.read_eyepacs(root)


def test_a_link_to_an_image_is_that_image(root):
    os.symlink("20_left.jpeg", os.path.join(root, "train", "99_left.jpeg"))
    path = _rewrite_labels(root, "image,level\n20_left,0\n99_left,1\n")
    folder = os.path.join(os.path.abspath(root), "train")
    what = f"one image file ({folder}/20_left.jpeg and {folder}/99_left.jpeg are links to it)"
    with pytest.raises(
        DataError, match=identity.duplicate(path, 3, "image", "99_left", 2, "20_left", what)
    ):
        eyepacs.read_eyepacs(root)


def test_ids_and_patients_come_from_the_canonical_path(root):
    _rewrite_labels(root, "image,level\n./20_left,0\n../train/20_right,1\n 21_left ,2\n")
    table = eyepacs.read_eyepacs(root)
    assert list(table["image"]) == ["20_left", "20_right", "21_left"]
    assert list(table["patient"]) == ["20", "20", "21"]
    assert list(table["eye"]) == ["left", "right", "left"]
    folder = os.path.join(os.path.abspath(root), "train")
    assert list(table["path"]) == [os.path.join(folder, f"{i}.jpeg") for i in table["image"]]


def test_missing_label_file(tmp_path):
    with pytest.raises(DataError, match="trainLabels.csv: label file not found"):
        eyepacs.read_eyepacs(str(tmp_path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image,grade\n1_left,0\n", r": missing required column\(s\) \['level'\]"),
        (
            "image,level\n1_left,0\n1_right,1\n1_left,2\n",
            " line 4: duplicate image '1_left' .*line 2",
        ),
        ("image,level\n1_left,0\n7_up,1\n", " line 3: image id '7_up' is not of the form"),
        ("image,level\n../../../etc/1_left,0\n", " line 2: image path .* escapes the root"),
        (
            "image,level\n1_left,0\n/etc/1_left,0\n",
            " line 3: image path '/etc/1_left.jpeg' must be",
        ),
        ("image,level\n1_left,0\n\n2_left,1,7\n", " line 4: 3 cells, expected 2"),
        ("image,level\n1_left,0\n\n2_left\n", " line 4: 1 cells, expected 2"),
    ],
    ids=["no level column", "duplicate", "bad id", "escaping", "absolute", "3 cells", "1 cell"],
)
def test_a_bad_label_file_is_named_with_the_line(root, text, message):
    path = _rewrite_labels(root, text)
    with pytest.raises(DataError, match=rf"{path}{message}"):
        eyepacs.read_eyepacs(root)


def _load(root, **kw):
    return datasets.load_dataset("eyepacs", root, split_fractions=FRACTIONS, **kw)


def test_missing_image_stops_naming_file_and_line(root):
    os.remove(os.path.join(root, "train", "3_right.jpeg"))
    with pytest.raises(DataError) as e:
        _load(root)
    message = str(e.value)
    assert "3_right.jpeg: missing file" in message
    assert "trainLabels.csv line 7)" in message  # 1_left, 1_right, 2_left, 2_right, 3_left


def test_truncated_and_garbage_jpegs_stop(root):
    victim = os.path.join(root, "train", "2_left.jpeg")
    data = open(victim, "rb").read()
    with open(victim, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"2_left.jpeg: truncated JPEG .*line 4\)"):
        _load(root)
    with open(victim, "wb") as f:
        f.write(b"this is not an image")
    with pytest.raises(DataError, match=r"2_left.jpeg: not a JPEG, PNG or TIFF file .*line 4\)"):
        _load(root)


def test_skip_policy_counts_and_names_bad_images(root):
    os.remove(os.path.join(root, "train", "3_right.jpeg"))
    with open(os.path.join(root, "train", "2_left.jpeg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 cut short")
    data = _load(root, on_bad_image="skip")
    assert sum(len(part.rows()) for part in data.splits.values()) == 78
    assert [os.path.basename(b.path) for b in data.bad_images] == ["2_left.jpeg", "3_right.jpeg"]
    summary = data.summary()
    assert summary["skipped_images"] == 2
    assert summary["skipped"][0].endswith(
        "truncated JPEG (no end-of-image marker) "
        f"({os.path.join(root, 'trainLabels.csv')} line 4)"
    )


def test_decode_scan_catches_corruption_the_header_scan_cannot(root):
    victim = os.path.join(root, "train", "1_left.jpeg")
    data = bytearray(open(victim, "rb").read())
    data[2:40] = b"\x00" * 38  # Destroys the JFIF/quantisation headers, keeps the markers.
    data[0:3] = b"\xff\xd8\xff"
    with open(victim, "wb") as f:
        f.write(bytes(data))
    _load(root, image_scan="header")  # Passes: the start and end markers are intact.
    labels = re.escape(os.path.join(root, "trainLabels.csv"))
    with pytest.raises(DataError, match=rf"1_left.jpeg: cannot decode: .*\({labels} line 2\)"):
        _load(root, image_scan="decode")


def test_empty_split_is_an_error(tmp_path):
    root = fixtures.write_eyepacs(str(tmp_path), {1: (0, 0), 2: (2, 2)})
    labels = re.escape(os.path.join(root, "trainLabels.csv"))
    with pytest.raises(DataError, match=rf"^{labels}: split 'valid' is empty \(2 patients"):
        _load(root)


def test_every_image_of_a_split_missing_is_an_error_even_when_skipping(root):
    for name in os.listdir(os.path.join(root, "train")):
        os.remove(os.path.join(root, "train", name))
    with pytest.raises(DataError, match="every image of split"):
        _load(root, on_bad_image="skip")


def test_unknown_dataset_lists_valid_names(root):
    with pytest.raises(
        ValueError,
        match="unknown dataset 'kaggle'; valid: aptos, chexpert, csv, eyepacs, imagenet, "
        "messidor2, tfrecords",
    ):
        datasets.load_dataset("kaggle", root, split_fractions=FRACTIONS)
