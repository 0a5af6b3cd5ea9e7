"""From checked rows to `tf.data`: decode, resize, cache, shuffle, augment, batch.

Per-example functions (`load_image`, `pipelines.augment.augment`, the preprocessing
functions) are composed here. The training stream is a pure function of (rows, seed,
start_example): a run resumed at step k rebuilds exactly the batches the uninterrupted run
would have seen from step k on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines import augment as augment_lib
from pipelines import file_cache
from pipelines.preprocessing import get_preprocessing

RESIZE_MODES = ("pad", "squash", "center_crop")
CACHE_MODES = (file_cache.IN_MEMORY, file_cache.NO_CACHE)  # Or a file prefix.
AUTOTUNE = tf.data.AUTOTUNE


def load_image(path: tf.Tensor, *, size: int, channels: int, resize_mode: str = "pad") -> tf.Tensor:
    """Reads, decodes and resizes one image file (see `decode_image`).

    Args:
      path: scalar string tensor.

    Returns:
      uint8 tensor (size, size, channels).
    """
    return decode_image(
        tf.io.read_file(path), size=size, channels=channels, resize_mode=resize_mode
    )


def decode_image(
    encoded: tf.Tensor, *, size: int, channels: int, resize_mode: str = "pad"
) -> tf.Tensor:
    """Decodes and resizes one encoded image (JPEG, PNG, GIF or BMP bytes).

    Args:
      encoded: scalar string tensor.
      size: output side in pixels.
      channels: 1 (grayscale; RGB files are converted) or 3 (grayscale files replicated).
      resize_mode: `pad` keeps the aspect ratio and pads with black (fundus photographs are
        wider than tall); `squash` resizes to a square; `center_crop` crops the central
        square first.

    Returns:
      uint8 tensor (size, size, channels).
    """
    image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    image = tf.cast(image, tf.float32)
    if resize_mode == "pad":
        image = tf.image.resize_with_pad(image, size, size, antialias=True)
    elif resize_mode == "squash":
        image = tf.image.resize(image, (size, size), antialias=True)
    elif resize_mode == "center_crop":
        shape = tf.shape(image)
        side = tf.minimum(shape[0], shape[1])
        image = tf.image.resize_with_crop_or_pad(image, side, side)
        image = tf.image.resize(image, (size, size), antialias=True)
    else:
        raise ValueError(f"unknown resize_mode {resize_mode!r}; valid: {RESIZE_MODES}")
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def targets(rows: pd.DataFrame) -> np.ndarray:
    """What the loss sees for each row.

    Returns:
      Single-label rows: the labels, (n,) (or (n, ...) for array labels). Rows with a
      `mask` column (multi-label): float32 (n, 2, k), `[:, 0]` the labels, `[:, 1]` the
      mask (1 = the label counts, 0 = ignore it).
    """
    if "mask" not in rows:
        return np.stack(rows["label"].to_numpy()) if len(rows) else np.zeros([0], np.int64)
    if not len(rows):
        return np.zeros([0, 2, 0], np.float32)
    labels = np.stack(rows["label"].to_numpy()).astype(np.float32)
    masks = np.stack(rows["mask"].to_numpy()).astype(np.float32)
    return np.stack([labels, masks], axis=1)


def _records(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "path": rows["path"].to_numpy(dtype=str),
        "label": targets(rows),
        "row": np.arange(len(rows), dtype=np.int64),
    }


def cache_filename(
    cache: str,
    rows: pd.DataFrame,
    *,
    stream: str,
    split_name: str | None,
    image_size: int,
    channels: int,
    resize_mode: str,
    preprocessing: str,
) -> str:
    """The `tf.data.Dataset.cache` filename of a stream of `rows`: '' caches in memory.

    A file prefix gets files of this stream alone (`pipelines.file_cache`), keyed by the
    stream, `split_name`, the decode settings and the rows' canonical paths and targets.

    Raises:
      ValueError: a file prefix without a split name.
      DataError: a cache another live process is writing (`file_cache.prepare`).
    """
    if cache == file_cache.IN_MEMORY:
        return ""
    key = file_cache.cache_key(
        stream=stream,
        split=split_name or "",
        image_size=image_size,
        channels=channels,
        resize_mode=resize_mode,
        preprocessing=preprocessing,
        source="files",
        members=file_cache.membership(list(rows["path"]), targets(rows)),
    )
    return file_cache.prepare(cache, key)


def train_dataset(
    rows: pd.DataFrame,
    *,
    image_size: int,
    channels: int,
    preprocessing: str,
    batch_size: int,
    seed: int,
    start_example: int = 0,
    cache: str = "memory",
    split_name: str | None = None,
    augment: augment_lib.AugmentConfig | None = None,
    resize_mode: str = "pad",
) -> tf.data.Dataset:
    """The endless, shuffled, augmented training stream.

    Order of work: decode + resize (deterministic, cached) -> seeded shuffle per pass ->
    repeat -> enumerate -> skip `start_example` -> augment with a seed derived from
    (seed, example index) -> preprocess -> batch. Skipping happens before augmentation,
    so resuming costs only the cache fill.

    Args:
      rows: checked rows (columns `path`, `label`, and `mask` for multi-label data).
      image_size: model input side.
      channels: 1 or 3.
      preprocessing: name from `pipelines.preprocessing`.
      batch_size: global batch size; partial batches are dropped.
      seed: seeds shuffling and augmentation.
      start_example: examples to skip (resume at step k: k * batch_size).
      cache: `memory` keeps decoded, resized uint8 images in RAM; `none` decodes every
        time; any other string is a file prefix for an on-disk cache of this stream
        (`cache_filename`).
      split_name: the split's name, part of a file cache's key (required with one).
      augment: what to augment (default none).
      resize_mode: see `load_image`.

    Returns:
      A dataset of (float32 images (batch, size, size, channels), targets (batch, ...)):
      see `targets` for the targets' shape.
    """
    if len(rows) == 0:
        raise ValueError("train_dataset: no rows")
    augment = augment or augment_lib.AugmentConfig()
    preprocess = get_preprocessing(preprocessing)
    num = len(rows)

    def load(example):
        example = dict(example)
        example["image"] = load_image(
            example.pop("path"), size=image_size, channels=channels, resize_mode=resize_mode
        )
        return example

    settings = dict(split_name=split_name, image_size=image_size, channels=channels)
    settings.update(resize_mode=resize_mode, preprocessing=preprocessing)
    ds = tf.data.Dataset.from_tensor_slices(_records(rows))
    if cache == file_cache.NO_CACHE:
        ds = ds.shuffle(num, seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.enumerate().skip(start_example)
        ds = ds.map(lambda i, ex: (i, load(ex)), num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.cache(cache_filename(cache, rows, stream="train", **settings))
        ds = ds.shuffle(num, seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.enumerate().skip(start_example)

    def finish(index, example):
        image = augment_and_preprocess(
            example["image"], index, seed=seed, augment=augment, preprocess=preprocess
        )
        return image, example["label"]

    ds = ds.map(finish, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(AUTOTUNE).with_options(options())


def augment_and_preprocess(
    image: tf.Tensor,
    index: tf.Tensor,
    *,
    seed: int,
    augment: augment_lib.AugmentConfig,
    preprocess,
) -> tf.Tensor:
    """Augments example `index` of a stream with seed (seed, index), then preprocesses.

    Args:
      image: uint8 (h, w, c).
      index: int64 scalar, the example's position in the stream.

    Returns:
      float32 (h, w, c) at the model's input scale.
    """
    image = tf.cast(image, tf.float32)
    if augment.enabled:
        image = augment_lib.augment(image, tf.stack([tf.cast(seed, tf.int64), index]), augment)
    return preprocess(image)


def eval_dataset(
    rows: pd.DataFrame,
    *,
    image_size: int,
    channels: int,
    preprocessing: str,
    batch_size: int,
    cache: str = "none",
    split_name: str | None = None,
    resize_mode: str = "pad",
) -> tf.data.Dataset:
    """One pass over `rows` in order, unaugmented; the last batch may be partial.

    Args:
      cache: `none`, `memory` or a file prefix (see `train_dataset`); a file cache of
        this stream is keyed apart from the training stream's.
      split_name: the split's name, part of a file cache's key (required with one).

    Returns:
      A dataset of (float32 images (batch, size, size, channels), targets (batch, ...)):
      see `targets`.
    """
    preprocess = get_preprocessing(preprocessing)

    def load(example):
        image = load_image(
            example["path"], size=image_size, channels=channels, resize_mode=resize_mode
        )
        return image, example["label"]

    settings = dict(split_name=split_name, image_size=image_size, channels=channels)
    settings.update(resize_mode=resize_mode, preprocessing=preprocessing)
    ds = tf.data.Dataset.from_tensor_slices(_records(rows))
    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache != file_cache.NO_CACHE:
        ds = ds.cache(cache_filename(cache, rows, stream="eval", **settings))
    ds = ds.map(lambda image, label: (preprocess(tf.cast(image, tf.float32)), label))
    return ds.batch(batch_size).prefetch(AUTOTUNE).with_options(options())


def preview_images(
    rows: pd.DataFrame,
    *,
    count: int,
    image_size: int,
    channels: int,
    seed: int,
    augment: augment_lib.AugmentConfig | None = None,
    resize_mode: str = "pad",
) -> np.ndarray:
    """The first `count` training images as the model sees them before preprocessing.

    Returns:
      float32 (count, size, size, channels) in [0, 1], for TensorBoard.
    """
    stream = train_dataset(
        rows,
        image_size=image_size,
        channels=channels,
        preprocessing="unit",
        batch_size=min(count, len(rows)),
        seed=seed,
        cache="none",
        augment=augment,
        resize_mode=resize_mode,
    )
    images, _ = next(iter(stream))
    return images.numpy()


def options() -> tf.data.Options:
    """Deterministic element order (the resume guarantee depends on it)."""
    opts = tf.data.Options()
    opts.deterministic = True
    return opts
