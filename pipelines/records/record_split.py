"""A split stored as TFRecord shards -> `tf.data` (the record `Split`).

A parse function maps (serialized record, its file) to {'image': encoded bytes, 'label':
...}; `pipelines.readers.imagenet.parse_example` and `records.image_examples.parse_example`
are two. Decoding, augmentation and preprocessing are the tail every split shares
(`pipelines.decoding`), so a model sees the same pixels from shards as from the files.

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

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines import decoding, file_cache
from pipelines.decoding import ImageSettings
from pipelines.errors import DataError
from pipelines.split import Split, TrainSettings

ParseFn = Callable[..., dict[str, tf.Tensor]]
AUTOTUNE = tf.data.AUTOTUNE
_LABEL_BATCH = 4096  # Records parsed per step when reading labels and rows (no decoding).


@dataclasses.dataclass(frozen=True)
class RecordSplit(Split):
    """One split stored as TFRecord shards.

    Attributes:
      files: shard paths, in shard order.
      parse: parse(serialized, source=file) -> {'image': encoded bytes, 'label': ...,
        and optionally 'rows': per-record fields (`rows`)}.
      name: the split's name, the key of its file caches.
      cycle_length: shards the training stream reads at once.
    """

    files: tuple[str, ...]
    parse: ParseFn
    name: str = ""
    cycle_length: int = 4

    def _training_examples(self, images: ImageSettings, train: TrainSettings) -> tf.data.Dataset:
        """See the module docstring.

        Raises:
          ValueError: no shards, or a worker index outside [0, workers).
          DataError: fewer shards than workers (naming both counts and the fix).
        """
        files = self._worker_files(train.workers, train.worker_index)
        shards = tf.data.Dataset.from_tensor_slices(files)
        shards = shards.shuffle(len(files), seed=train.seed, reshuffle_each_iteration=True)
        ds = _tagged(shards.repeat(), min(self.cycle_length, len(files)))
        ds = ds.shuffle(train.shuffle_buffer, seed=train.seed + 1).enumerate()
        ds = ds.skip(train.start_example // train.workers)

        def load(index, tagged):
            source, record = tagged
            example = self.parse(record, source=source)
            return index, decoding.decode_with(images, example["image"]), example["label"]

        return ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)

    def _stream_options(self) -> tf.data.Options:
        sharded = decoding.options()  # Sharded by file already; tf.distribute must not again.
        sharded.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return sharded

    def _eval_examples(self, images: ImageSettings) -> tf.data.Dataset:
        def load(source, record):
            example = self.parse(record, source=source)
            return decoding.decode_with(images, example["image"]), example["label"]

        return _tagged(self.files, 1).map(load, num_parallel_calls=AUTOTUNE, deterministic=True)

    def targets(self) -> np.ndarray:
        """The labels of every record as the loss sees them, in order, without decoding.

        Returns:
          (n, ...) array of the parse function's labels.
        """
        ds = _tagged(self.files, 1).map(lambda f, r: self.parse(r, source=f)["label"])
        labels = list(ds.batch(_LABEL_BATCH).as_numpy_iterator())
        return np.concatenate(labels) if labels else np.zeros([0], np.int64)

    def rows(self) -> pd.DataFrame:
        """Per-record fields in `eval_stream` order, for scoring by patient; no decoding.

        Returns:
          Converted image-file datasets (parse gives `rows`): the columns of file rows,
          `image`, `patient`, `study` (only if any is set), `path`, `source`, `line`, and
          `label` (grade) or `label` and `mask` (float32 vectors, multi-label). Other
          layouts: `index` and `label`.
        """
        parsed = _tagged(self.files, 1).map(lambda f, r: self.parse(r, source=f))
        if "rows" not in parsed.element_spec:
            labels = self.targets()
            return pd.DataFrame({"index": np.arange(len(labels)), "label": labels})
        ds = parsed.map(lambda example: (example["rows"], example["label"]))
        batches = list(ds.batch(_LABEL_BATCH).as_numpy_iterator())
        fields = {k: np.concatenate([b[0][k] for b in batches]) for k in batches[0][0]}
        return _rows_table(fields, np.concatenate([b[1] for b in batches]))

    def _worker_files(self, workers: int, worker_index: int) -> list[str]:
        """The shards input pipeline `worker_index` of `workers` reads."""
        if not self.files:
            raise ValueError(f"split {self.name!r}: no shard files")
        if workers > len(self.files):
            raise DataError(
                f"{len(self.files)} shards ({self.files[0]}, ...) cannot be shared by {workers} "
                "workers: each worker reads whole shards; convert again with --num_shards at "
                "least the number of workers (a multiple of it keeps the workers' data even)"
            )
        if not 0 <= worker_index < workers:
            raise ValueError(f"worker_index {worker_index} not in [0, {workers})")
        return list(self.files)[worker_index::workers]

    def _cache_contents(self) -> tuple[str, dict]:
        """Keyed by the parse function and the shards (path, size, modification time)."""
        source = f"records: {file_cache.describe_function(self.parse)}"
        return source, file_cache.membership(file_cache.shard_identities(self.files))


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


def _rows_table(fields: dict[str, np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """The rows of converted records: their fields, then `label` (and `mask`)."""
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
