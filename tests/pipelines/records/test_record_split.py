"""The shard `Split`: seeded order, exact resume, ordered evaluation, rows and targets."""

from __future__ import annotations

import collections
import functools

import numpy as np
import pytest
import tensorflow as tf

from pipelines.augment import AugmentConfig
from pipelines.decoding import ImageSettings
from pipelines.errors import DataError
from pipelines.readers import imagenet
from pipelines.records.record_split import RecordSplit
from pipelines.split import TrainSettings
from tests.pipelines.readers.test_imagenet import write_shards

PARSE = functools.partial(imagenet.parse_example, num_classes=40)
RGB = ImageSettings(image_size=8, channels=3, preprocessing="unit")
GRAY = ImageSettings(image_size=8, channels=1, preprocessing="unit")


def _split(files, parse=PARSE, name="validation"):
    return RecordSplit(tuple(files), parse, name, cycle_length=2)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """30 records over 3 shards; record k has label k + 1 and pixel value k + 1."""
    root = tmp_path_factory.mktemp("records")
    labels = [list(range(1 + 10 * s, 11 + 10 * s)) for s in range(3)]
    return write_shards(str(root), "train", labels)


def _stream(files, *, seed=0, start=0, augment=None, batch=5, workers=1):
    train = TrainSettings(batch, seed, start, augment=augment, shuffle_buffer=8, workers=workers)
    return _split(files).train_stream(RGB, train)


def _take(ds, batches):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(batches)]


def test_stream_is_seeded_shuffled_and_complete(shards):
    a = np.concatenate([y for _, y in _take(_stream(shards), 12)])
    b = np.concatenate([y for _, y in _take(_stream(shards), 12)])
    c = np.concatenate([y for _, y in _take(_stream(shards, seed=1), 12)])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert set(a[:60]) == set(range(30))  # Two passes' worth of records hold every record.
    assert max(collections.Counter(a[:60]).values()) <= 3
    assert not np.array_equal(a[:30], np.arange(30))  # Shuffled, not file order.


def test_resumed_stream_equals_the_uninterrupted_one(shards):
    flips = AugmentConfig(flip_left_right=True, brightness=30.0)
    straight = _take(_stream(shards, augment=flips), 10)
    resumed = _take(_stream(shards, augment=flips, start=35), 3)
    for (x1, y1), (x2, y2) in zip(straight[7:], resumed, strict=True):
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(x1, x2)


def test_eval_stream_is_in_file_order_with_its_labels_and_rows(shards):
    split = _split(shards)
    ds = split.eval_stream(GRAY, batch_size=7, cache="memory")
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    labels = np.concatenate(labels)
    np.testing.assert_array_equal(labels, np.arange(30))
    np.testing.assert_array_equal(labels, split.targets())
    rows = split.rows()  # ImageNet layout: no per-record fields, so index and label.
    assert list(rows.columns) == ["index", "label"]
    np.testing.assert_array_equal(rows["index"], np.arange(30))
    np.testing.assert_array_equal(rows["label"], labels)
    images = np.concatenate(images)
    assert images.shape == (30, 8, 8, 1)
    # JPEG keeps a flat image flat (to within a grey level): pixel value = label + 1.
    np.testing.assert_allclose(images[:, 4, 4, 0] * 255, labels + 1, atol=1.5)


@pytest.mark.slow
def test_eval_stream_file_cache_is_keyed_by_split_parse_and_shards(shards, tmp_path):
    def labels(files, parse=PARSE, split="validation"):
        stream = _split(files, parse, split).eval_stream(
            GRAY, batch_size=7, cache=str(tmp_path / "cache")
        )
        return np.concatenate([y.numpy() for _, y in stream])

    np.testing.assert_array_equal(labels(shards), np.arange(30))
    np.testing.assert_array_equal(labels(shards), np.arange(30))  # Read from the cache.
    np.testing.assert_array_equal(labels(shards[:1]), np.arange(10))  # Other shards.
    offset = functools.partial(imagenet.parse_example, num_classes=40, label_offset=0)
    np.testing.assert_array_equal(labels(shards, parse=offset), np.arange(1, 31))
    np.testing.assert_array_equal(labels(shards, split="train"), np.arange(30))
    assert len(list(tmp_path.glob("cache-eval-validation-*.index"))) == 3
    assert len(list(tmp_path.glob("cache-eval-train-*.index"))) == 1
    # `cache_name` keys the cache by another name than the split's own.
    stream = _split(shards).eval_stream(
        GRAY, batch_size=7, cache=str(tmp_path / "cache"), cache_name="held_out"
    )
    np.testing.assert_array_equal(np.concatenate([y for _, y in stream]), np.arange(30))
    assert len(list(tmp_path.glob("cache-eval-held_out-*.index"))) == 1


def test_preview_and_empty_input(shards):
    preview = _split(shards).preview(RGB, count=4, seed=0)
    assert preview.shape == (4, 8, 8, 3) and preview.min() >= 0.0 and preview.max() <= 1.0
    with pytest.raises(ValueError, match="split 'validation': no shard files"):
        _stream([])


def test_two_workers_read_disjoint_shards_that_cover_the_split(shards):
    seen = []
    for index in range(2):
        train = TrainSettings(4, seed=0, shuffle_buffer=8, workers=2, worker_index=index)
        stream = _split(shards).train_stream(GRAY, train)
        opts = stream.options().experimental_distribute.auto_shard_policy
        assert opts == tf.data.experimental.AutoShardPolicy.OFF  # Sharded already.
        seen.append(set(np.concatenate([y for _, y in _take(stream, 10)])))
    # Worker 0 reads shards 0 and 2 (records 0-9, 20-29), worker 1 shard 1 (10-19).
    assert seen[0] == set(range(10)) | set(range(20, 30))
    assert seen[1] == set(range(10, 20))
    with pytest.raises(
        DataError,
        match=r"3 shards \(.*train-00000-of-00003, \.\.\.\) cannot be shared by 4 workers",
    ):
        _stream(shards, workers=4)
