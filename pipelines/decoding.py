"""The tail every split's streams share: decode -> [cache] -> augment -> preprocess -> batch.

Image-file splits and shard splits differ only in where the encoded bytes come from
(`tf.io.read_file` of a path, or a parsed record); from the encoded image on, both run
these functions, so a model sees the same pixels from either.

Training elements are (index, uint8 image, target), the index being the example's place in
the endless stream: augmentation is seeded by (seed, index), which is what makes a resumed
stream equal the uninterrupted one.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from errors import UsageError
from pipelines import augment as augment_lib
from pipelines.preprocessing import get_preprocessing

RESIZE_MODES = ("pad", "squash", "center_crop")
AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    """How every image of a stream is decoded and scaled for the model.

    Attributes:
      image_size: output side in pixels.
      channels: 1 (RGB files are converted to grayscale) or 3 (grayscale replicated).
      preprocessing: a `pipelines.preprocessing` name (the weights', never the dataset's).
      resize_mode: `pad`, `squash` or `center_crop` (see `decode_image`).
    """

    image_size: int
    channels: int
    preprocessing: str
    resize_mode: str = "pad"


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
    return resize_image(image, size=size, resize_mode=resize_mode)


def resize_image(image: tf.Tensor, *, size: int, resize_mode: str = "pad") -> tf.Tensor:
    """Resizes decoded images to the model's square input, as `decode_image` does.

    An exported model applies this same function to the raw images it is given, so it
    sees the pixels the run's own pipeline would have made of them.

    Args:
      image: uint8 (h, w, c), or a batch (b, h, w, c) of one size.
      size: output side in pixels.
      resize_mode: `pad`, `squash` or `center_crop` (see `decode_image`).

    Returns:
      uint8 (size, size, c), or (b, size, size, c) for a batch.
    """
    image = tf.cast(image, tf.float32)
    if resize_mode == "pad":
        image = tf.image.resize_with_pad(image, size, size, antialias=True)
    elif resize_mode == "squash":
        image = tf.image.resize(image, (size, size), antialias=True)
    elif resize_mode == "center_crop":
        shape = tf.shape(image)
        side = tf.minimum(shape[-3], shape[-2])
        image = tf.image.resize_with_crop_or_pad(image, side, side)
        image = tf.image.resize(image, (size, size), antialias=True)
    else:
        raise UsageError(f"unknown resize_mode {resize_mode!r}; valid: {RESIZE_MODES}")
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def decode_with(images: ImageSettings, encoded: tf.Tensor) -> tf.Tensor:
    """`decode_image` of `encoded` with a stream's settings: uint8 (size, size, channels)."""
    return decode_image(
        encoded, size=images.image_size, channels=images.channels, resize_mode=images.resize_mode
    )


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


def training_batches(
    examples: tf.data.Dataset,
    *,
    preprocessing: str,
    batch_size: int,
    seed: int,
    augment: augment_lib.AugmentConfig | None,
    stream_options: tf.data.Options | None = None,
) -> tf.data.Dataset:
    """(index, uint8 image, target) elements -> augmented, preprocessed full batches.

    Returns:
      (float32 images (batch, size, size, channels), targets (batch, ...)), prefetched.
    """
    augment = augment or augment_lib.AugmentConfig()
    preprocess = get_preprocessing(preprocessing)

    def finish(index, image, target):
        image = augment_and_preprocess(
            image, index, seed=seed, augment=augment, preprocess=preprocess
        )
        return image, target

    ds = examples.map(finish, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(AUTOTUNE).with_options(stream_options or options())


def eval_batches(
    examples: tf.data.Dataset, *, preprocessing: str, batch_size: int, cache_file: str | None
) -> tf.data.Dataset:
    """(uint8 image, target) elements -> [cached] -> preprocessed batches, in order.

    Args:
      cache_file: None caches nothing; '' caches in memory; else the filename from
        `file_cache.prepare` (a stream's own files).

    Returns:
      (float32 images (batch, size, size, channels), targets (batch, ...)), prefetched;
      the last batch may be partial.
    """
    if cache_file is not None:
        examples = examples.cache(cache_file)
    preprocess = get_preprocessing(preprocessing)
    ds = examples.map(lambda image, target: (preprocess(tf.cast(image, tf.float32)), target))
    return ds.batch(batch_size).prefetch(AUTOTUNE).with_options(options())


def options() -> tf.data.Options:
    """Deterministic element order (the resume guarantee depends on it), without autotuning.

    `AUTOTUNE` then means as many parallel calls as cores and a fixed prefetch. With
    autotuning on, TF 2.15 destroys an iterator only after its tuning thread wakes from a
    sleep that grows with the iterator's age: a run's training stream took 15-50 s to go away
    after its last step on 2 cores (gdb: `~LogicalThreadWrapper` waiting on
    `Model::OptimizeLoop`), with both cores idle.
    """
    opts = tf.data.Options()
    opts.deterministic = True
    opts.autotune.enabled = False
    return opts
