"""TFRecord shards -> `tf.data`: the input pipeline for datasets stored as records.

A parse function maps (serialized record, its file) to {'image': encoded bytes, 'label':
...}; `pipelines.readers.imagenet.parse_example` is one. Decoding, augmentation and preprocessing
are the file pipeline's (`pipelines.readers.file_input`).

Training stream and resume: shards are shuffled per pass with a seeded shuffle and
repeated; records are interleaved from `cycle_length` shards at a time (deterministic
order); a seeded buffer shuffle mixes them; then the stream is enumerated. Every step of
that is deterministic, so the stream is a pure function of (files, seed). A run resumed at
step k skips the first k * batch_size records *before* parsing or decoding them: the
resumed run sees exactly the batches the uninterrupted run would have seen, and augments
each with the same (seed, index) seed. The price is re-reading (not decoding) the skipped
records from disk: about a second per ten thousand small records here, a few minutes per
ImageNet epoch on a fast disk.

Several workers (`tf.distribute.MultiWorkerMirroredStrategy`): the stream shards by FILE
itself. Worker i of W keeps the shards at positions i, i + W, ... of the file list, before
anything else happens, so the workers read fixed, disjoint sets of shards that together
cover the split, and each runs the seeded stream above over its own shards. tf.distribute
is told not to shard again (its FILE auto-sharding cannot shard this stream: `enumerate`
adds a second source, and it would fall back to DATA sharding, every worker reading every
shard). Each worker consumes batch_size / W records per step, so a resumed worker skips
start_example / W of its own records. Fewer shards than workers is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines import augment as augment_lib
from pipelines import file_cache
from pipelines.errors import DataError
from pipelines.preprocessing import get_preprocessing
from pipelines.readers.file_input import AUTOTUNE, augment_and_preprocess, decode_image, options

ParseFn = Callable[..., dict[str, tf.Tensor]]


def _tagged(files: Sequence[str] | tf.data.Dataset, cycle_length: int) -> tf.data.Dataset:
    """(file, record) pairs, interleaved from `cycle_length` files in a fixed order."""
    if not isinstance(files, tf.data.Dataset):
        files = tf.data.Dataset.from_tensor_slices(list(files))
    return files.interleave(
        lambda f: tf.data.TFRecordDataset(f).map(lambda r: (f, r)),
        cycle_length=cycle_length,
        block_length=1,
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )


def train_records(
    files: Sequence[str],
    *,
    parse: ParseFn,
    image_size: int,
    channels: int,
    preprocessing: str,
    batch_size: int,
    seed: int,
    start_example: int = 0,
    shuffle_buffer: int = 10_000,
    cycle_length: int = 4,
    augment: augment_lib.AugmentConfig | None = None,
    resize_mode: str = "pad",
    workers: int = 1,
    worker_index: int = 0,
) -> tf.data.Dataset:
    """The endless, shuffled, augmented training stream over TFRecord shards.

    Args:
      files: the split's shard files.
      parse: parse(serialized, source=file) -> {'image': encoded, 'label': ...}.
      image_size, channels, resize_mode: see `file_input.decode_image`.
      preprocessing: name from `pipelines.preprocessing`.
      batch_size: global batch size; partial batches are dropped.
      seed: seeds the shard order, the buffer shuffle and augmentation.
      start_example: records to skip (resume at step k: k * batch_size).
      shuffle_buffer: records in the shuffle buffer.
      cycle_length: shards read at once.
      augment: what to augment (default none).
      workers, worker_index: this stream is for input pipeline `worker_index` of
        `workers` (the workers of a multi-worker run): it reads every `workers`-th shard
        from `worker_index` on, and skips start_example // workers of its records.

    Returns:
      A dataset of (float32 images (batch, size, size, channels), labels (batch, ...)).

    Raises:
      DataError: fewer shards than workers (naming both counts and the fix).
    """
    if not files:
        raise ValueError("train_records: no files")
    if workers > len(files):
        raise DataError(
            f"{len(files)} shards ({files[0]}, ...) cannot be shared by {workers} workers: "
            "each worker reads whole shards; convert again with --num_shards at least the "
            "number of workers (a multiple of it keeps the workers' data even)"
        )
    if not 0 <= worker_index < workers:
        raise ValueError(f"worker_index {worker_index} not in [0, {workers})")
    files = list(files)[worker_index::workers]
    start_example //= workers
    augment = augment or augment_lib.AugmentConfig()
    preprocess = get_preprocessing(preprocessing)
    shards = tf.data.Dataset.from_tensor_slices(list(files))
    shards = shards.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = _tagged(shards, min(cycle_length, len(files)))
    ds = ds.shuffle(shuffle_buffer, seed=seed + 1).enumerate().skip(start_example)

    def load(index, tagged):
        source, record = tagged
        example = parse(record, source=source)
        image = decode_image(
            example["image"], size=image_size, channels=channels, resize_mode=resize_mode
        )
        image = augment_and_preprocess(
            image, index, seed=seed, augment=augment, preprocess=preprocess
        )
        return image, example["label"]

    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    sharded = options()  # Sharded above; tf.distribute must not shard again.
    sharded.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.prefetch(AUTOTUNE).with_options(sharded)


def eval_records(
    files: Sequence[str],
    *,
    parse: ParseFn,
    image_size: int,
    channels: int,
    preprocessing: str,
    batch_size: int,
    cache: str = "none",
    split_name: str | None = None,
    resize_mode: str = "pad",
) -> tf.data.Dataset:
    """One pass over the records, file by file in order, unaugmented.

    Args:
      cache: `none`, `memory` or a file prefix: an on-disk cache of this stream
        (`pipelines.file_cache`), keyed by `split_name`, the decode settings, the parse
        function and the shards (path, size, modification time).
      split_name: the split's name, part of a file cache's key (required with one).

    Returns:
      A dataset of (float32 images (batch, size, size, channels), labels (batch, ...)); the
      last batch may be partial. Labels come in the order of `record_labels(files, ...)`.
    """
    preprocess = get_preprocessing(preprocessing)

    def load(source, record):
        example = parse(record, source=source)
        image = decode_image(
            example["image"], size=image_size, channels=channels, resize_mode=resize_mode
        )
        return image, example["label"]

    ds = _tagged(files, 1).map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache == file_cache.IN_MEMORY:
        ds = ds.cache()
    elif cache != file_cache.NO_CACHE:
        key = file_cache.cache_key(
            stream="eval",
            split=split_name or "",
            image_size=image_size,
            channels=channels,
            resize_mode=resize_mode,
            preprocessing=preprocessing,
            source=f"records: {file_cache.describe_function(parse)}",
            members=file_cache.membership(file_cache.shard_identities(files)),
        )
        ds = ds.cache(file_cache.prepare(cache, key))
    ds = ds.map(lambda image, label: (preprocess(tf.cast(image, tf.float32)), label))
    return ds.batch(batch_size).prefetch(AUTOTUNE).with_options(options())


def record_labels(files: Sequence[str], *, parse: ParseFn) -> np.ndarray:
    """The labels of every record, in `eval_records` order, without decoding images.

    Returns:
      (n, ...) array of the parse function's labels.
    """
    ds = _tagged(files, 1).map(lambda f, r: parse(r, source=f)["label"])
    labels = list(ds.batch(4096).as_numpy_iterator())
    return np.concatenate(labels) if labels else np.zeros([0], np.int64)


def record_rows(files: Sequence[str], *, parse: ParseFn) -> pd.DataFrame | None:
    """Per-record fields in `eval_records` order, for scoring by patient; no decoding.

    Returns:
      None when `parse` gives no `rows` (ImageNet layout). Otherwise one row per record
      with the columns of file datasets' rows: `image`, `patient`, `study` (only if any is
      set), `path`, `source`, `line`, and `label` (grade) or `label` and `mask` (float32
      vectors, multi-label), so `file_input.targets` of it is what the loss saw.
    """
    parsed = _tagged(files, 1).map(lambda f, r: parse(r, source=f))
    if "rows" not in parsed.element_spec:
        return None
    ds = parsed.map(lambda example: (example["rows"], example["label"]))
    batches = list(ds.batch(4096).as_numpy_iterator())
    fields = {k: np.concatenate([b[0][k] for b in batches]) for k in batches[0][0]}
    labels = np.concatenate([b[1] for b in batches])
    table = pd.DataFrame(
        {
            "image": _text(fields["image"]),
            "patient": _text(fields["patient"]),
            "study": _text(fields["study"]),
            "path": _text(fields["path"]),
            "source": _text(fields["label_file"]),
            "line": fields["line"],
        }
    )
    if not (table["study"] != "").any():
        table = table.drop(columns="study")
    if labels.ndim == 3:  # (n, 2, k): labels and mask.
        table["label"] = list(labels[:, 0])
        table["mask"] = list(labels[:, 1])
    else:
        table["label"] = labels
    return table


def _text(values: np.ndarray) -> np.ndarray:
    return np.array([v.decode("utf-8") for v in values], dtype=object)


def preview_records(
    files: Sequence[str],
    *,
    parse: ParseFn,
    count: int,
    image_size: int,
    channels: int,
    seed: int,
    augment: augment_lib.AugmentConfig | None = None,
    resize_mode: str = "pad",
    shuffle_buffer: int = 256,
) -> np.ndarray:
    """`count` training images, augmented as in training, before preprocessing.

    A small shuffle buffer keeps this cheap (a full one would read 10,000 ImageNet records
    first), so these are not exactly the first images of the training stream.

    Returns:
      float32 (count, size, size, channels) in [0, 1], for TensorBoard.
    """
    stream = train_records(
        files,
        parse=parse,
        image_size=image_size,
        channels=channels,
        preprocessing="unit",
        batch_size=count,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        augment=augment,
        resize_mode=resize_mode,
    )
    images, _ = next(iter(stream))
    return images.numpy()
