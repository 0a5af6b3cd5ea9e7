"""EyePACS / Kaggle Diabetic Retinopathy Detection, as distributed.

Layout: `<root>/trainLabels.csv` with columns `image,level` (rows like `10_left,0`) and
images `<root>/train/{patient}_{left|right}.jpeg`. Grades 0-4 (0 none, 1 mild, 2 moderate,
3 severe, 4 proliferative); the paper's task is referable DR, grade >= 2. The Kaggle test
labels (`retinopathy_solution.csv`, `image,level,Usage`, images in `test/`) read the same
way with `labels_file` and `image_dir`.
"""

from __future__ import annotations

import os

import pandas as pd

from pipelines import tables
from pipelines.tables import DataError

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
      One row per image with columns `image` (id), `label` (int grade 0-4), `patient`
      (str), `eye`, `path` (absolute), `line` (line in the label file), `source`.

    Raises:
      DataError: naming the file and line for a missing column, a grade outside 0-4 or not
        a number, a duplicate image id, an id not of the form `{patient}_{left|right}`, or
        an id whose path would leave the root.
    """
    source = os.path.join(root, labels_file)
    table = tables.read_table(source, required=("image", "level"))
    table["image"] = table["image"].str.strip()
    tables.check_unique(table, "image", source)
    table["label"] = tables.parse_int_labels(table, "level", GRADES, source)
    patients, eyes, paths = [], [], []
    for image, line in zip(table["image"], table["line"], strict=True):
        patient, _, eye = image.rpartition("_")
        if not patient or eye not in EYES:
            raise DataError(
                f"{source} line {line}: image id {image!r} is not of the form "
                "'{patient}_{left|right}'"
            )
        patients.append(patient)
        eyes.append(eye)
        paths.append(
            tables.resolve_under_root(
                root, os.path.join(image_dir, image + extension), source, line
            )
        )
    table["patient"], table["eye"], table["path"] = patients, eyes, paths
    table["source"] = source
    return table[["image", "label", "patient", "eye", "path", "line", "source"]]
