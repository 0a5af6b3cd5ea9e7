"""Dataset registry: `load_dataset(name, root, ...)` -> patient-level splits of checked rows.

Each entry reads a public dataset in its distributed layout. Rows carry `path`, `label`,
`patient`, and `source`/`line` (the label file and line they came from) so any later error
can name them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import pandas as pd

from pipelines import eyepacs, image_files, splits
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

_DATASETS: dict[str, Callable[..., LoadedDataset]] = {
    "eyepacs": _load_eyepacs,
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
) -> LoadedDataset:
    """Reads a registered dataset, splits it by patient and checks its images.

    Args:
      name: a registered dataset (see `list_datasets()`).
      root: the dataset's root directory, as distributed.
      split_fractions: split name -> fraction of patients (for datasets without official
        splits).
      split_seed: seeds the patient assignment.
      image_scan: `none`, `header` or `decode` (see `pipelines.image_files`).
      on_bad_image: `stop` (default) or `skip`; skipped images are returned and counted.
      **options: reader options (e.g. `labels_file`, `image_dir`, `extension`).

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
