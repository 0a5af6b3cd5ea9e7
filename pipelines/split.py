"""Where image files and TFRecord shards meet: the `Split` and `Dataset` interfaces.

A split stored as image files (`pipelines.readers.file_split.FileSplit`) and one stored as
shards (`pipelines.records.record_split.RecordSplit`) give the trainer and the evaluator
the same five things, so neither asks which one it holds:

  train_stream   the endless, shuffled, augmented batches; resumable at any example
  eval_stream    one ordered, unaugmented pass (the last batch may be partial)
  preview        a few training images as the model sees them before preprocessing
  rows           one row per example, in eval_stream order: what predictions CSVs and
                 scoring read (`image`, `patient`, `study` where the data has them)
  targets        what the loss sees per example, in eval_stream order (`targets`)

The streams are written here once, over the shared tail (`pipelines.decoding`); a storage
kind only says where its examples come from (`_training_examples`, `_eval_examples`) and
what its file caches hold (`_cache_contents`). A `Dataset` holds named splits of one kind with
what was skipped while reading them.
"""

from __future__ import annotations

import abc
import dataclasses

import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines import augment as augment_lib
from pipelines import decoding, file_cache
from pipelines.decoding import ImageSettings

# Shards read for a preview: a full buffer would read 10,000 ImageNet records first.
PREVIEW_SHUFFLE_BUFFER = 256


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How a training stream is ordered, augmented and batched.

    Attributes:
      batch_size: global batch size; partial batches are dropped.
      seed: seeds the order and the augmentation.
      start_example: examples to skip (resume at step k: k * batch_size).
      augment: what to augment (default none).
      cache: image files: `memory` keeps decoded images in RAM, `none` decodes every time,
        another string is a file prefix (`pipelines.file_cache`). Shards are read again
        every pass (their order is shuffled by shard), so they take no cache.
      shuffle_buffer: shards: records in the shuffle buffer (image files shuffle all
        their rows every pass).
      workers, worker_index: shards: this stream is input pipeline `worker_index` of
        `workers` and reads every `workers`-th shard. Image files leave the sharding to
        `tf.distribute`.
    """

    batch_size: int
    seed: int
    start_example: int = 0
    augment: augment_lib.AugmentConfig | None = None
    cache: str = "memory"
    shuffle_buffer: int = 10_000
    workers: int = 1
    worker_index: int = 0


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


class Split(abc.ABC):
    """One split of a dataset. `name` keys its file caches (`pipelines.file_cache`)."""

    name: str

    def train_stream(self, images: ImageSettings, train: TrainSettings) -> tf.data.Dataset:
        """The endless, shuffled, augmented training stream; a pure function of its arguments.

        Example i of the stream is augmented with the seed (train.seed, i), and a stream
        started at `start_example` = k * batch_size yields exactly the batches the stream
        started at 0 yields from batch k on.

        Returns:
          (float32 images (batch, size, size, channels), targets (batch, ...)).
        """
        return decoding.training_batches(
            self._training_examples(images, train),
            preprocessing=images.preprocessing,
            batch_size=train.batch_size,
            seed=train.seed,
            augment=train.augment,
            stream_options=self._stream_options(),
        )

    def eval_stream(
        self,
        images: ImageSettings,
        *,
        batch_size: int,
        cache: str = "none",
        cache_name: str | None = None,
    ) -> tf.data.Dataset:
        """One pass in `rows()` order, unaugmented; the last batch may be partial.

        Args:
          cache: `none`, `memory` or a file prefix: this stream's own cache files.
          cache_name: the split name a file cache is keyed by (default `self.name`).

        Returns:
          (float32 images (batch, size, size, channels), targets (batch, ...)).
        """
        cache_file = file_cache.stream_cache_file(
            cache, lambda: self._cache_key("eval", images, cache_name or self.name)
        )
        return decoding.eval_batches(
            self._eval_examples(images),
            preprocessing=images.preprocessing,
            batch_size=batch_size,
            cache_file=cache_file,
        )

    def preview(
        self,
        images: ImageSettings,
        *,
        count: int,
        seed: int,
        augment: augment_lib.AugmentConfig | None = None,
    ) -> np.ndarray:
        """The first `count` training images, augmented, before preprocessing.

        Shards are previewed through a small shuffle buffer (`PREVIEW_SHUFFLE_BUFFER`), so
        these are not exactly the first images of their training stream.

        Returns:
          float32 (n, size, size, channels) in [0, 1]; n = count, or the split's size
          when that is smaller (image files).
        """
        train = TrainSettings(
            batch_size=self._preview_count(count),
            seed=seed,
            augment=augment,
            cache=file_cache.NO_CACHE,
            shuffle_buffer=PREVIEW_SHUFFLE_BUFFER,
        )
        stream = self.train_stream(dataclasses.replace(images, preprocessing="unit"), train)
        batch, _ = next(iter(stream))
        return batch.numpy()

    @abc.abstractmethod
    def rows(self) -> pd.DataFrame:
        """One row per example, in `eval_stream` order.

        Returns:
          Image-file rows and converted shards: `image`, `patient` (and `study`, `path`,
          `source`, `line` where known) and `label` (with `mask` for multi-label data), so
          `targets(rows())` is what the loss sees. Other shards (ImageNet layout):
          `index` and `label`.
        """

    def targets(self) -> np.ndarray:
        """`targets(self.rows())`: what the loss sees, in `eval_stream` order."""
        return targets(self.rows())

    @abc.abstractmethod
    def _training_examples(self, images: ImageSettings, train: TrainSettings) -> tf.data.Dataset:
        """(int64 index, uint8 image, target): the endless, shuffled stream from
        `train.start_example` on, decoded, not yet augmented."""

    @abc.abstractmethod
    def _eval_examples(self, images: ImageSettings) -> tf.data.Dataset:
        """(uint8 image, target): one pass in `rows()` order."""

    @abc.abstractmethod
    def _cache_contents(self) -> tuple[str, dict]:
        """(what produces the elements, `file_cache.membership` of them), for cache keys."""

    def _cache_key(self, stream: str, images: ImageSettings, name: str) -> dict:
        """The `file_cache.cache_key` of one stream of this split, cached under `name`."""
        source, members = self._cache_contents()
        return file_cache.cache_key(
            stream=stream,
            split=name,
            image_size=images.image_size,
            channels=images.channels,
            resize_mode=images.resize_mode,
            preprocessing=images.preprocessing,
            source=source,
            members=members,
        )

    def _preview_count(self, count: int) -> int:
        """The batch `preview` takes for `count` images asked for."""
        return count

    def _stream_options(self) -> tf.data.Options:
        return decoding.options()


class Dataset(abc.ABC):
    """Named splits of one kind, and what reading them skipped.

    Attributes:
      name: the registry name (`pipelines.datasets`).
      root: the directory it was read from.
      splits: split name -> `Split`.
      label_names: class or output names, for reports ('' where unknown).
      bad_images: unusable images (and rows) skipped under `on_bad_image='skip'`, or when
        the shards were written; each names its label file and line.
      image_scan: the check every image passed when the dataset was read: `none`,
        `header` or `decode` (shards: `none`, records are checked as they are read).
    """

    name: str
    root: str
    splits: dict[str, Split]
    label_names: tuple[str, ...]
    bad_images: list
    image_scan: str

    @abc.abstractmethod
    def summary(self) -> dict:
        """JSON-ready counts per split (images, patients, labels) and the skipped images."""

    @abc.abstractmethod
    def check_outputs(self, num_outputs: int) -> None:
        """Refuses labels a head of `num_outputs` outputs cannot be trained on.

        Raises:
          ValueError: naming the root, what the labels need and the config fields to set.
        """
