"""Image-file datasets: a reader's split tables, checked image by image, as a `Dataset`.

A reader gives `splits.Tables`: rows per split (columns `path`, `label`, `patient`, and `source` /
`line`, the label file and line each came from, so any later error can name them;
multi-label data also `mask`), the rows a label policy excluded, and rows it set aside as
bad. `check_images` applies the image scan and the bad-image policy and returns a
`LoadedDataset` of `FileSplit`s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from pipelines.errors import DataError
from pipelines.readers import image_files, subsets
from pipelines.readers.file_split import FileSplit
from pipelines.readers.splits import Tables
from pipelines.split import Dataset


@dataclasses.dataclass
class LoadedDataset(Dataset):
    """Splits of checked image files (see `Dataset` for the shared attributes).

    Attributes:
      splits: split name -> `FileSplit`.
      excluded: as in `Tables` (splits without any may be absent).
      exclusion_reasons: as in `Tables`.
      subsets: split -> {'requested', 'images', 'of', 'seed'} for splits cut to a subset.
      split_summary: rows -> extra summary entries of a split (the dataset spec's, e.g.
        Messidor-2's `exams_paired_by`), or None.
    """

    name: str
    root: str
    splits: dict[str, FileSplit]
    bad_images: list[image_files.BadImage]
    label_names: tuple[str, ...]
    image_scan: str = "header"
    excluded: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    exclusion_reasons: tuple[str, ...] = ()
    subsets: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    split_summary: Callable[[pd.DataFrame], dict] | None = None

    def summary(self) -> dict:
        """Counts per split (images, patients, label values) and the skipped images.

        Multi-label splits count, per output, positive and negative labels that count and
        masked (ignored) ones; `split_summary` adds the dataset's own entries.
        """
        out = {}
        for split, part in self.splits.items():
            rows = part.table
            out[split] = {
                "images": len(rows),
                "patients": int(rows["patient"].nunique()),
                "labels": self._label_counts(rows),
            }
            if self.exclusion_reasons:
                out[split]["excluded"] = self.excluded_counts(split)
            if self.split_summary is not None:
                out[split].update(self.split_summary(rows))
            if split in self.subsets:
                out[split]["subset"] = dict(self.subsets[split])
        return {
            "dataset": self.name,
            "splits": out,
            "skipped_images": len(self.bad_images),
            "skipped": [b.describe() for b in self.bad_images],
        }

    def excluded_counts(self, split: str) -> dict[str, int]:
        """{reason: rows of `split` excluded for it}, every reason of the dataset listed."""
        rows = self.excluded.get(split)
        counts = rows["reason"].value_counts() if rows is not None else pd.Series(dtype=int)
        return {reason: int(counts.get(reason, 0)) for reason in self.exclusion_reasons}

    def check_outputs(self, num_outputs: int) -> None:
        """Single-label: every label below `num_outputs`; multi-label: that many outputs."""
        for split, part in self.splits.items():
            rows = part.table
            if rows.empty:
                continue
            if "mask" in rows:
                width = len(rows["label"].iloc[0])
                if width != num_outputs:
                    raise ValueError(
                        f"{self.root}: split {split!r} has {width} labels per image but the "
                        f"task has {num_outputs} outputs: choose a task with {width} outputs"
                    )
                continue
            top = int(np.max(np.stack(rows["label"].to_numpy())))
            if top >= num_outputs:
                raise ValueError(
                    f"{self.root}: split {split!r} holds label {top} but the task has "
                    f"{num_outputs} outputs: set --config.task_options.num_classes (at least "
                    f"{top + 1}) or choose another task"
                )

    def _label_counts(self, rows: pd.DataFrame) -> dict:
        if "mask" not in rows:
            return {str(k): int(v) for k, v in rows["label"].value_counts().sort_index().items()}
        if rows.empty:
            return {}
        labels, masks = np.stack(rows["label"].to_numpy()), np.stack(rows["mask"].to_numpy())
        return {
            name: {
                "positive": int(((labels[:, k] == 1) & (masks[:, k] == 1)).sum()),
                "negative": int(((labels[:, k] == 0) & (masks[:, k] == 1)).sum()),
                "masked": int((masks[:, k] == 0).sum()),
            }
            for k, name in enumerate(self.label_names)
        }


def check_images(
    name: str,
    root: str,
    tables: Tables,
    *,
    image_scan: str,
    on_bad_image: str,
    label_names: tuple[str, ...],
    split_summary: Callable[[pd.DataFrame], dict] | None = None,
) -> LoadedDataset:
    """Scans every split's images and applies the bad-image policy to them and bad rows.

    Raises:
      DataError: under `stop`, for the first bad row or image (naming it, its label file
        and line); under `skip`, for a split that loses every image.
      ValueError: an unknown scan mode or policy.
    """
    if tables.bad_rows and on_bad_image == "stop":
        first, more = tables.bad_rows[0], len(tables.bad_rows) - 1
        raise DataError(
            f"bad row {first.describe()}{f' (and {more} more)' if more else ''}; set "
            "data.on_bad_image='skip' to skip and count bad rows and images instead"
        )
    kept, bad = {}, list(tables.bad_rows)
    for split, rows in tables.splits.items():
        # Splits may come from different label files (CheXpert: train.csv and valid.csv).
        label_file = rows["source"].iloc[0] if len(rows) else root
        found, bad_here = image_files.scan_images(
            rows, label_file=label_file, mode=image_scan, on_bad=on_bad_image
        )
        bad += bad_here
        if found.empty and not rows.empty:
            raise DataError(
                f"{label_file}: every image of split {split!r} is missing or corrupt "
                f"({len(bad_here)} skipped, first: {bad_here[0].describe()})"
            )
        kept[split] = FileSplit(found, split)
    bad.sort(key=lambda b: (b.label_file, b.line))
    return LoadedDataset(
        name,
        root,
        kept,
        bad,
        tables.label_names or label_names,
        image_scan=image_scan,
        excluded=tables.excluded,
        exclusion_reasons=tables.exclusion_reasons,
        split_summary=split_summary,
    )


def refuse_tiff(data: LoadedDataset) -> None:
    """Raises a DataError naming the first TIFF image: TensorFlow cannot decode TIFF."""
    counts = [int(_is_tiff(part.table).sum()) for part in data.splits.values()]
    for part in data.splits.values():
        tiff = part.table[_is_tiff(part.table)]
        if len(tiff):
            first = tiff.iloc[0]
            raise DataError(
                f"{first['path']} ({first['source']} line {first['line']}): TIFF images "
                f"cannot be decoded by TensorFlow ({sum(counts)} in this dataset); convert "
                "the dataset to TFRecords once, which decodes them with Pillow: python -m "
                f"pipelines.convert --dataset={data.name} --root={data.root} --out=<dir>"
            )


def _is_tiff(rows: pd.DataFrame) -> pd.Series:
    return rows["path"].str.lower().str.endswith(image_files.TIFF_EXTENSIONS)


def take_subsets(data: LoadedDataset, sizes: Mapping[str, int], *, seed: int) -> None:
    """Cuts splits to seeded, stratified subsets in place (`subsets.stratified_subset`).

    Args:
      sizes: split -> images to keep; 0 keeps the whole split. Integer labels are
        stratified by grade, multi-label ones not.

    Raises:
      ValueError: a subset of an unknown split, or larger than its split.
    """
    for split, n in sizes.items():
        if not n:
            continue
        if split not in data.splits:
            raise ValueError(f"subset of unknown split {split!r}; splits: {sorted(data.splits)}")
        rows = data.splits[split].table
        by = "label" if len(rows) and np.ndim(rows["label"].iloc[0]) == 0 else None
        kept = subsets.stratified_subset(rows, n, seed=seed, stratify_by=by)
        data.splits[split] = FileSplit(kept, split)
        data.subsets[split] = {"requested": n, "images": len(kept), "of": len(rows), "seed": seed}
