"""The synthetic source task: the ImageNet TFRecord layout, determinism, balance, variety."""

from __future__ import annotations

import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines import datasets
from pipelines.readers import imagenet
from pipelines.synthetic import source as synthetic_source
from pipelines.synthetic import source_shapes
from tests import binaries, fixtures


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("source"))
    summary = fixtures.write_tiny_source(root, train_per_class=3, validation_per_class=2)
    return root, summary


def test_layout_is_slim_imagenet(source):
    root, summary = source
    assert sorted(os.listdir(root)) == [
        "labels.txt",
        "synthetic_source.json",
        "train-00000-of-00003",
        "train-00001-of-00003",
        "train-00002-of-00003",
        "validation-00000-of-00002",
        "validation-00001-of-00002",
    ]
    assert summary["images"] == {"train": 60, "validation": 40}
    assert json.load(open(os.path.join(root, "synthetic_source.json"))) == summary
    lines = open(os.path.join(root, "labels.txt")).read().splitlines()
    assert lines[:2] == ["1:disc", "2:ring"] and len(lines) == 20
    record = next(iter(tf.data.TFRecordDataset(imagenet.list_shards(root, "train")[0])))
    features = tf.train.Example.FromString(record.numpy()).features.feature
    assert features["image/format"].bytes_list.value == [b"JPEG"]
    assert features["image/height"].int64_list.value == [32]
    label = features["image/class/label"].int64_list.value[0]
    assert 1 <= label <= 20  # 1-based, as slim's ImageNet.
    text = features["image/class/text"].bytes_list.value[0].decode()
    assert text == source_shapes.class_names()[label - 1]
    image = tf.io.decode_jpeg(features["image/encoded"].bytes_list.value[0]).numpy()
    assert image.shape == (32, 32, 3)


def test_read_back_through_the_imagenet_reader_balanced(source):
    root, _ = source
    data = datasets.load_dataset("imagenet", root, split_fractions={})
    assert data.num_classes == 20 and data.label_names[:3] == ("disc", "ring", "square")
    for split, per_class in (("train", 3), ("validation", 2)):
        part = data.splits[split]
        labels = part.targets()
        assert collections.Counter(labels.tolist()) == {c: per_class for c in range(20)}


def test_same_seed_same_bytes_and_images_vary(tmp_path):
    a = synthetic_source.render_image(3, np.random.default_rng([0, 0, 5]), 48)
    b = synthetic_source.render_image(3, np.random.default_rng([0, 0, 5]), 48)
    c = synthetic_source.render_image(3, np.random.default_rng([0, 0, 6]), 48)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (48, 48, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - c).mean() > 20  # Colour, texture, clutter all change.
    for k in (0, 1):
        synthetic_source.write_source(
            str(tmp_path / str(k)), num_classes=2, train_per_class=2, validation_per_class=1,
            image_size=16, train_shards=1, validation_shards=1,
        )  # fmt: skip
    for name in ("train-00000-of-00001", "validation-00000-of-00001"):
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes()


def test_every_class_draws_a_distinct_silhouette():
    masks = {}
    for name, parts in source_shapes.CLASSES.items():
        mask = synthetic_source._silhouette(parts(), 64, 24.0, 0.0, np.array([32.0, 32.0]))
        area = (mask > 127).mean()
        assert 0.05 < area < 0.6, (name, area)
        masks[name] = mask > 127
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            differ = (masks[a] != masks[b]).mean()
            assert differ > 0.02, (a, b, differ)
    assert len(names) == 24
    with pytest.raises(ValueError, match=r"num_classes must be in 1..24"):
        source_shapes.class_names(25)


@pytest.mark.slow
def test_the_generate_source_binary(tmp_path):
    # Its one `python -m` process in the suite (the study runner's test generates in-process).
    out = binaries.run(
        "pipelines.generate_source", f"--root={tmp_path}", "--num_classes=2",
        "--train_per_class=2", "--validation_per_class=1", "--image_size=16",
        "--train_shards=1", "--validation_shards=1",
    ).stdout  # fmt: skip
    assert '"images": {' in out and "6/6 images" in out
    assert os.path.exists(tmp_path / "train-00000-of-00001")
