"""A split stored as image files: checked rows -> `tf.data` (the file `Split`).

The training stream is a pure function of (rows, seed, start_example): decode + resize
(deterministic, cached) -> seeded shuffle per pass -> repeat -> enumerate -> skip
`start_example` -> the shared tail (`Split.train_stream`: augment with a seed derived from
(seed, example index), preprocess, batch). Skipping happens before augmentation, so
resuming costs only the cache fill, and a run resumed at step k sees exactly the batches
the uninterrupted run would have seen from step k on.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines import decoding, file_cache
from pipelines.decoding import ImageSettings
from pipelines.split import Split, TrainSettings, targets

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True, eq=False)
class FileSplit(Split):
    """Checked rows of image files (`pipelines.readers.file_dataset`).

    Attributes:
      table: rows with columns `path` (canonical, absolute), `label` (and `mask` for
        multi-label data), `patient`, and what the reader adds (`image`, `study`, `source`,
        `line`, ...).
      name: the split's name, the key of its file caches ('' for an ad hoc split, which
        cannot use a file cache).
    """

    table: pd.DataFrame
    name: str = ""

    def rows(self) -> pd.DataFrame:
        return self.table

    def _preview_count(self, count: int) -> int:
        return min(count, len(self.table))  # The first images of one pass.

    def _training_examples(self, images: ImageSettings, train: TrainSettings) -> tf.data.Dataset:
        if self.table.empty:
            raise ValueError(f"split {self.name!r}: no rows to train on")
        count, seed = len(self.table), train.seed

        def load(example):
            example = dict(example)
            example["image"] = _load(images, example.pop("path"))
            return example

        ds = tf.data.Dataset.from_tensor_slices(self._records())
        if train.cache == file_cache.NO_CACHE:
            ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
            ds = ds.enumerate().skip(train.start_example)
            ds = ds.map(
                lambda i, ex: (i, load(ex)), num_parallel_calls=AUTOTUNE, deterministic=True
            )
        else:
            ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
            cache_file = file_cache.stream_cache_file(
                train.cache, lambda: self._cache_key("train", images, self.name)
            )
            ds = ds.cache(cache_file)
            ds = ds.shuffle(count, seed=seed, reshuffle_each_iteration=True).repeat()
            ds = ds.enumerate().skip(train.start_example)
        return ds.map(lambda i, ex: (i, ex["image"], ex["label"]))

    def _eval_examples(self, images: ImageSettings) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(self._records()).map(
            lambda ex: (_load(images, ex["path"]), ex["label"]),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )

    def _records(self) -> dict[str, np.ndarray]:
        # `row` travels with the cached images: the cache files' element layout.
        return {
            "path": self.table["path"].to_numpy(dtype=str),
            "label": targets(self.table),
            "row": np.arange(len(self.table), dtype=np.int64),
        }

    def _cache_contents(self) -> tuple[str, dict]:
        """Decoded files: keyed by the rows' canonical paths and their targets."""
        return "files", file_cache.membership(list(self.table["path"]), targets(self.table))


def _load(images: ImageSettings, path: tf.Tensor) -> tf.Tensor:
    return decoding.decode_with(images, tf.io.read_file(path))
