"""The dataset registry: one `DatasetSpec` per dataset, and `load_dataset(name, root, ...)`.

A spec holds everything dataset-specific the library and the binaries need: how to read
it (image-file datasets give their split tables, `pipelines.readers`; record datasets
open their shards, `pipelines.records`), its label names, the label-file columns
`pipelines.inspect` counts, the split fractions the configs default to, its synthetic
writer (`pipelines.generate`) and any summary entry of its own. Nothing else branches on
a dataset's name.

Registered:
  aptos      splits `split_fractions` of train.csv by image (APTOS has no patient ids;
             stratified by grade)
  chexpert   splits `split_fractions` of train.csv by patient (e.g. `train`,
             `valid_internal`) and adds the official valid.csv as the split `valid`
  csv        any images listed in one label file (`labels.csv`: image path, label or
             label columns, optional patient); splits `split_fractions` by patient
  eyepacs    splits `split_fractions` of trainLabels.csv by patient (stratified by grade)
  imagenet   TF-Slim ImageNet TFRecords (also the synthetic source task): the official
             `train` and `validation` splits
  messidor2  splits `split_fractions` of the adjudicated-grades CSV by exam (stratified
             by grade), then drops ungradable images, counted per split in `excluded`
  tfrecords  any of the image-file datasets converted to TFRecord shards by
             `pipelines.convert`: the splits fixed at conversion, from its manifest

Image-file datasets load as a `readers.file_dataset.LoadedDataset`, record datasets as a
`records.record_datasets.RecordDataset`; both are `pipelines.split.Dataset`s of `Split`s.
Those modules, and only they, import TensorFlow: this module imports them when a dataset
is loaded, so the binaries that only read specs (`pipelines.generate`) start without it.
`load_dataset(..., subset_sizes={'train': 5000})` then keeps a seeded, patient-aware,
stratified subset of a split (`pipelines.readers.subsets`): the paper's small-data regime.
TIFF images are refused (TensorFlow cannot decode them) unless `allow_tiff`, which only
the TFRecord converter and the inspector set: the converter decodes them with Pillow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from errors import UsageError
from pipelines.readers import aptos, chexpert, eyepacs, generic_csv, messidor2, splits
from pipelines.synthetic import aptos as synthetic_aptos
from pipelines.synthetic import chexpert as synthetic_chexpert
from pipelines.synthetic import eyepacs as synthetic_eyepacs
from pipelines.synthetic import generic_csv as synthetic_csv
from pipelines.synthetic import messidor2 as synthetic_messidor2

if TYPE_CHECKING:
    from pipelines.split import Dataset

DR_GRADES = ("none", "mild", "moderate", "severe", "proliferative")
_THREE_WAY = {"train": 0.8, "valid": 0.1, "test": 0.1}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What is particular to one dataset.

    Exactly one of `read_tables` and `open_records` is set.

    Attributes:
      name: the registry name (`data.name`).
      read_tables: image-file datasets: read_tables(root, *, split_fractions, split_seed,
        **options) -> `splits.Tables` (the rows per split, before the image check).
      open_records: record datasets: open_records(root, **options) -> `RecordDataset`.
      label_names: names of the label values or outputs ('' where unknown); readers
        whose data names them (the generic CSV) override them.
      label_columns: options -> the label-file columns whose cells `pipelines.inspect`
        counts as written; None for datasets it cannot inspect.
      split_fractions: the splits the configs default to; {} where the splits are fixed.
      writer: the synthetic writer `pipelines.generate` calls, writer(root, *,
        num_patients, image_size, seed, jpeg_quality, workers, progress, **options) ->
        summary dict; None where there is none.
      split_summary: rows -> extra summary entries of a split, or None.
      split_names: (root, split_fractions) -> the names of the splits a load returns,
        without loading it (a config check); default the fractions' names.
    """

    name: str
    read_tables: Callable[..., splits.Tables] | None = None
    open_records: Callable[..., Dataset] | None = None
    label_names: tuple[str, ...] = ()
    label_columns: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    split_fractions: Mapping[str, float] = dataclasses.field(default_factory=dict)
    writer: Callable[..., dict] | None = None
    split_summary: Callable[[pd.DataFrame], dict] | None = None
    split_names: Callable[[str, Mapping[str, float]], list[str]] | None = None

    def __post_init__(self):
        if (self.read_tables is None) == (self.open_records is None):
            raise ValueError(f"dataset {self.name!r}: set exactly one of read_tables, open_records")

    @property
    def stored_as_records(self) -> bool:
        return self.open_records is not None


