"""ImageNet-layout TFRecords: the per-example parse, shard listing, labels, the registry."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import imagenet


def _jpeg(value: int, size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def slim_example(label: int, value: int = 100, *, synset: bytes = b"n01440764") -> bytes:
    """A record with the fields `build_imagenet_data.py` writes for real ImageNet."""

    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    def f(v):
        return tf.train.Feature(float_list=tf.train.FloatList(value=v))

    feature = {
        "image/height": i(8),
        "image/width": i(8),
        "image/colorspace": b(b"RGB"),
        "image/channels": i(3),
        "image/class/label": i(label),
        "image/class/synset": b(synset),
        "image/class/text": b(b"tench, Tinca tinca"),
        "image/object/bbox/xmin": f([0.1]),
        "image/object/bbox/xmax": f([0.9]),
        "image/object/bbox/ymin": f([0.2]),
        "image/object/bbox/ymax": f([0.8]),
        "image/object/bbox/label": i(label),
        "image/format": b(b"JPEG"),
        "image/filename": b(b"n01440764_10026.JPEG"),
        "image/encoded": b(_jpeg(value)),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_shards(root, split: str, labels_per_shard: list[list[int]]) -> list[str]:
    os.makedirs(root, exist_ok=True)
    paths = []
    for k, labels in enumerate(labels_per_shard):
        path = os.path.join(root, f"{split}-{k:05d}-of-{len(labels_per_shard):05d}")
        with tf.io.TFRecordWriter(path) as writer:
            for label in labels:
                writer.write(slim_example(label, value=label))
        paths.append(path)
    return paths


def test_parse_example_eagerly_and_in_dataset_map():
    record = slim_example(1000, value=77)
    eager = imagenet.parse_example(tf.constant(record))
    assert int(eager["label"]) == 999  # slim's 1-based label 1000 is class 999.
    assert int(eager["height"]) == 8 and eager["image"].dtype == tf.string
    mapped = next(iter(tf.data.Dataset.from_tensors(record).map(imagenet.parse_example)))
    assert int(mapped["label"]) == 999
    assert mapped["image"].numpy() == eager["image"].numpy()
    zero_based = imagenet.parse_example(tf.constant(slim_example(0)), label_offset=0)
    assert int(zero_based["label"]) == 0


def test_parse_example_defaults_for_missing_optional_fields():
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_jpeg(5)])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
    }
    record = tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
    parsed = imagenet.parse_example(tf.constant(record), num_classes=4)
    assert int(parsed["label"]) == 2 and int(parsed["height"]) == -1


@pytest.mark.parametrize("label", [0, 1001])
def test_a_label_outside_the_range_names_the_value_and_the_file(label):
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=rf"(?s)outside \[1, 1000\].*\n{label}\n.*x.tfr"
    ):
        imagenet.parse_example(tf.constant(slim_example(label)), source="x.tfr")
    ds = tf.data.Dataset.from_tensors(slim_example(label)).map(
        lambda r: imagenet.parse_example(r, source="y.tfr")
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"y.tfr"):
        list(ds)


def test_list_shards_orders_and_checks(tmp_path):
    write_shards(tmp_path, "train", [[1], [2], [3]])
    write_shards(tmp_path, "validation", [[4]])
    shards = imagenet.list_shards(str(tmp_path), "train")
    assert [os.path.basename(p) for p in shards] == [
        "train-00000-of-00003",
        "train-00001-of-00003",
        "train-00002-of-00003",
    ]
    os.remove(shards[1])
    with pytest.raises(DataError, match="1 of 3 train shards missing, e.g. train-00001-of-00003"):
        imagenet.list_shards(str(tmp_path), "train")
    with pytest.raises(DataError, match=r"no 'test-NNNNN-of-MMMMM'.*splits present: \['train', "):
        imagenet.list_shards(str(tmp_path), "test")
    (tmp_path / "train-00001-of-00004").write_bytes(b"")
    with pytest.raises(DataError, match=r"disagree on their count: \[3, 4\]"):
        imagenet.list_shards(str(tmp_path), "train")
    with pytest.raises(DataError, match="no such directory"):
        imagenet.list_shards(str(tmp_path / "absent"), "train")


def test_label_names_from_labels_txt(tmp_path):
    assert imagenet.read_label_names(str(tmp_path)) == {}
    (tmp_path / "labels.txt").write_text("0:background\n1:tench\n2:goldfish\n\n")
    assert imagenet.read_label_names(str(tmp_path)) == {0: "tench", 1: "goldfish"}
    (tmp_path / "labels.txt").write_text("1:tench\ngoldfish\n")
    with pytest.raises(DataError, match="labels.txt line 2: expected '<label>:<name>'"):
        imagenet.read_label_names(str(tmp_path))


def test_registered_as_dataset_imagenet(tmp_path):
    write_shards(tmp_path, "train", [[1, 2], [3, 1000]])
    write_shards(tmp_path, "validation", [[5, 6, 7]])
    data = datasets.load_dataset("imagenet", str(tmp_path), split_fractions={})
    assert data.num_classes == 1000 and set(data.splits) == {"train", "validation"}
    assert len(data.splits["train"].files) == 2
    assert data.summary()["splits"]["validation"]["shards"] == 1
    split = data.splits["validation"]
    np.testing.assert_array_equal(split.targets(), [4, 5, 6])
    # labels.txt decides the class count unless the option says otherwise.
    (tmp_path / "labels.txt").write_text("".join(f"{i}:c{i}\n" for i in range(1, 11)))
    assert datasets.load_dataset("imagenet", str(tmp_path), split_fractions={}).num_classes == 10
    data = datasets.load_dataset("imagenet", str(tmp_path), split_fractions={}, num_classes=7)
    assert data.num_classes == 7 and data.label_names[0] == "c1"
    with pytest.raises(
        ValueError, match="valid: aptos, chexpert, csv, eyepacs, imagenet, messidor2, tfrecords"
    ):
        datasets.load_dataset("imagenet21k", str(tmp_path), split_fractions={})
