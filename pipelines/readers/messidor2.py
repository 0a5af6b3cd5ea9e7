"""Messidor-2 with the adjudicated grades of Krause et al. (2018), as distributed.

Layout: a label CSV (`messidor_data.csv` in Google's release and its Kaggle mirror; any
name via `labels_file`) with header
`image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable`, and one image folder
(`IMAGES/` here; the Kaggle copies use `messidor-2/preprocess/`: set `image_dir`). The
`image_id` is a file name: `20051020_43808_0100_PP.png` for images from the original
Messidor, `IM002385.JPG` for the Messidor-Extension. The ADCIS download holds the
Messidor-Original part as `.png` and the Extension part as `.JPG` (TIFF only occurs in
Messidor-1); the Kaggle copies are `.png`/`.jpg`.

Cells: `adjudicated_gradable` is 1 or 0; on gradable rows the DR grade is 0-4 (ICDR;
referable = grade >= 2) and DME 0 or 1; ungradable rows have blank grades. Ungradable
images are not errors: `read_messidor2` keeps them with `gradable` False so they can be
counted, and the dataset loader drops them (after splitting, so they are counted in the
split their exam belongs to).

Exams. Messidor-2 holds 874 exams of two images (one per eye) of one patient; exams are
the patient unit for splitting. The ADCIS download ships the pairs as `messidor-2.csv` in
the dataset root, next to `IMAGES/`: one exam per line, `left;right` image names separated
by a semicolon, optionally after a header line starting with `left` (`read_pairs`). When
that file is present (option `pairs_file`: another file under the root, or '' to ignore
it) it sets each listed image's exam. Images are matched to it by file stem, ignoring case
and extension (the Kaggle copies' `.jpg` is the ADCIS `.JPG`).

Images the pairs file does not list, or all images when there is no pairs file, are
paired from their file names (`exam_ids`): names of the form `YYYYMMDD_NNNNN_CCCC_PP` are
grouped by date and code `CCCC`, Extension names `IMnnnnnn` form one group; within a
group, files sorted by their number pair up consecutively (1st with 2nd, 3rd with 4th,
...). A name of another form, or the last of a group of odd size, is an exam of its own.
The rule is a guess: an image missing from the grades CSV shifts every later pair of its
group. The column `exam_source` says which rule set each row's exam (`pairs_file` or
`file_names`), and the reader logs a warning with the count of images paired by name
when a pairs file is used but does not list them all.

File names. If `image_dir/image_id` does not exist but exactly one file in that folder
has the same name up to case, or the same stem with another image extension (the CSV
says `.tif`, the folder holds the `.png` copies; `.jpg` vs `.JPG`), that file is used.

TIFF. TensorFlow cannot decode TIFF. The loader refuses TIFF files with a message that
says to convert the dataset (`python -m pipelines.convert`), which decodes them once with
Pillow and stores PNG bytes in TFRecords.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Sequence

import pandas as pd

from pipelines.errors import DataError
from pipelines.readers import tables

LABELS_FILE = "messidor_data.csv"
IMAGE_DIR = "IMAGES"
PAIRS_FILE = "messidor-2.csv"  # ADCIS: `left;right` image names, one exam per line.
AUTO = "auto"  # `pairs_file` default: PAIRS_FILE when the root holds it.
PAIRED_BY_FILE, PAIRED_BY_NAME = "pairs_file", "file_names"  # `exam_source` values.
COLUMNS = ("image_id", "adjudicated_dr_grade", "adjudicated_dme", "adjudicated_gradable")
GRADES = (0, 1, 2, 3, 4)
DME = (0, 1)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
UNGRADABLE = -1  # `label` and `dme` of an ungradable image.
_MESSIDOR = re.compile(r"^(?P<date>\d{8})_(?P<number>\d+)_(?P<code>\d+)_PP$", re.IGNORECASE)
_EXTENSION = re.compile(r"^IM(?P<number>\d+)$", re.IGNORECASE)
_LOG = logging.getLogger(__name__)


def image_key(name: str) -> str:
    """What pairs-file names and image_ids are matched by: the file stem in lower case."""
    return os.path.splitext(os.path.basename(name.strip()))[0].lower()


def read_pairs(path: str) -> dict[str, tuple[str, int]]:
    """Reads an ADCIS pairs file (`messidor-2.csv`): the exam of every image it names.

    Lines are `left;right` image names (blank lines skipped; an optional first line
    starting with `left` is a header); line numbers count every line, from 1.

    Args:
      path: the pairs file.

    Returns:
      {image_key(name): (exam id, line)}; the exam id is the two stems joined by '+', as
      written (`20051020_43808_0100_PP+20051020_43832_0100_PP`). Names are matched by
      `image_key`, so `./IM000001.JPG` and `IM000001.jpg` are one image.

    Raises:
      DataError: naming the file (and line) when it is missing or not UTF-8 text, a line
        does not hold exactly two names separated by ';', a quote is never closed (the
        line it opened), or an image is named twice, under any spelling (both lines).
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: pairs file not found (pass pairs_file='' to pair by name)")
    pairs: dict[str, tuple[str, int]] = {}
    first, start = True, 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=";", skipinitialspace=True, strict=True)
            for record in reader:
                start = reader.line_num + 1
                cells = [c.strip() for c in record]
                while cells and not cells[-1]:
                    cells.pop()  # Blank line, or a trailing ';' as spreadsheets write.
                if not cells:
                    continue
                line, header = reader.line_num, first and cells[0].lower().startswith("left")
                first = False
                if header:
                    continue
                if len(cells) != 2 or not all(cells):
                    raise DataError(
                        f"{path} line {line}: expected two image names separated by ';' "
                        f"(left;right), got {';'.join(record)!r}"
                    )
                exam = "+".join(os.path.splitext(os.path.basename(c))[0] for c in cells)
                for name in cells:
                    key = image_key(name)
                    if key in pairs:
                        raise DataError(
                            f"{path} line {line}: image {name!r} is named twice (first on "
                            f"line {pairs[key][1]})"
                        )
                    pairs[key] = (exam, line)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    except csv.Error as e:
        raise tables.csv_error(path, e, start=start, end=reader.line_num, delimiter=";") from None
    return pairs


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
    pairs_file: str | None = AUTO,
) -> pd.DataFrame:
    """Reads and validates the adjudicated-grades CSV, ungradable images included.

    Args:
      root: dataset root.
      labels_file: the label CSV under `root`.
      image_dir: the image folder under `root`.
      match_extension: resolve a missing file to its unique case- or extension-variant
        (see the module docstring).
      pairs_file: the exam pairs file under `root` (`read_pairs`); `auto` (default) uses
        `messidor-2.csv` when the root holds it; '' or None pairs every image by name.

    Returns:
      One row per CSV row, in file order, with columns `image` (the canonical image_id:
      its path below `image_dir`, e.g. 'IM000001.JPG' for a row spelled './IM000001.JPG';
      exams are paired from it), `label`
      (int grade 0-4, `UNGRADABLE` (-1) for ungradable images), `dme` (0/1, -1 likewise),
      `gradable` (bool), `patient` (the exam), `exam_source` (`pairs_file`, or
      `file_names` where `exam_ids` paired it), `path` (canonical, absolute: the file
      read, after `match_extension`), `line`, `source`.

    Raises:
      DataError: naming the file and line for a missing column, a malformed row, a
        gradable flag other than 0/1, a grade or DME value outside its range or not a
        number, a blank grade on a gradable image, an empty image_id, a path that is
        absolute or would leave the root, or two rows naming one image file (both lines
        and its path, after `match_extension`; see `tables.check_one_row_per_file`); for
        a pairs file that is named but missing, or has a malformed line or an image named
        twice.
    """
    source = os.path.join(root, labels_file)
    table = tables.read_table(source, required=COLUMNS)
    table["image_id"] = table["image_id"].str.strip()
    for cell, line in zip(table["image_id"], table["line"], strict=True):
        if not cell:
            raise DataError(f"{source} line {line}: empty image_id")
    gradable = tables.parse_int_labels(table, "adjudicated_gradable", (0, 1), source) == 1
    labels = _grades(table, "adjudicated_dr_grade", GRADES, gradable, source)
    dme = _grades(table, "adjudicated_dme", DME, gradable, source)
    finder = _FileFinder() if match_extension else None
    folder = tables.image_folder(root, image_dir)
    images, paths = [], []
    for image_id, line in zip(table["image_id"], table["line"], strict=True):
        path = tables.resolve_under_root(root, os.path.join(image_dir, image_id), source, line)
        images.append(tables.relative_name(path, folder))
        paths.append(finder.find(path) if finder else path)
    tables.check_one_row_per_file(table.assign(path=paths), "image_id", source)
    exams, exam_source = _exams(root, images, pairs_file, source)
    return pd.DataFrame(
        {
            "image": images,
            "label": labels,
            "dme": dme,
            "gradable": gradable.to_numpy(),
            "patient": exams,
            "exam_source": exam_source,
            "path": paths,
            "line": table["line"],
            "source": source,
        }
    )


