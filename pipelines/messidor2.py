"""Messidor-2 with the adjudicated grades of Krause et al. (2018), as distributed.

Layout: a label CSV (`messidor_data.csv` in Google's release and its Kaggle mirror; any
name via `labels_file`) with header
`image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable`, and one image folder
(`IMAGES/` here; the Kaggle copies use `messidor-2/preprocess/`: set `image_dir`). The
`image_id` is a file name: `20051020_43808_0100_PP.png` for images from the original
Messidor, `IM002385.JPG` for the Messidor-Extension. Originals are `.tif` (Messidor) and
`.JPG` (Extension); preprocessed copies `.png`/`.jpg`.

Cells: `adjudicated_gradable` is 1 or 0; on gradable rows the DR grade is 0-4 (ICDR;
referable = grade >= 2) and DME 0 or 1; ungradable rows have blank grades. Ungradable
images are not errors: `read_messidor2` keeps them with `gradable` False so they can be
counted, and the dataset loader drops them (after splitting, so they are counted in the
split their exam belongs to).

Exams. Messidor-2 holds 874 exams of two images (one per eye) of one patient. The
original pairs list (`messidor-2.xls`) is often absent, so exams are paired from the
file names (`exam_ids`): names of the form `YYYYMMDD_NNNNN_CCCC_PP` are grouped by date
and code `CCCC`, Extension names `IMnnnnnn` form one group; within a group, files sorted
by their number pair up consecutively (1st with 2nd, 3rd with 4th, ...). A name of
another form, or the last of a group of odd size, is an exam of its own. Exams are the
patient unit for splitting.

File names. If `image_dir/image_id` does not exist but exactly one file in that folder
has the same name up to case, or the same stem with another image extension (the CSV
says `.tif`, the folder holds the `.png` copies; `.jpg` vs `.JPG`), that file is used.

TIFF. TensorFlow cannot decode TIFF. The loader refuses TIFF files with a message that
says to convert the dataset (`python -m pipelines.convert`), which decodes them once with
Pillow and stores PNG bytes in TFRecords.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import pandas as pd

from pipelines import tables
from pipelines.tables import DataError

LABELS_FILE = "messidor_data.csv"
IMAGE_DIR = "IMAGES"
COLUMNS = ("image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable")
GRADES = (0, 1, 2, 3, 4)
DME = (0, 1)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
UNGRADABLE = -1  # `label` and `dme` of an ungradable image.
_MESSIDOR = re.compile(r"^(?P<date>\d{8})_(?P<number>\d+)_(?P<code>\d+)_PP$", re.IGNORECASE)
_EXTENSION = re.compile(r"^IM(?P<number>\d+)$", re.IGNORECASE)


def exam_ids(image_ids: Sequence[str]) -> list[str]:
    """The exam (patient unit) of each image, paired from the file names.

    See the module docstring for the rule. An exam is named by its images' stems joined
    with '+', e.g. 'IM000001+IM000002'; an unpaired image by its stem.

    Args:
      image_ids: file names, e.g. ['20051020_43808_0100_PP.png', 'IM000002.JPG'].

    Returns:
      One exam id per image, in the given order.
    """
    stems = [os.path.splitext(os.path.basename(i))[0] for i in image_ids]
    groups: dict[tuple, list[tuple[int, int]]] = {}
    for position, stem in enumerate(stems):
        if match := _MESSIDOR.match(stem):
            key = ("messidor", match["date"], match["code"])
        elif match := _EXTENSION.match(stem):
            key = ("extension",)
        else:
            continue
        groups.setdefault(key, []).append((int(match["number"]), position))
    exams = list(stems)
    for members in groups.values():
        members.sort()
        for first in range(0, len(members) - 1, 2):
            (_, a), (_, b) = members[first], members[first + 1]
            exams[a] = exams[b] = f"{stems[a]}+{stems[b]}"
    return exams


def read_messidor2(
    root: str,
    *,
    labels_file: str = LABELS_FILE,
    image_dir: str = IMAGE_DIR,
    match_extension: bool = True,
) -> pd.DataFrame:
    """Reads and validates the adjudicated-grades CSV, ungradable images included.

    Args:
      root: dataset root.
      labels_file: the label CSV under `root`.
      image_dir: the image folder under `root`.
      match_extension: resolve a missing file to its unique case- or extension-variant
        (see the module docstring).

    Returns:
      One row per CSV row, in file order, with columns `image` (the image_id), `label`
      (int grade 0-4, `UNGRADABLE` (-1) for ungradable images), `dme` (0/1, -1 likewise),
      `gradable` (bool), `patient` (the exam, see `exam_ids`), `path` (absolute), `line`,
      `source`.

    Raises:
      DataError: naming the file and line for a missing column, a malformed row, a
        gradable flag other than 0/1, a grade or DME value outside its range or not a
        number, a blank grade on a gradable image, an empty or duplicate image_id, or a
        path that is absolute or would leave the root.
    """
    source = os.path.join(root, labels_file)
    table = tables.read_table(source, required=COLUMNS)
    table["image_id"] = table["image_id"].str.strip()
    for cell, line in zip(table["image_id"], table["line"], strict=True):
        if not cell:
            raise DataError(f"{source} line {line}: empty image_id")
    tables.check_unique(table, "image_id", source)
    gradable = tables.parse_int_labels(table, "adjudicated_gradable", (0, 1), source) == 1
    labels = _grades(table, "adjudicated_dr_grade", GRADES, gradable, source)
    dme = _grades(table, "adjudicated_dme", DME, gradable, source)
    finder = _FileFinder() if match_extension else None
    paths = []
    for image_id, line in zip(table["image_id"], table["line"], strict=True):
        path = tables.resolve_under_root(root, os.path.join(image_dir, image_id), source, line)
        paths.append(finder.find(path) if finder else path)
    return pd.DataFrame(
        {
            "image": table["image_id"],
            "label": labels,
            "dme": dme,
            "gradable": gradable.to_numpy(),
            "patient": exam_ids(list(table["image_id"])),
            "path": paths,
            "line": table["line"],
            "source": source,
        }
    )


def _grades(
    table: pd.DataFrame, column: str, valid: Sequence[int], gradable: pd.Series, source: str
) -> list[int]:
    """A grade column: required on gradable rows, blank or valid (and unused) on others."""
    blank = table[column].str.strip() == ""
    missing = blank & gradable
    if missing.any():
        line = table.loc[missing, "line"].iloc[0]
        raise DataError(
            f"{source} line {line}: {column} is blank on a gradable image "
            "(adjudicated_gradable=1)"
        )
    parsed = tables.parse_int_labels(table[~blank], column, valid, source)
    values = pd.Series(UNGRADABLE, index=table.index, dtype="int64")
    values[~blank] = parsed
    values[~gradable] = UNGRADABLE
    return values.tolist()


class _FileFinder:
    """Finds a file's unique case- or extension-variant in its folder (listed once)."""

    def __init__(self):
        self._listings: dict[str, dict[str, list[str]] | None] = {}

    def find(self, path: str) -> str:
        if os.path.exists(path):
            return path
        folder, name = os.path.split(path)
        if folder not in self._listings:
            self._listings[folder] = self._index(folder)
        index = self._listings[folder]
        if not index:
            return path
        stem, extension = os.path.splitext(name)
        candidates = index.get(stem.lower(), [])
        same = [c for c in candidates if os.path.splitext(c)[1].lower() == extension.lower()]
        chosen = same or candidates
        return os.path.join(folder, chosen[0]) if len(chosen) == 1 else path

    @staticmethod
    def _index(folder: str) -> dict[str, list[str]] | None:
        try:
            names = os.listdir(folder)
        except OSError:
            return None
        index: dict[str, list[str]] = {}
        for name in sorted(names):
            stem, extension = os.path.splitext(name)
            if extension.lower() in IMAGE_EXTENSIONS:
                index.setdefault(stem.lower(), []).append(name)
        return index