def _columns(*names: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    """Label columns that do not depend on the reader options."""
    return lambda options: names


def _records(loader: str) -> Callable[..., Dataset]:
    """`records.record_datasets.<loader>`, imported when called (it imports TensorFlow)."""

    def open_records(root: str, **options) -> Dataset:
        from pipelines.records import record_datasets

        return getattr(record_datasets, loader)(root, **options)

    open_records.__qualname__ = f"record_datasets.{loader}"
    return open_records


def _manifest_splits(root: str, fractions: Mapping[str, float]) -> list[str]:
    """A converted dataset's splits, from its manifest (read only)."""
    from pipelines.records import shard_manifest

    return list(shard_manifest.read_manifest(root)["splits"])


def _imagenet_splits(root: str, fractions: Mapping[str, float]) -> list[str]:
    from pipelines.readers import imagenet  # Imports TensorFlow.

    return list(imagenet.SPLITS)


def _dr_grades(
    name: str, read: Callable[..., pd.DataFrame], columns: tuple[str, ...], **fields
) -> DatasetSpec:
    """A table of DR grades 0-4 (label-file `columns`), split 80/10/10 by patient and
    stratified by grade; `excluded_when` as `splits.graded_tables` takes it."""
    return DatasetSpec(
        name,
        read_tables=splits.graded_tables(read, fields.pop("excluded_when", None)),
        label_names=DR_GRADES,
        label_columns=_columns(*columns),
        split_fractions=_THREE_WAY,
        **fields,
    )


_KNOWN_DATASETS = (
    # APTOS has no patient ids: each image is its own patient.
    _dr_grades("aptos", aptos.read_aptos, ("diagnosis",), writer=synthetic_aptos.write_aptos),
    DatasetSpec(
        "chexpert",
        read_tables=chexpert.read_tables,
        label_names=chexpert.TASKS,
        label_columns=_columns(*chexpert.TASKS),
        split_fractions={"train": 0.9, "valid_internal": 0.1},
        writer=synthetic_chexpert.write_chexpert,
        split_names=lambda root, fractions: [*fractions, chexpert.EVAL_SPLIT],
    ),
    # Label names come from the data (class_names, or '0', '1', ...; the label columns).
    DatasetSpec(
        "csv",
        read_tables=generic_csv.read_tables,
        label_columns=generic_csv.label_columns,
        split_fractions=_THREE_WAY,
        writer=synthetic_csv.write_csv_dataset,
    ),
    _dr_grades("eyepacs", eyepacs.read_eyepacs, ("level",), writer=synthetic_eyepacs.write_eyepacs),
    # The synthetic source task is written by its own binary, `pipelines.generate_source`.
    DatasetSpec(
        "imagenet",
        open_records=_records("load_imagenet"),
        split_names=_imagenet_splits,
    ),
    # Exams from the ADCIS pairs file messidor-2.csv when the root holds one (option
    # `pairs_file`), else from the file names; split by exam, stratified by its worst
    # grade; ungradable images dropped after splitting, so each counts in its exam's split.
    _dr_grades(
        "messidor2",
        messidor2.read_messidor2,
        messidor2.COLUMNS[1:],
        excluded_when=("ungradable", messidor2.is_ungradable),
        writer=synthetic_messidor2.write_messidor2,
        split_summary=messidor2.split_summary,
    ),
    DatasetSpec("tfrecords", open_records=_records("load_tfrecords"), split_names=_manifest_splits),
)
_DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _KNOWN_DATASETS}


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def get_dataset(name: str) -> DatasetSpec:
    """The spec registered as `name`.

    Raises:
      UsageError: for an unknown name; the message lists the valid ones.
    """
    try:
        return _DATASETS[name]
    except KeyError:
        raise UsageError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}") from None


def split_names(name: str, root: str, *, split_fractions: Mapping[str, float]) -> list[str]:
    """The split names `load_dataset` returns, read from a manifest at most (a config check).

    Raises:
      UsageError: an unknown dataset name (the message lists the valid ones).
      DataError: a `tfrecords` root without a readable manifest.
    """
    spec = get_dataset(name)
    if spec.split_names is not None:
        return spec.split_names(root, split_fractions)
    return list(split_fractions)


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
) -> Dataset:
    """Reads a registered dataset, splits it by patient and checks its images.

    Args:
      name: a registered dataset (see `list_datasets()`).
      root: the dataset's root directory, as distributed.
      split_fractions: split name -> fraction of patients (image-file datasets; record
        datasets keep the splits they were written with).
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
      ValueError: for an unknown name (the message lists the valid ones), a subset of a
        record dataset, or a subset larger than its split.
      DataError: for bad label files, bad images under `stop`, an empty split, or a TIFF
        image without `allow_tiff`.
    """
    spec = get_dataset(name)
    sizes = dict(subset_sizes or {})
    if spec.stored_as_records:
        if any(sizes.values()):
            raise UsageError(f"{name}: training subsets need an image-file dataset, not records")
        return spec.open_records(root, **options)
    from pipelines.readers import file_dataset  # Imports TensorFlow (the file streams).

    tables = spec.read_tables(
        root, split_fractions=split_fractions, split_seed=split_seed, **options
    )
    data = file_dataset.check_images(
        name,
        root,
        tables,
        image_scan=image_scan,
        on_bad_image=on_bad_image,
        label_names=spec.label_names,
        split_summary=spec.split_summary,
    )
    if not allow_tiff:
        file_dataset.refuse_tiff(data)
    file_dataset.take_subsets(data, sizes, seed=subset_seed)
    return data
