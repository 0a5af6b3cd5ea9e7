"""The image-file `Split`: decoding, the resumable training stream, ordered evaluation."""

import dataclasses

import numpy as np
import pytest

from pipelines import datasets
from pipelines.augment import AugmentConfig
from pipelines.decoding import ImageSettings
from pipelines.readers.file_split import FileSplit
from pipelines.split import TrainSettings, targets

IMAGES = ImageSettings(image_size=24, channels=3, preprocessing="inception")


@pytest.fixture(scope="module")
def split(eyepacs_root):
    data = datasets.load_dataset(
        "eyepacs", eyepacs_root, split_fractions={"train": 0.8, "valid": 0.2}
    )
    return data.splits["train"]


ROTATE_AND_FLIP = AugmentConfig(True, True, 10.0)


def _stream(split, start, cache="memory", batches=6, augment=ROTATE_AND_FLIP):
    train = TrainSettings(batch_size=8, seed=5, start_example=start, cache=cache, augment=augment)
    ds = split.train_stream(IMAGES, train)
    return [(x.numpy(), y.numpy()) for x, y in ds.take(batches)]


def test_resumed_stream_equals_the_uninterrupted_one(split):
    full = _stream(split, start=0, batches=20)  # 20 batches of 8 > two passes over 60 rows.
    resumed = _stream(split, start=13 * 8, batches=7)
    for (x1, y1), (x2, y2) in zip(full[13:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


@pytest.mark.slow
def test_cache_modes_give_the_same_stream(split, tmp_path):
    memory = _stream(split, start=16)
    none = _stream(split, start=16, cache="none")
    disk = _stream(split, start=16, cache=str(tmp_path / "cache"))
    reread = _stream(split, start=16, cache=str(tmp_path / "cache"))  # From the files.
    assert len(list(tmp_path.glob("cache-train-train-*.index"))) == 1
    for (a, la), (b, _), (c, lc), (d, ld) in zip(memory, none, disk, reread, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(a, d)
        np.testing.assert_array_equal(la, lc)
        np.testing.assert_array_equal(la, ld)


def test_a_file_cache_needs_the_split_name(split, tmp_path):
    unnamed = FileSplit(split.rows())
    with pytest.raises(ValueError, match=r"a file cache needs the split's name"):
        unnamed.train_stream(IMAGES, TrainSettings(8, seed=5, cache=str(tmp_path / "cache")))
    with pytest.raises(ValueError, match=r"split '': no rows to train on"):
        FileSplit(split.rows().iloc[:0]).train_stream(IMAGES, TrainSettings(8, seed=5))


def test_each_pass_is_a_new_permutation_of_all_rows(split):
    labels = np.concatenate([y for _, y in _stream(split, 0, batches=16, augment=None)])
    n = len(split.rows())
    first, second = labels[:n], labels[n : 2 * n]
    assert sorted(first) == sorted(split.rows()["label"]) == sorted(second)
    assert not np.array_equal(first, second)
    images = _stream(split, 0, batches=1, augment=None)[0][0]
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.shape == (8, 24, 24, 3)


def test_eval_stream_keeps_order_and_the_partial_batch(split):
    unit = dataclasses.replace(IMAGES, preprocessing="unit")
    batches = list(split.eval_stream(unit, batch_size=7))
    assert len(split.rows()) == 60
    assert [len(y) for _, y in batches] == [7] * 8 + [4]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), split.rows()["label"])
    np.testing.assert_array_equal(split.targets(), split.rows()["label"])


def test_preview_is_the_start_of_the_training_stream_in_unit_range(split):
    images = split.preview(IMAGES, count=4, seed=0)
    assert images.shape == (4, 24, 24, 3) and images.min() >= 0.0 and images.max() <= 1.0
    unit = dataclasses.replace(IMAGES, preprocessing="unit")
    first, _ = next(iter(split.train_stream(unit, TrainSettings(4, seed=0, cache="none"))))
    np.testing.assert_array_equal(images, first.numpy())
    assert split.preview(IMAGES, count=100, seed=0).shape[0] == 60  # At most the split.


def test_multilabel_targets_carry_the_mask_and_resume_exactly(chexpert_root):
    split = datasets.load_dataset(
        "chexpert", chexpert_root, split_fractions={"train": 1.0}, blank="mask"
    ).splits["train"]
    rows = split.rows()
    expected = targets(rows)
    assert expected.shape == (len(rows), 2, 5) and expected.dtype == np.float32
    np.testing.assert_array_equal(expected[:, 1], np.stack(rows["mask"]))
    assert (expected[:, 1] == 0).any()  # Blank cells are masked under this policy.
    gray = ImageSettings(image_size=32, channels=1, preprocessing="inception")

    def stream(start, batches):
        train = TrainSettings(4, seed=1, start_example=start, augment=ROTATE_AND_FLIP)
        ds = split.train_stream(gray, train)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(batches)]

    full, resumed = stream(0, 12), stream(7 * 4, 5)
    assert full[0][0].shape == (4, 32, 32, 1) and full[0][1].shape == (4, 2, 5)
    for (x1, y1), (x2, y2) in zip(full[7:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    rgb = ImageSettings(image_size=32, channels=3, preprocessing="unit")
    batches = list(split.eval_stream(rgb, batch_size=16))
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), expected)
    assert batches[0][0].shape[-1] == 3  # Grayscale JPEGs replicated to 3 channels.
