"""The generic CSV dataset (`data.name=csv`): one label file of image paths under a root.

Layout: `<root>/labels.csv` (option `labels_file`), a header, then one row per image:

  image    the image file's path relative to the root (`images/a.png`, `./b.jpg`)
  label    single-label data: the class, an integer in [0, num_classes)
  patient  optional: the patient the image belongs to (splits keep patients whole);
           without the column every image is its own patient

Multi-label data names its label columns instead, with the option `label_columns` (a tuple,
or one string 'effusion,edema'): each cell is 1 (positive), 0 (negative) or blank (unknown:
masked out of the loss and the metrics); `1.0` and `0.0` are read too. Other columns are
kept and ignored.

Identity, splits and image checks are the named layouts': each row's path becomes one
canonical path under the root (`tables.resolve_under_root`), the row's id is that path below
the root, two rows naming one file stop the load (`tables.check_one_row_per_file`), and
patients are split by `split_fractions`, stratified by class for single-label data. Unlike
the named layouts, whose label files come from their distributors and are refused whole
when a cell is wrong, a row here with a bad label, an empty path, a path outside the root or
an empty patient is a bad row, as a missing image is a bad image: `data.on_bad_image=stop`
names the first (file and line), `skip` skips and counts every one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipelines.readers import splits, tables
from pipelines.readers.image_files import BadImage

LABELS_FILE = "labels.csv"
IMAGE, LABEL, PATIENT = "image", "label", "patient"
# Multi-label cells: (label, mask).
_CELLS = {"1": (1.0, 1.0), "1.0": (1.0, 1.0), "0": (0.0, 1.0), "0.0": (0.0, 1.0), "": (0.0, 0.0)}


def label_columns(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The columns labels are read from under these reader options."""
    columns = options.get("label_columns")
    if columns is None:
        return (LABEL,)
    if isinstance(columns, str):
        columns = columns.split(",")
    columns = tuple(str(c).strip() for c in columns)
    if not columns or not all(columns) or len(set(columns)) != len(columns):
        raise ValueError(
            f"label_columns must name distinct columns, got {options['label_columns']!r}"
        )
    return columns


def read_tables(
    root: str,
    *,
    split_fractions: Mapping[str, float],
    split_seed: int,
    labels_file: str = LABELS_FILE,
    label_columns: Sequence[str] | str | None = None,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
) -> splits.Tables:
    """Reads the label file, sets bad rows aside and splits the rest by patient.

    Args:
      root: the dataset root.
      split_fractions: split name -> fraction of patients.
      split_seed: seeds the patient assignment.
      labels_file: the label CSV under `root`.
      label_columns: None for single-label data (column `label`); else the multi-label
        columns (see the module docstring).
      num_classes: single-label: labels must lie in [0, num_classes); default
        len(class_names), else the largest label + 1.
      class_names: single-label: the classes' names, for reports.

    Returns:
      `Tables` whose rows have columns `image` (the canonical path below the root),
      `label` (int64; multi-label: float32 vectors, with `mask`), `patient`, `path`
      (canonical, absolute), `line`, `source`; its `label_names` are the class names
      ('0', '1', ... without `class_names`) or the label columns; its `bad_rows` name each
      bad row's reason and line.

    Raises:
      DataError: a missing or malformed label file (naming the file and line), a missing
        column, two rows naming one image file, or an empty split.
      ValueError: contradictory options.
    """
    multi = label_columns is not None
    columns = _label_columns(label_columns)
    classes = _num_classes(num_classes, class_names, multi=multi)
    source = os.path.join(root, labels_file)
    table = tables.read_table(source, required=(IMAGE, *columns))
    rows, bad = [], []
    for record in table.to_dict("records"):
        row, reason = _read_row(record, root, columns, classes, multi, PATIENT in table)
        if reason is None:
            rows.append(row)
        else:
            bad.append(BadImage(row.get("path") or record[IMAGE], reason, source, record["line"]))
    good = pd.DataFrame(rows, columns=[IMAGE, "id", "path", PATIENT, "line", "label", "mask"])
    tables.check_one_row_per_file(good, IMAGE, source)  # Names the cells as written.
    good = good.drop(columns=IMAGE).rename(columns={"id": IMAGE})
    good["source"] = source
    if not multi:
        good = good.drop(columns="mask").astype({"label": "int64"})
        top = int(good["label"].max()) + 1 if len(good) else 1
        names = tuple(class_names or (str(k) for k in range(classes or top)))
    else:
        names = columns
    stratify = None if multi else LABEL
    parts = splits.split_by_patient(
        good, split_fractions, seed=split_seed, stratify_by=stratify, source=source
    )
    return splits.Tables(parts, label_names=names, bad_rows=bad)


def _label_columns(option: Sequence[str] | str | None) -> tuple[str, ...]:
    return label_columns({"label_columns": option})


def _num_classes(
    num_classes: int | None, class_names: Sequence[str] | None, *, multi: bool
) -> int | None:
    if multi and (num_classes is not None or class_names is not None):
        raise ValueError("num_classes and class_names are for single-label data, not label_columns")
    if class_names is not None and num_classes is not None and num_classes != len(class_names):
        raise ValueError(f"num_classes={num_classes} but {len(class_names)} class_names")
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return len(class_names) if class_names is not None else num_classes


def _read_row(
    record: dict,
    root: str,
    columns: tuple[str, ...],
    classes: int | None,
    multi: bool,
    has_patient: bool,
) -> tuple[dict, str | None]:
    """One label-file row as a dataset row, and why it is bad (None if it is good)."""
    cell = record[IMAGE].strip()
    problem = tables.path_problem(root, cell)
    if problem is not None:
        return {}, problem
    path = tables.canonical_path(root, cell)
    image_id = tables.relative_name(path, tables.image_folder(root, ""))
    row = {IMAGE: cell, "id": image_id, "path": path, "line": record["line"]}
    if not multi:
        label = tables.parse_int(record[LABEL])
        if label is None or label < 0 or (classes is not None and label >= classes):
            valid = f"one of 0-{classes - 1}" if classes else "a class number (an integer >= 0)"
            return row, f"{LABEL}={record[LABEL]!r} is not {valid}"
        row["label"], row["mask"] = label, None
    else:
        cells = [record[c].strip() for c in columns]
        for column, value in zip(columns, cells, strict=True):
            if value not in _CELLS:
                return row, f"{column}={record[column]!r} is not 1, 0 or blank"
        pairs = np.array([_CELLS[v] for v in cells], np.float32)
        row["label"], row["mask"] = pairs[:, 0], pairs[:, 1]
    patient = record[PATIENT].strip() if has_patient else image_id
    if not patient:
        return row, "empty patient"
    row[PATIENT] = patient
    return row, None
