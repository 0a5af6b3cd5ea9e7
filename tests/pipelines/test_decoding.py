"""The shared tail: decoding, augmentation seeded by the example index, batching."""

import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines import decoding
from pipelines.augment import AugmentConfig


def test_load_image_eagerly_and_in_dataset_map(eyepacs_root):
    path = os.path.join(eyepacs_root, "train", "1_left.jpeg")
    eager = decoding.load_image(tf.constant(path), size=20, channels=3)
    mapped = next(
        iter(
            tf.data.Dataset.from_tensors(path).map(
                lambda p: decoding.load_image(p, size=20, channels=3)
            )
        )
    )
    assert eager.dtype == tf.uint8 and eager.shape == (20, 20, 3)
    np.testing.assert_array_equal(eager, mapped)
    gray = decoding.load_image(tf.constant(path), size=20, channels=1)
    assert gray.shape == (20, 20, 1)


def test_resize_modes_on_a_wide_image(tmp_path):
    from PIL import Image

    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 10:30] = 255  # White centre square, black sides.
    Image.fromarray(image).save(tmp_path / "wide.png")
    path = tf.constant(str(tmp_path / "wide.png"))
    pad = decoding.load_image(path, size=20, channels=3, resize_mode="pad").numpy()
    crop = decoding.load_image(path, size=20, channels=3, resize_mode="center_crop").numpy()
    squash = decoding.load_image(path, size=20, channels=3, resize_mode="squash").numpy()
    assert pad[:4].max() == 0 and pad[-4:].max() == 0 and pad[10, 10, 0] == 255  # Letterboxed.
    assert crop.min() == 255  # The central 20x20 square is all white.
    assert squash[:, :4].max() == 0 and squash[:, 8:12].min() == 255
    with pytest.raises(ValueError, match="unknown resize_mode"):
        decoding.load_image(path, size=20, channels=3, resize_mode="fit")


def test_training_batches_augment_by_index_and_drop_the_partial_batch():
    images = tf.data.Dataset.from_tensor_slices(
        (
            tf.range(5, dtype=tf.int64),
            tf.cast(tf.reshape(tf.range(5 * 4 * 4 * 3) % 256, (5, 4, 4, 3)), tf.uint8),
            tf.range(5, dtype=tf.int64),
        )
    )
    flips = AugmentConfig(flip_left_right=True, brightness=10.0)
    kwargs = dict(preprocessing="unit", batch_size=2, seed=3, augment=flips)
    batches = list(decoding.training_batches(images, **kwargs))
    assert [tuple(x.shape) for x, _ in batches] == [(2, 4, 4, 3), (2, 4, 4, 3)]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), [0, 1, 2, 3])
    # Example i is augmented with the seed (seed, i), whatever else is in its batch.
    one = next(iter(images.skip(3).take(1)))
    alone = decoding.augment_and_preprocess(
        one[1], one[0], seed=3, augment=flips, preprocess=lambda x: x / 255.0
    )
    np.testing.assert_array_equal(batches[1][0][1], alone)


def test_eval_batches_keep_the_partial_batch_and_cache_in_memory():
    images = tf.data.Dataset.from_tensor_slices(
        (tf.fill((5, 2, 2, 1), tf.constant(255, tf.uint8)), tf.range(5))
    )
    for cache_file in (None, ""):
        batches = list(
            decoding.eval_batches(
                images, preprocessing="inception", batch_size=2, cache_file=cache_file
            )
        )
        assert [len(y) for _, y in batches] == [2, 2, 1]
        assert all(float(tf.reduce_min(x)) == 1.0 for x, _ in batches)  # 255 -> 1.


def test_streams_keep_their_order_and_do_not_autotune(eyepacs_root):
    """Deterministic order is the resume guarantee. Autotuning is off: its tuning thread
    held up the destruction of a run's training iterator for 15-50 s (`decoding.options`)."""
    from pipelines import datasets
    from pipelines.decoding import ImageSettings
    from pipelines.split import TrainSettings

    data = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions={"train": 1.0})
    split = data.splits["train"]
    images = ImageSettings(image_size=16, channels=3, preprocessing="unit")
    streams = [
        split.train_stream(images, TrainSettings(batch_size=2, seed=0)),
        split.eval_stream(images, batch_size=2),
    ]
    for stream in streams:
        assert stream.options().deterministic is True
        assert stream.options().autotune.enabled is False


@pytest.mark.parametrize("mode", ["pad", "squash", "center_crop"])
def test_resize_image_on_a_batch_gives_the_pixels_decoding_gives_each_image(tmp_path, mode):
    from PIL import Image

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(2, 27, 44, 3), dtype=np.uint8)
    decoded = []
    for k, image in enumerate(batch):
        Image.fromarray(image).save(tmp_path / f"{k}.png")
        path = tf.constant(str(tmp_path / f"{k}.png"))
        decoded.append(decoding.load_image(path, size=16, channels=3, resize_mode=mode))
    resized = decoding.resize_image(tf.constant(batch), size=16, resize_mode=mode)
    assert resized.dtype == tf.uint8 and resized.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(resized, np.stack(decoded))  # PNG is lossless.
    one = decoding.resize_image(batch[1], size=16, resize_mode=mode)
    np.testing.assert_array_equal(one, decoded[1])
