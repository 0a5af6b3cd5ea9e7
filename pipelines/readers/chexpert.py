"""CheXpert v1.0 and v1.0-small, as distributed (Irvin et al. 2019).

Layout: a root folder `CheXpert-v1.0-small/` (or the full-size `CheXpert-v1.0/`) holding
`train.csv`, `valid.csv` and `{train,valid}/patientNNNNN/studyN/viewN_{frontal,lateral}.jpg`.
The CSVs have 19 columns: `Path, Sex, Age, Frontal/Lateral, AP/PA` and 14 observations
whose cells are `1.0` (positive), `0.0` (negative), `-1.0` (uncertain) or blank (not
mentioned in the report). `Path` starts with the root folder's name
(`CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg`); we drop that first
component and resolve the rest under the root actually found, so a renamed root works.
The image's identity (`image`) is its canonical path below that root
(`train/patient00001/study1/view1_frontal.jpg`, whatever `./`, `..` or `//` the cell
holds), and the patient and study come from it (`pipelines.readers.tables`).

The task (the paper's, after the CheXpert paper's competition tasks) is five pathologies,
`TASKS`, each scored by ROC AUC. Each image gets a label vector and a mask (1 = the label
counts, 0 = ignore it in the loss and the metrics):

  cell   | label / mask
  1.0    | 1 / 1
  0.0    | 0 / 1
  -1.0   | uncertainty policy per pathology: `ones` 1/1, `zeros` 0/1, `ignore` 0/0
  blank  | blank policy: `zero` 0/1, `mask` 0/0

The default, `DEFAULT_UNCERTAINTY`, is U-Ones for Atelectasis and Edema and U-Zeros for
the other three, with blank -> 0: the CheXpert authors found U-Ones best for Atelectasis
and Edema. valid.csv has only 0/1 cells, so no policy changes it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipelines.errors import DataError
from pipelines.readers import splits, tables
from pipelines.readers.splits import Tables

ROOT_NAMES = ("CheXpert-v1.0-small", "CheXpert-v1.0")
OBSERVATIONS = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *OBSERVATIONS)
TASKS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
UNCERTAINTY_POLICIES = ("ignore", "zeros", "ones")
BLANK_POLICIES = ("zero", "mask")
DEFAULT_UNCERTAINTY = {
    "Atelectasis": "ones",
    "Cardiomegaly": "zeros",
    "Consolidation": "zeros",
    "Edema": "ones",
    "Pleural Effusion": "zeros",
}
VIEW_FILTERS = ("frontal", "lateral", "all")
SEXES = ("Male", "Female", "Unknown")
PROJECTIONS = ("AP", "PA", "LL", "RL", "")
SPLIT_DIRS = ("train", "valid", "test")
EVAL_SPLIT = "valid"  # The split the official valid.csv becomes.
_CELLS = {"1.0": 1.0, "1": 1.0, "0.0": 0.0, "0": 0.0, "-1.0": -1.0, "-1": -1.0, "": np.nan}
_IMAGE_PATH = re.compile(r"(?:^|/)(patient\d+)/(study\d+)/[^/]+$")


def task_key(name: str) -> str:
    """Config key of a task: 'Pleural Effusion' -> 'pleural_effusion'."""
    return name.lower().replace(" ", "_")


def find_root(directory: str, split_file: str = "train.csv") -> str:
    """The CheXpert root: `directory` itself or its `CheXpert-v1.0-small`/`-v1.0` child.

    Raises:
      DataError: if neither holds `split_file`, or both children do (ambiguous).
    """
    if os.path.isfile(os.path.join(directory, split_file)):
        return directory
    found = [
        os.path.join(directory, name)
        for name in ROOT_NAMES
        if os.path.isfile(os.path.join(directory, name, split_file))
    ]
    if len(found) > 1:
        raise DataError(
            f"{directory}: holds both {ROOT_NAMES[0]}/ and {ROOT_NAMES[1]}/; set the data "
            "root to the one to use"
        )
    if not found:
        raise DataError(
            f"{directory}: no CheXpert {split_file}: expected it in this directory or in a "
            f"{' or '.join(n + '/' for n in ROOT_NAMES)} subdirectory"
        )
    return found[0]


def uncertainty_policy(uncertainty: str | Mapping[str, str] | None) -> dict[str, str]:
    """Normalises an uncertainty policy to {task: policy} for the five `TASKS`.

    Args:
      uncertainty: None (the default), one policy for all tasks, or a mapping from task
        (CSV name like 'Pleural Effusion' or config key like 'pleural_effusion') to policy;
        tasks left out keep the default.

    Raises:
      ValueError: for an unknown task or policy.
    """
    policy = dict(DEFAULT_UNCERTAINTY)
    if isinstance(uncertainty, str):
        policy = dict.fromkeys(TASKS, uncertainty)
    elif uncertainty is not None:
        by_key = {task_key(t): t for t in TASKS}
        for key, value in dict(uncertainty).items():
            name = key if key in TASKS else by_key.get(key)
            if name is None:
                raise ValueError(
                    f"uncertainty policy for unknown task {key!r}; valid: {sorted(by_key)}"
                )
            policy[name] = value
    for name, value in policy.items():
        if value not in UNCERTAINTY_POLICIES:
            raise ValueError(
                f"uncertainty policy {value!r} for {name}; valid: {UNCERTAINTY_POLICIES}"
            )
    return policy


def read_chexpert(
    directory: str,
    split_file: str = "train.csv",
    *,
    views: str = "frontal",
    ap_pa: str | Sequence[str] = "",
    uncertainty: str | Mapping[str, str] | None = None,
    blank: str = "zero",
) -> pd.DataFrame:
    """Reads and validates one CheXpert CSV and applies the label policies.

    Args:
      directory: the CheXpert root, or the directory holding `CheXpert-v1.0-small/` or
        `CheXpert-v1.0/`.
      split_file: `train.csv` or `valid.csv`.
      views: `frontal` (default), `lateral` or `all`.
      ap_pa: keep only frontal images with these AP/PA values ('AP', 'PA', a list, or
        'AP,PA'); '' keeps all. Lateral images are not affected.
      uncertainty: see `uncertainty_policy`.
      blank: `zero` (default) or `mask`.

    Returns:
      One row per kept image, in file order, with columns `image` (the canonical path
      below the root, 'train/patient00001/study1/view1_frontal.jpg'), `path` (canonical,
      absolute), `patient` ('patient00001'), `study` ('patient00001/study1'), `view`
      ('frontal'/'lateral'), `ap_pa`, `sex`, `age` (int), `label` and `mask` (float32
      arrays of shape (5,), in `TASKS` order), `line`, `source`.

    Raises:
      DataError: naming the file and line for a missing column, a malformed row, an
        unknown cell value, an escaping path, two rows naming one image file (both lines
        and its path; see `tables.check_one_row_per_file`), or when no image is left.
      ValueError: for unknown policies or view filters.
    """
    if views not in VIEW_FILTERS:
        raise ValueError(f"unknown views {views!r}; valid: {VIEW_FILTERS}")
    if blank not in BLANK_POLICIES:
        raise ValueError(f"unknown blank policy {blank!r}; valid: {BLANK_POLICIES}")
    policy = uncertainty_policy(uncertainty)
    wanted_projections = _projections(ap_pa)
    root = find_root(directory, split_file)
    source = os.path.join(root, split_file)
    table = tables.read_table(source, required=COLUMNS)
    _check_values(table, "Frontal/Lateral", ("Frontal", "Lateral"), source)
    _check_values(table, "AP/PA", PROJECTIONS, source)
    _check_values(table, "Sex", SEXES, source)
    table["age"] = _parse_ages(table, source)
    values = {name: _parse_cells(table, name, source) for name in OBSERVATIONS}

    identity = _image_identity(table, root, source)
    labels, masks = _labels_and_masks(values, policy, blank)
    out = pd.DataFrame(
        {
            **identity,
            "view": table["Frontal/Lateral"].str.lower(),
            "ap_pa": table["AP/PA"],
            "sex": table["Sex"],
            "age": table["age"],
            "label": list(labels),
            "mask": list(masks),
            "line": table["line"],
            "source": source,
        }
    )
    keep = np.ones(len(out), bool) if views == "all" else (out["view"] == views).to_numpy()
    if wanted_projections:
        keep &= ((out["view"] != "frontal") | out["ap_pa"].isin(wanted_projections)).to_numpy()
    out = out[keep].reset_index(drop=True)
    if out.empty:
        raise DataError(
            f"{source}: no images left after views={views!r}, ap_pa={ap_pa!r} "
            f"({len(table)} rows read)"
        )
    return out


def _image_identity(table: pd.DataFrame, root: str, source: str) -> dict[str, list[str]]:
    """{'image', 'path', 'patient', 'study'} of every row, from its canonical path.

    Raises:
      DataError: an escaping path, a path not of the CheXpert form, or two rows naming
        one image file.
    """
    root_abs = tables.image_folder(root, "")
    out = {"image": [], "path": [], "patient": [], "study": []}
    for cell, line in zip(table["Path"], table["line"], strict=True):
        path = tables.resolve_under_root(root, _strip_root_name(cell, source, line), source, line)
        image = tables.relative_name(path, root_abs)
        match = _IMAGE_PATH.search(image)
        if match is None:
            raise DataError(
                f"{source} line {line}: Path {cell!r} is not of the form "
                "<root>/<split>/patientNNNNN/studyN/<view>.jpg"
            )
        out["image"].append(image)
        out["path"].append(path)
        out["patient"].append(match.group(1))
        out["study"].append(f"{match.group(1)}/{match.group(2)}")
    tables.check_one_row_per_file(table.assign(path=out["path"]), "Path", source)
    return out


def _labels_and_masks(
    values: Mapping[str, np.ndarray], policy: Mapping[str, str], blank: str
) -> tuple[np.ndarray, np.ndarray]:
    """float32 (n, 5) labels and masks of the `TASKS` under the policies (module docstring)."""
    n = len(next(iter(values.values())))
    labels = np.zeros((n, len(TASKS)), np.float32)
    masks = np.ones((n, len(TASKS)), np.float32)
    for k, name in enumerate(TASKS):
        cell = values[name]
        labels[:, k] = cell == 1.0
        uncertain = cell == -1.0
        if policy[name] == "ones":
            labels[uncertain, k] = 1.0
        elif policy[name] == "ignore":
            masks[uncertain, k] = 0.0
        if blank == "mask":
            masks[np.isnan(cell), k] = 0.0
    return labels, masks


def _projections(ap_pa: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(ap_pa, str):
        ap_pa = [p.strip() for p in ap_pa.split(",") if p.strip()]
    unknown = [p for p in ap_pa if p not in ("AP", "PA")]
    if unknown:
        raise ValueError(f"unknown ap_pa value(s) {unknown}; valid: 'AP', 'PA' or ''")
    return tuple(ap_pa)


def _strip_root_name(cell: str, source: str, line: int) -> str:
    """The path below the root: drops the leading root-folder name the real CSVs carry."""
    if os.path.isabs(cell) or cell.startswith(("/", "\\")):
        raise DataError(f"{source} line {line}: image path {cell!r} must be relative")
    first, _, rest = cell.partition("/")
    if first in SPLIT_DIRS or first in ("", ".", "..") or not rest:
        return cell  # No root-folder prefix; `resolve_under_root` refuses escapes.
    return rest


def _check_values(table: pd.DataFrame, column: str, valid: Sequence[str], source: str) -> None:
    bad = ~table[column].isin(valid)
    if bad.any():
        row = table[bad].iloc[0]
        raise DataError(
            f"{source} line {row['line']}: {column}={row[column]!r} is not one of " f"{list(valid)}"
        )


def _parse_ages(table: pd.DataFrame, source: str) -> pd.Series:
    ages = pd.to_numeric(table["Age"], errors="coerce")
    bad = ~(ages.between(0, 120) & (ages % 1 == 0))
    if bad.any():
        row = table[bad].iloc[0]
        raise DataError(
            f"{source} line {row['line']}: Age={row['Age']!r} is not one of the integers 0-120"
        )
    return ages.astype("int64")


def _parse_cells(table: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """An observation column as float64: 1, 0, -1, NaN for blank."""
    cells = table[column].str.strip()
    parsed = cells.map(_CELLS)
    bad = ~cells.isin(_CELLS.keys())
    if bad.any():
        row = table[bad].iloc[0]
        raise DataError(
            f"{source} line {row['line']}: {column}={row[column]!r} is not a CheXpert label "
            "(1.0, 0.0, -1.0 or blank)"
        )
    return parsed.to_numpy(np.float64)


def read_tables(
    root: str,
    *,
    split_fractions: Mapping[str, float],
    split_seed: int,
    views: str = "frontal",
    ap_pa: str = "",
    uncertainty: Mapping[str, str] | str | None = None,
    blank: str = "zero",
) -> Tables:
    """train.csv split by patient into `split_fractions`; valid.csv as the split `valid`.

    Args:
      root: as `read_chexpert`'s `directory`.
      split_fractions: splits of train.csv (not named `valid`).
      split_seed: seeds the patient assignment.
      views, ap_pa, uncertainty, blank: as `read_chexpert`.

    Raises:
      ValueError: a split of train.csv named `valid`.
      DataError: as `read_chexpert`, or a patient in both files (naming its valid.csv line).
    """
    if EVAL_SPLIT in split_fractions:
        raise ValueError(
            f"split name {EVAL_SPLIT!r} is the official valid.csv; name the splits of "
            f"train.csv otherwise, e.g. {{'train': 0.9, 'valid_internal': 0.1}}"
        )
    policy = {"views": views, "ap_pa": ap_pa, "uncertainty": uncertainty, "blank": blank}
    train = read_chexpert(root, "train.csv", **policy)
    valid = read_chexpert(root, "valid.csv", **policy)
    source = train["source"].iloc[0]
    shared = set(train["patient"]) & set(valid["patient"])
    if shared:
        first = valid[valid["patient"].isin(shared)].iloc[0]
        raise DataError(
            f"{first['source']} line {first['line']}: patient {first['patient']} is also in "
            f"{source} ({len(shared)} shared patients); valid.csv must hold other patients"
        )
    parts = splits.split_by_patient(train, split_fractions, seed=split_seed, source=source)
    parts[EVAL_SPLIT] = valid
    return Tables(parts)
