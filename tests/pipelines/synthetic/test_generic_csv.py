"""Tests for pipelines/synthetic/generic_csv.py (the retina set as a generic CSV dataset)."""

import csv
import os

import pytest
from PIL import Image

from pipelines import datasets, generate
from pipelines.synthetic import generic_csv as synthetic_csv


def test_layout_labels_and_the_reader_agree(tmp_path):
    summary = synthetic_csv.write_csv_dataset(str(tmp_path), num_patients=5, image_size=32, seed=1)
    with open(tmp_path / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "label", "patient"]
    patients = [f"p{p:04d}" for p in range(5)]
    assert [r[0] for r in rows[1:]] == [
        f"images/{p}/{eye}.jpeg" for p in patients for eye in ("left", "right")
    ]
    assert [r[2] for r in rows[1:]] == [p for p in patients for _ in range(2)]
    grades = [int(r[1]) for r in rows[1:]]
    assert summary["grade_counts"] == {g: grades.count(g) for g in range(5)}
    assert summary["num_images"] == 10 and summary["labels_csv"] == str(tmp_path / "labels.csv")
    with Image.open(tmp_path / rows[1][0]) as image:
        assert image.format == "JPEG" and image.size == (32, 32)
    data = datasets.load_dataset("csv", str(tmp_path), split_fractions={"train": 1.0})
    table = data.splits["train"].rows()
    assert list(table["image"]) == [r[0] for r in rows[1:]]
    assert list(table["label"]) == grades and table["patient"].nunique() == 5
    assert generate.get_generator("csv") is synthetic_csv.write_csv_dataset


def test_same_seed_same_bytes_and_bad_arguments(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    for root in (a, b):
        synthetic_csv.write_csv_dataset(root, num_patients=2, image_size=32, seed=4)
    for name in ("labels.csv", "images/p0001/right.jpeg"):
        assert open(os.path.join(a, name), "rb").read() == open(os.path.join(b, name), "rb").read()
    with pytest.raises(ValueError, match="num_patients must be >= 1"):
        synthetic_csv.write_csv_dataset(a, num_patients=0, image_size=32, seed=4)
