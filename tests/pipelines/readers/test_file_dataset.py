"""Image-file datasets: bad rows and images under stop and skip, label checks against a head."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import file_dataset, image_files
from pipelines.records import conversion

FRACTIONS = {"train": 0.75, "valid": 0.25}


def _tables(root, missing=0, bad_rows=0):
    """Four rows of the fixture's images (`missing` of them absent) and `bad_rows` bad rows."""
    paths = [os.path.join(root, "train", f"{p}_left.jpeg") for p in (1, 2, 3, 4)]
    for path in paths[:missing]:
        os.remove(path)
    rows = pd.DataFrame(
        {
            "path": paths,
            "label": [0, 1, 2, 3],
            "patient": ["1", "2", "3", "4"],
            "line": [2, 4, 6, 8],
            "source": os.path.join(root, "labels.csv"),
        }
    )
    bad = [
        image_files.BadImage(f"x{k}.png", "label='9' is not one of 0-4", rows["source"][0], 3 + k)
        for k in range(bad_rows)
    ]
    return file_dataset.Tables({"train": rows}, bad_rows=bad)


def test_bad_rows_stop_naming_the_first_or_are_skipped_and_counted(eyepacs_root, tmp_path):
    root = str(shutil.copytree(eyepacs_root, tmp_path / "copy"))
    labels = os.path.join(root, "labels.csv")
    kwargs = dict(image_scan="header", label_names=("a", "b", "c", "d"))
    with pytest.raises(
        DataError,
        match=rf"bad row x0.png: label='9' is not one of 0-4 \({labels} line 3\) \(and 1 more\); "
        r"set data.on_bad_image='skip'",
    ):
        file_dataset.check_images(
            "t", root, _tables(root, bad_rows=2), on_bad_image="stop", **kwargs
        )
    data = file_dataset.check_images(
        "t", root, _tables(root, missing=1, bad_rows=2), on_bad_image="skip", **kwargs
    )
    assert [(b.path, b.line, b.reason) for b in data.bad_images] == [
        (os.path.join(root, "train", "1_left.jpeg"), 2, "missing file"),
        ("x0.png", 3, "label='9' is not one of 0-4"),
        ("x1.png", 4, "label='9' is not one of 0-4"),
    ]
    summary = data.summary()
    assert summary["skipped_images"] == 3 and summary["splits"]["train"]["images"] == 3
    assert list(data.splits["train"].rows()["line"]) == [4, 6, 8]
    assert data.splits["train"].name == "train" and data.image_scan == "header"


def test_check_outputs_of_file_datasets(eyepacs_root, chexpert_root):
    grades = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=FRACTIONS)
    grades.check_outputs(5)
    grades.check_outputs(10)  # A wider head can be trained on grades 0-4.
    with pytest.raises(
        ValueError,
        match=rf"{eyepacs_root}: split '(train|valid)' holds label 4 but the task has 4 outputs: "
        r"set --config.task_options.num_classes \(at least 5\)",
    ):
        grades.check_outputs(4)
    multi = datasets.load_dataset("chexpert", chexpert_root, split_fractions={"train": 1.0})
    multi.check_outputs(5)
    with pytest.raises(
        ValueError, match=r"split 'train' has 5 labels per image but the task has 3"
    ):
        multi.check_outputs(3)


def test_check_outputs_of_record_datasets(eyepacs_root, tmp_path):
    conversion.convert_dataset(
        "eyepacs", eyepacs_root, str(tmp_path), split_fractions=FRACTIONS, num_shards=1
    )
    data = datasets.load_dataset("tfrecords", str(tmp_path), split_fractions={})
    data.check_outputs(5)
    with pytest.raises(ValueError, match=rf"{tmp_path} holds 5 classes but the task has 10"):
        data.check_outputs(10)
    assert data.image_scan == "none" and data.root == str(tmp_path)
    np.testing.assert_array_equal(
        np.sort(data.splits["valid"].targets()),
        np.sort(
            datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=FRACTIONS)
            .splits["valid"]
            .targets()
        ),
    )
