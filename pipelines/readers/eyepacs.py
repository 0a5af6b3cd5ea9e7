"""EyePACS / Kaggle Diabetic Retinopathy Detection, as distributed.

Layout: `<root>/trainLabels.csv` with columns `image,level` (rows like `10_left,0`) and
images `<root>/train/{patient}_{left|right}.jpeg`. Grades 0-4 (0 none, 1 mild, 2 moderate,
3 severe, 4 proliferative); the paper's task is referable DR, grade >= 2. The Kaggle test
labels (`retinopathy_solution.csv`, `image,level,Usage`, images in `test/`) read the same
way with `labels_file` and `image_dir`.

An id is the image's canonical path below `image_dir` (`pipelines.readers.tables`): a row spelled
`./20_left` is image `20_left` of patient `20`, and two rows naming one file are refused.
"""

from __future__ import annotations

import os

import pandas as pd

from pipelines.errors import DataError
from pipelines.readers import tables

GRADES = (0, 1, 2, 3, 4)
EYES = ("left", "right")


def read_eyepacs(
    root: str,
    *,
    labels_file: str = "trainLabels.csv",
    image_dir: str = "train",
    extension: str = ".jpeg",
) -> pd.DataFrame:
    """Reads and validates the EyePACS label file.

    Args:
      root: dataset root.
      labels_file: label CSV under `root`.
      image_dir: image directory under `root`.
      extension: image file extension (`.jpeg` as distributed; preprocessed copies often
        use `.png`).

    Returns:
      One row per image with columns `image` (the canonical id: the image's path below
      `image_dir` without the extension, e.g. '20_left' for a row spelled './20_left'),
      `label` (int grade 0-4), `patient` (str, from the canonical id's file name), `eye`,
      `path` (canonical, absolute), `line` (line in the label file), `source`.

    Raises:
      DataError: naming the file and line for a missing column, a grade outside 0-4 or not
        a number, an id not of the form `{patient}_{left|right}`, an id whose path would
        leave the root, or two rows naming one image file (both lines and its path; see
        `tables.check_one_row_per_file`).
    """
    source = os.path.join(root, labels_file)
    table = tables.read_table(source, required=("image", "level"))
    table["image"] = table["image"].str.strip()
    table["label"] = tables.parse_int_labels(table, "level", GRADES, source)
    folder = tables.image_folder(root, image_dir)
    ids, patients, eyes, paths = [], [], [], []
    for cell, line in zip(table["image"], table["line"], strict=True):
        path = tables.resolve_under_root(
            root, os.path.join(image_dir, cell + extension), source, line
        )
        image = tables.relative_name(path, folder, extension)
        patient, _, eye = image.rpartition("/")[2].rpartition("_")
        if not patient or eye not in EYES:
            raise DataError(
                f"{source} line {line}: image id {cell!r} is not of the form "
                "'{patient}_{left|right}'"
            )
        ids.append(image)
        patients.append(patient)
        eyes.append(eye)
        paths.append(path)
    table["path"] = paths
    tables.check_one_row_per_file(table, "image", source)
    table["image"], table["patient"], table["eye"] = ids, patients, eyes
    table["source"] = source
    return table[["image", "label", "patient", "eye", "path", "line", "source"]]
