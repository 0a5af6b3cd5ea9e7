"""The converted-example layout: encoding, parsing eagerly and in `Dataset.map`, label checks."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipelines.records import image_examples

GRADES = image_examples.LabelSpec("grade", 5, ("none", "mild", "moderate", "severe", "pdr"))
FIVE = image_examples.LabelSpec("multi_label", 5)


def _png(value=7):
    buffer = io.BytesIO()
    Image.fromarray(np.full((2, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _example(label=3, mask=None, **changes):
    fields = dict(
        encoded=_png(),
        image_format="PNG",
        source_format="PNG",
        shape=(2, 3, 1),
        image_id="10_left",
        source_path="train/10_left.png",
        patient="10",
        study="",
        label_file="trainLabels.csv",
        line=4,
        label=label,
        mask=mask,
    )
    fields.update(changes)
    return image_examples.encode_example(**fields)


def test_grade_example_parses_to_bytes_label_and_rows():
    parsed = image_examples.parse_example(_example(), spec=GRADES, source="s-00000-of-00001")
    assert parsed["image"].numpy() == _png()
    assert parsed["label"].dtype == tf.int64 and int(parsed["label"]) == 3
    rows = {k: v.numpy() for k, v in parsed["rows"].items()}
    assert rows == {
        "image": b"10_left",
        "patient": b"10",
        "study": b"",
        "path": b"train/10_left.png",
        "label_file": b"trainLabels.csv",
        "line": 4,
    }


def test_multi_label_example_gives_labels_over_mask_inside_dataset_map():
    record = _example(label=[1, 0, 0, 1, 0], mask=[1, 1, 0, 1, 0], study="p1/study2")
    ds = tf.data.Dataset.from_tensors(record).map(
        lambda r: image_examples.parse_example(r, spec=FIVE, source="x")
    )
    (parsed,) = list(ds)
    np.testing.assert_array_equal(parsed["label"].numpy(), [[1, 0, 0, 1, 0], [1, 1, 0, 1, 0]])
    assert parsed["label"].dtype == tf.float32 and parsed["label"].shape == (2, 5)
    assert parsed["rows"]["study"].numpy() == b"p1/study2"


def test_a_grade_out_of_range_names_shard_image_and_row():
    ds = tf.data.Dataset.from_tensors(_example(label=7)).map(
        lambda r: image_examples.parse_example(r, spec=GRADES, source="/d/train-00003-of-00008")
    )
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        list(ds)
    message = error.value.message
    assert "label/grade outside [0, 4]: label" in message and "[7]" in message
    assert "/d/train-00003-of-00008" in message and "train/10_left.png" in message
    assert "trainLabels.csv" in message and "line" in message and "[4]" in message


def test_a_label_vector_of_the_wrong_length_or_values_is_refused():
    for label, mask in (([1, 0, 0, 1], [1, 1, 1, 1]), ([1, 0, 0, 1, 2], [1, 1, 1, 1, 1])):
        with pytest.raises(tf.errors.InvalidArgumentError, match="must be 5 values of 0 or 1"):
            image_examples.parse_example(_example(label=label, mask=mask), spec=FIVE, source="s")


def test_label_spec_json_round_trip_and_checks():
    assert image_examples.LabelSpec.from_json(GRADES.to_json()) == GRADES
    assert FIVE.to_json()["multi_label"] is True
    with pytest.raises(ValueError, match="unknown label kind 'ordinal'"):
        image_examples.LabelSpec("ordinal", 5)
