"""Datasets stored as TFRecord shards: the `RecordDataset` a record loader returns.

`load_imagenet` reads the TF-Slim ImageNet layout (`pipelines.imagenet`), which the
synthetic source task (`pipelines.synthetic_source`) is written in too. Registered in
`pipelines.datasets` as `imagenet`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

from pipelines import imagenet


@dataclasses.dataclass(frozen=True)
class RecordSplit:
    """One split stored as TFRecord shards.

    Attributes:
      files: shard paths, in shard order.
      parse: parse(serialized, source=file) -> {'image': encoded bytes, 'label': ...}.
    """

    files: tuple[str, ...]
    parse: Callable


@dataclasses.dataclass
class RecordDataset:
    """Splits stored as TFRecords (official splits; nothing is re-split or scanned).

    Attributes:
      name: registry name.
      splits: split name -> `RecordSplit`.
      num_classes: label values lie in [0, num_classes) after the reader's offset.
      label_names: class names by label ('' where unknown).
      bad_images: always empty: records are checked as they are read.
    """

    name: str
    splits: dict[str, RecordSplit]
    num_classes: int
    label_names: tuple[str, ...]
    bad_images: list = dataclasses.field(default_factory=list)

    def summary(self) -> dict:
        """Shards per split (records are not counted: that would read the whole split)."""
        return {
            "dataset": self.name,
            "format": "tfrecord",
            "num_classes": self.num_classes,
            "splits": {
                split: {"shards": len(s.files), "first_shard": s.files[0]}
                for split, s in self.splits.items()
            },
            "skipped_images": 0,
            "skipped": [],
        }


def load_imagenet(
    root: str,
    *,
    split_fractions: Mapping[str, float],
    split_seed: int,
    image_scan: str,
    on_bad_image: str,
    label_offset: int = imagenet.SLIM_LABEL_OFFSET,
    num_classes: int | None = None,
) -> RecordDataset:
    """ImageNet-layout TFRecords: the official `train` and `validation` splits.

    `split_fractions`, `split_seed`, `image_scan` and `on_bad_image` concern file datasets
    and are not used. `num_classes` defaults to the classes of `labels.txt` when present,
    else ImageNet's 1000; labels are checked against it as records are read.
    """
    del split_fractions, split_seed, image_scan, on_bad_image
    names = imagenet.read_label_names(root, label_offset=label_offset)
    if num_classes is None:
        num_classes = max(names) + 1 if names else imagenet.IMAGENET_CLASSES
    parse = functools.partial(
        imagenet.parse_example, label_offset=label_offset, num_classes=num_classes
    )
    parts = {
        split: RecordSplit(tuple(imagenet.list_shards(root, split)), parse)
        for split in imagenet.SPLITS
    }
    label_names = tuple(names.get(i, "") for i in range(num_classes))
    return RecordDataset("imagenet", parts, num_classes, label_names)
