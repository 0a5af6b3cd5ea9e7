"""Dataset registry: `load_dataset(name, root, ...)` -> the splits of a dataset, checked.

Each entry reads a public dataset in its distributed layout. Image-file datasets
(`eyepacs`) give a `LoadedDataset` of patient-level splits of rows carrying `path`,
`label`, `patient`, and `source`/`line` (the label file and line they came from) so any
later error can name them. Record datasets (`imagenet`: TF-Slim ImageNet TFRecords, also
the synthetic source task) give a `RecordDataset` of `RecordSplit`s: shard files and the
per-example parse function.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

import pandas as pd

from pipelines import eyepacs, image_files, imagenet, splits
from pipelines.tables import DataError


@dataclasses.dataclass
class LoadedDataset:
    """Splits ready for the input pipeline.

    Attributes:
      name: registry name.
      splits: split name -> rows (columns `path`, `label`, `patient`, `source`, `line`, ...).
      bad_images: images skipped under `on_bad_image='skip'`, in label-file order.
      label_names: names of the label values or outputs, for reports.
    """

    name: str
    splits: dict[str, pd.DataFrame]
    bad_images: list[image_files.BadImage]
    label_names: tuple[str, ...]

    def summary(self) -> dict:
        """Counts per split (images, patients, label values) and the skipped images."""
        out = {}
        for split, rows in self.splits.items():
            out[split] = {
                "images": len(rows),
                "patients": int(rows["patient"].nunique()),
                "labels": {
                    str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()
                },
            }
        return {
            "dataset": self.name,
            "splits": out,
            "skipped_images": len(self.bad_images),
            "skipped": [b.describe() for b in self.bad_images],
        }


def _load_eyepacs(
    root: str,
    *,
    split_fractions: Mapping[str, float],
    split_seed: int,
    image_scan: str,
    on_bad_image: str,
    **options,
) -> LoadedDataset:
    table = eyepacs.read_eyepacs(root, **options)
    source = table["source"].iloc[0] if len(table) else root
    parts = splits.split_by_patient(
        table, split_fractions, seed=split_seed, stratify_by="label", source=source
    )
    return _scan_splits("eyepacs", parts, source, image_scan, on_bad_image, _DR_GRADES)


_DR_GRADES = ("none", "mild", "moderate", "severe", "proliferative")


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


def _load_imagenet(
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


_DATASETS: dict[str, Callable[..., LoadedDataset | RecordDataset]] = {
    "eyepacs": _load_eyepacs,
    "imagenet": _load_imagenet,
}


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def load_dataset(
    name: str,
    root: str,
    *,
    split_fractions: Mapping[str, float],
    split_seed: int = 0,
    image_scan: str = "header",
    on_bad_image: str = "stop",
    **options,
) -> LoadedDataset | RecordDataset:
    """Reads a registered dataset, splits it by patient and checks its images.

    Args:
      name: a registered dataset (see `list_datasets()`).
      root: the dataset's root directory, as distributed.
      split_fractions: split name -> fraction of patients (for datasets without official
        splits).
      split_seed: seeds the patient assignment.
      image_scan: `none`, `header` or `decode` (see `pipelines.image_files`).
      on_bad_image: `stop` (default) or `skip`; skipped images are returned and counted.
      **options: reader options (e.g. `labels_file`, `image_dir`, `extension` for
        EyePACS; `label_offset`, `num_classes` for ImageNet-layout records).

    Returns:
      A `LoadedDataset` (image files) or a `RecordDataset` (TFRecords).

    Raises:
      ValueError: for an unknown name (the message lists the valid ones).
      DataError: for bad label files, bad images under `stop`, or an empty split.
    """
    try:
        loader = _DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}") from None
    return loader(
        root,
        split_fractions=split_fractions,
        split_seed=split_seed,
        image_scan=image_scan,
        on_bad_image=on_bad_image,
        **options,
    )


def _scan_splits(
    name: str,
    parts: dict[str, pd.DataFrame],
    source: str,
    image_scan: str,
    on_bad_image: str,
    label_names: tuple[str, ...],
) -> LoadedDataset:
    kept, bad = {}, []
    for split, rows in parts.items():
        kept[split], bad_here = image_files.scan_images(
            rows, label_file=source, mode=image_scan, on_bad=on_bad_image
        )
        bad += bad_here
        if kept[split].empty and not rows.empty:
            raise DataError(
                f"{source}: every image of split {split!r} is missing or corrupt "
                f"({len(bad_here)} skipped, first: {bad_here[0].describe()})"
            )
    bad.sort(key=lambda b: b.line)
    return LoadedDataset(name, kept, bad, label_names)