def _exams(
    root: str, image_ids: list[str], pairs_file: str | None, source: str
) -> tuple[list[str], list[str]]:
    """Each image's exam, and which rule set it: the pairs file, else `exam_ids`."""
    if pairs_file == AUTO:
        path = os.path.join(root, PAIRS_FILE)
        pairs_file = PAIRS_FILE if os.path.isfile(path) else ""
    if not pairs_file:
        return exam_ids(image_ids), [PAIRED_BY_NAME] * len(image_ids)
    path = os.path.join(root, pairs_file)
    pairs = read_pairs(path)
    exams = [pairs.get(image_key(i), (None, 0))[0] for i in image_ids]
    unlisted = [k for k, exam in enumerate(exams) if exam is None]
    for k, exam in zip(unlisted, exam_ids([image_ids[k] for k in unlisted]), strict=True):
        exams[k] = exam
    if unlisted:
        _LOG.warning(
            "%s: %d of %d images of %s are not in the pairs file and were paired by file "
            "name (first: %s)", path, len(unlisted), len(image_ids), source,
            image_ids[unlisted[0]],
        )  # fmt: skip
    by_name = set(unlisted)
    return exams, [PAIRED_BY_NAME if k in by_name else PAIRED_BY_FILE for k in range(len(exams))]


def exam_pairing(rows: pd.DataFrame) -> dict[str, int]:
    """{rule: images} over rows of `read_messidor2`, both `exam_source` rules listed."""
    counts = rows["exam_source"].value_counts()
    return {rule: int(counts.get(rule, 0)) for rule in (PAIRED_BY_FILE, PAIRED_BY_NAME)}


def split_summary(rows: pd.DataFrame) -> dict[str, dict[str, int]]:
    """A split's own summary entry: `exams_paired_by`, the images each rule paired."""
    return {"exams_paired_by": exam_pairing(rows)}


def is_ungradable(rows: pd.DataFrame) -> pd.Series:
    """The rows the loader excludes (after splitting, as 'ungradable')."""
    return ~rows["gradable"]


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
