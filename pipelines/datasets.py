"""Dataset registry: `load_dataset(name, root, ...)` -> the checked splits of a dataset.

Each entry reads a public dataset in its distributed layout. Image-file datasets give a
`LoadedDataset` of rows carrying `path`, `label`, `patient`, and `source`/`line` (the label
file and line they came from) so any later error can name them. Multi-label datasets
(CheXpert) also carry `mask`: per-output 0/1 weights, 0 where a label is to be ignored.
Record datasets give a `record_datasets.RecordDataset`: shard files and a per-example
parse function per split.

Registered:
  aptos      splits `split_fractions` of train.csv by image (APTOS has no patient ids;
             stratified by grade)
  chexpert   splits `split_fractions` of train.csv by patient (e.g. `train`,
             `valid_internal`) and adds the official valid.csv as the split `valid`
  eyepacs    splits `split_fractions` of trainLabels.csv by patient (stratified by grade)
  imagenet   TF-Slim ImageNet TFRecords (also the synthetic source task): the official
             `train` and `validation` splits
  messidor2  splits `split_fractions` of the adjudicated-grades CSV by exam (stratified
             by grade), then drops ungradable images, counted per split in `excluded`
  tfrecords  any of the image-file datasets converted to TFRecord shards by
             `pipelines.convert`: the splits fixed at conversion, from its manifest

`load_dataset(..., subset_sizes={'train': 5000})` then keeps a seeded, patient-aware,
stratified subset of a split (`pipelines.readers.subsets`): the paper's small-data regime.
TIFF images are refused (TensorFlow cannot decode them) unless `allow_tiff`, which only
the TFRecord converter sets: it decodes them with Pillow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from pipelines.errors import DataError
from pipelines.readers import aptos, chexpert, eyepacs, image_files, messidor2, splits, subsets
from pipelines.records import record_datasets


@dataclasses.dataclass
class LoadedDataset:
    """Splits ready for the input pipeline.

    Attributes:
      name: registry name.
      splits: split name -> rows (columns `path`, `label`, `patient`, `source`, `line`, ...;
        multi-label datasets hold float32 arrays in `label` and `mask`).
      bad_images: images skipped under `on_bad_image='skip'`, in label-file order.
      label_names: names of the label values or outputs, for reports.
      excluded: split -> rows dropped by a label policy, not as errors, with a `reason`
        column (Messidor-2: 'ungradable'); splits without any may be absent.
      exclusion_reasons: the reasons this dataset can exclude rows for (counted in the
        summary even when zero).
      subsets: split -> {'requested', 'images', 'of', 'seed'} for splits cut to a subset.
    """

    name: str
    splits: dict[str, pd.DataFrame]
    bad_images: list[image_files.BadImage]
    label_names: tuple[str, ...]
    excluded: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    exclusion_reasons: tuple[str, ...] = ()
    subsets: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

    def summary(self) -> dict:
        """Counts per split (images, patients, label values) and the skipped images.

        Multi-label splits count, per output, positive and negative labels that count and
        masked (ignored) ones. Messidor-2 splits also count their images by the rule that
        paired them into exams (`exams_paired_by`: `pairs_file`, `file_names`).
        """
        out = {}
        for split, rows in self.splits.items():
            out[split] = {
                "images": len(rows),
                "patients": int(rows["patient"].nunique()),
                "labels": self._label_counts(rows),
            }
            if self.exclusion_reasons:
                out[split]["excluded"] = self.excluded_counts(split)
            if "exam_source" in rows:  # Messidor-2: which rule paired each image's exam.
                out[split]["exams_paired_by"] = messidor2.exam_pairing(rows)
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


_DR_GRADES = ("none", "mild", "moderate", "severe", "proliferative")

CHEXPERT_EVAL_SPLIT = "valid"


def _split_graded(
    table: pd.DataFrame, root: str, split_fractions: Mapping[str, float], split_seed: int
) -> tuple[dict[str, pd.DataFrame], str]:
    """A grade-labelled table split by patient, stratified by grade; and its label file."""
    source = table["source"].iloc[0] if len(table) else root
    parts = splits.split_by_patient(
        table, split_fractions, seed=split_seed, stratify_by="label", source=source
    )
    return parts, source


def _graded_loader(
    name: str,
    read: Callable[..., pd.DataFrame],
    excluded_when: tuple[str, Callable[[pd.DataFrame], pd.Series]] | None = None,
) -> Callable[..., LoadedDataset]:
    """A loader for a table of DR grades: `read(root, **options)`, split, scanned.

    `excluded_when` = (reason, rows -> bool mask): rows dropped after splitting, so each
    is counted in its own split (`LoadedDataset.excluded`).
    """

    def load(
        root: str,
        *,
        split_fractions: Mapping[str, float],
        split_seed: int,
        image_scan: str,
        on_bad_image: str,
        **options,
    ) -> LoadedDataset:
        parts, source = _split_graded(read(root, **options), root, split_fractions, split_seed)
        excluded = {}
        if excluded_when is not None:
            reason, drop = excluded_when
            for split, rows in parts.items():
                dropped = drop(rows)
                excluded[split] = rows[dropped].assign(reason=reason)
                parts[split] = rows[~dropped]
        data = _scan_splits(name, parts, source, image_scan, on_bad_image, _DR_GRADES)
        if excluded_when is not None:
            data.excluded, data.exclusion_reasons = excluded, (excluded_when[0],)
        return data

    return load


def _load_chexpert(
    root: str,
    *,
    split_fractions: Mapping[str, float],
    split_seed: int,
    image_scan: str,
    on_bad_image: str,
    views: str = "frontal",
    ap_pa: str = "",
    uncertainty: Mapping[str, str] | str | None = None,
    blank: str = "zero",
) -> LoadedDataset:
    """train.csv split by patient into `split_fractions`; valid.csv as the split `valid`."""
    if CHEXPERT_EVAL_SPLIT in split_fractions:
        raise ValueError(
            f"split name {CHEXPERT_EVAL_SPLIT!r} is the official valid.csv; name the splits of "
            f"train.csv otherwise, e.g. {{'train': 0.9, 'valid_internal': 0.1}}"
        )
    policy = {"views": views, "ap_pa": ap_pa, "uncertainty": uncertainty, "blank": blank}
    train = chexpert.read_chexpert(root, "train.csv", **policy)
    valid = chexpert.read_chexpert(root, "valid.csv", **policy)
    source = train["source"].iloc[0]
    shared = set(train["patient"]) & set(valid["patient"])
    if shared:
        first = valid[valid["patient"].isin(shared)].iloc[0]
        raise DataError(
            f"{first['source']} line {first['line']}: patient {first['patient']} is also in "
            f"{source} ({len(shared)} shared patients); valid.csv must hold other patients"
        )
    parts = splits.split_by_patient(train, split_fractions, seed=split_seed, source=source)
    parts[CHEXPERT_EVAL_SPLIT] = valid
    return _scan_splits("chexpert", parts, source, image_scan, on_bad_image, chexpert.TASKS)


_DATASETS: dict[str, Callable[..., LoadedDataset | record_datasets.RecordDataset]] = {
    # APTOS has no patient ids: each image is its own patient.
    "aptos": _graded_loader("aptos", aptos.read_aptos),
    "chexpert": _load_chexpert,
    "eyepacs": _graded_loader("eyepacs", eyepacs.read_eyepacs),
    "imagenet": record_datasets.load_imagenet,
    # Exams from the ADCIS pairs file messidor-2.csv when the root holds one (option
    # `pairs_file`), else from the file names; split by exam, stratified by its worst
    # grade; ungradable images dropped after splitting, so each counts in its exam's split.
    "messidor2": _graded_loader(
        "messidor2", messidor2.read_messidor2, ("ungradable", lambda rows: ~rows["gradable"])
    ),
    "tfrecords": record_datasets.load_tfrecords,
}

TIFF_EXTENSIONS = (".tif", ".tiff")


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
    subset_sizes: Mapping[str, int] | None = None,
    subset_seed: int = 0,
    allow_tiff: bool = False,
    **options,
) -> LoadedDataset | record_datasets.RecordDataset:
    """Reads a registered dataset, splits it by patient and checks its images.

    Args:
      name: a registered dataset (see `list_datasets()`).
      root: the dataset's root directory, as distributed.
      split_fractions: split name -> fraction of patients (for datasets without official
        splits).
      split_seed: seeds the patient assignment.
      image_scan: `none`, `header` or `decode` (see `pipelines.readers.image_files`).
      on_bad_image: `stop` (default) or `skip`; skipped images are returned and counted.
      subset_sizes: split -> images to keep (`subsets.stratified_subset`, stratified by
        grade for integer labels); 0 keeps the whole split. Applied after the image scan.
      subset_seed: seeds the subsets.
      allow_tiff: keep TIFF images (for the TFRecord converter, which decodes them with
        Pillow); otherwise they are refused.
      **options: reader options (e.g. `labels_file`, `image_dir`, `extension` for
        EyePACS; `label_offset`, `num_classes` for ImageNet-layout records).

    Returns:
      A `LoadedDataset` (image files) or a `record_datasets.RecordDataset` (TFRecords).

    Raises:
      ValueError: for an unknown name (the message lists the valid ones), or a subset
        larger than its split.
      DataError: for bad label files, bad images under `stop`, an empty split, or a TIFF
        image without `allow_tiff`.
    """
    try:
        loader = _DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}") from None
    data = loader(
        root,
        split_fractions=split_fractions,
        split_seed=split_seed,
        image_scan=image_scan,
        on_bad_image=on_bad_image,
        **options,
    )
    if isinstance(data, record_datasets.RecordDataset):
        if any(dict(subset_sizes or {}).values()):
            raise ValueError(f"{name}: training subsets need an image-file dataset, not records")
        return data
    if not allow_tiff:
        _refuse_tiff(name, root, data)
    for split, n in dict(subset_sizes or {}).items():
        if not n:
            continue
        if split not in data.splits:
            raise ValueError(f"subset of unknown split {split!r}; splits: {sorted(data.splits)}")
        rows = data.splits[split]
        by = "label" if len(rows) and np.ndim(rows["label"].iloc[0]) == 0 else None
        data.splits[split] = subsets.stratified_subset(rows, n, seed=subset_seed, stratify_by=by)
        kept = len(data.splits[split])
        data.subsets[split] = {"requested": n, "images": kept, "of": len(rows), "seed": subset_seed}
    return data


def _refuse_tiff(name: str, root: str, data: LoadedDataset) -> None:
    for rows in data.splits.values():
        tiff = rows[rows["path"].str.lower().str.endswith(TIFF_EXTENSIONS)]
        if len(tiff):
            first = tiff.iloc[0]
            raise DataError(
                f"{first['path']} ({first['source']} line {first['line']}): TIFF images "
                f"cannot be decoded by TensorFlow ({sum(_count_tiff(data))} in this dataset); "
                "convert the dataset to TFRecords once, which decodes them with Pillow: "
                f"python -m pipelines.convert --dataset={name} --root={root} --out=<dir>"
            )


def _count_tiff(data: LoadedDataset):
    for rows in data.splits.values():
        yield int(rows["path"].str.lower().str.endswith(TIFF_EXTENSIONS).sum())


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
        # Splits may come from different label files (CheXpert: train.csv and valid.csv).
        label_file = rows["source"].iloc[0] if len(rows) and "source" in rows else source
        kept[split], bad_here = image_files.scan_images(
            rows, label_file=label_file, mode=image_scan, on_bad=on_bad_image
        )
        bad += bad_here
        if kept[split].empty and not rows.empty:
            raise DataError(
                f"{label_file}: every image of split {split!r} is missing or corrupt "
                f"({len(bad_here)} skipped, first: {bad_here[0].describe()})"
            )
    bad.sort(key=lambda b: (b.label_file, b.line))
    return LoadedDataset(name, kept, bad, label_names)
