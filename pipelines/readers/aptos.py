"""APTOS 2019 Blindness Detection (Kaggle), as distributed.

Layout: `<root>/train.csv` with header `id_code,diagnosis` (rows like `000c1434d8d7,2`) and
images `<root>/train_images/{id_code}.png` of varied sizes. Grades 0-4 (ICDR, as EyePACS);
the paper's task is referable DR, grade >= 2.

No patient ids are published, so every image is its own patient for splitting. Some
patients contributed both eyes (and some several photographs), so a patient-level split
is not guaranteed: images of one patient may land in two splits. That leakage is a known
property of APTOS and inflates held-out scores a little; nothing in the files allows it
to be removed.

An id_code is read as the image's canonical path below the image folder
(`pipelines.readers.tables`): `./000c1434d8d7` is `000c1434d8d7`, and two rows naming one file are
refused.
"""

from __future__ import annotations

import os

import pandas as pd

from pipelines.errors import DataError
from pipelines.readers import tables

GRADES = (0, 1, 2, 3, 4)
LABELS_FILE = "train.csv"
IMAGE_DIR = "train_images"
EXTENSION = ".png"


def read_aptos(
    root: str,
    *,
    labels_file: str = LABELS_FILE,
    image_dir: str = IMAGE_DIR,
    extension: str = EXTENSION,
) -> pd.DataFrame:
    """Reads and validates the APTOS label file.

    Args:
      root: dataset root.
      labels_file: label CSV under `root`.
      image_dir: image directory under `root`.
      extension: image file extension (`.png` as distributed; resized copies often use
        `.jpg` or `.jpeg`).

    Returns:
      One row per image, in file order, with columns `image` (the canonical id_code: the
      image's path below `image_dir` without the extension, e.g. '000c1434d8d7' for a row
      spelled './000c1434d8d7'), `label` (int grade 0-4), `patient` (= `image`: one
      patient per image), `path` (canonical, absolute), `line` (line in the label file),
      `source`.

    Raises:
      DataError: naming the file and line for a missing column, a malformed row, a grade
        outside 0-4 or not a number, an empty id_code, an id whose path is absolute or
        would leave the root, or two rows naming one image file (both lines and its path;
        see `tables.check_one_row_per_file`).
    """
    source = os.path.join(root, labels_file)
    table = tables.read_table(source, required=("id_code", "diagnosis"))
    table["id_code"] = table["id_code"].str.strip()
    for cell, line in zip(table["id_code"], table["line"], strict=True):
        if not cell:
            raise DataError(f"{source} line {line}: empty id_code")
    table["label"] = tables.parse_int_labels(table, "diagnosis", GRADES, source)
    table["path"] = [
        tables.resolve_under_root(root, os.path.join(image_dir, code + extension), source, line)
        for code, line in zip(table["id_code"], table["line"], strict=True)
    ]
    tables.check_one_row_per_file(table, "id_code", source)
    folder = tables.image_folder(root, image_dir)
    table["image"] = [tables.relative_name(p, folder, extension) for p in table["path"]]
    table["patient"] = table["image"]
    table["source"] = source
    return table[["image", "label", "patient", "path", "line", "source"]].reset_index(drop=True)
