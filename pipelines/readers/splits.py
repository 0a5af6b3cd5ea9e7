"""Patient-level splits: no patient's images ever sit in two splits.

`split_by_patient` divides a reader's table; `Tables` is what a reader hands on (rows per
split, excluded and bad rows); `graded_tables` turns a single-label table reader into one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from errors import UsageError
from pipelines.errors import DataError
from pipelines.readers.image_files import BadImage


@dataclasses.dataclass
class Tables:
    """A reader's rows per split, before the image check.

    Attributes:
      splits: split name -> rows.
      excluded: split -> rows dropped by a label policy, not as errors, with a `reason`
        column (Messidor-2: 'ungradable').
      exclusion_reasons: the reasons this dataset can exclude rows for (counted in
        summaries even when zero).
      label_names: names of the label values or outputs, when the data names them (the
        generic CSV); else the dataset spec's.
      bad_rows: rows set aside as unusable (the generic CSV: a bad label, a path outside
        the root), in label-file order; treated as bad images
        (`file_dataset.check_images`).
    """

    splits: dict[str, pd.DataFrame]
    excluded: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)
    exclusion_reasons: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()
    bad_rows: list[BadImage] = dataclasses.field(default_factory=list)


def split_by_patient(
    table: pd.DataFrame,
    fractions: Mapping[str, float],
    *,
    seed: int,
    stratify_by: str | None = None,
    source: str = "",
) -> dict[str, pd.DataFrame]:
    """Splits rows into named splits by patient, seeded and optionally stratified.

    Patients are assigned whole. With `stratify_by`, patients are grouped by the maximum of
    that column over their rows (e.g. the worst DR grade of either eye) and each group is
    divided in the given proportions, so rare grades reach every split.

    Args:
      table: rows with a `patient` column.
      fractions: split name -> fraction of patients, e.g. {'train': .8, 'valid': .1,
        'test': .1}; must sum to 1.
      seed: seeds the assignment; the same seed and table give the same splits.
      stratify_by: optional integer column to stratify on.
      source: the label file, for messages.

    Returns:
      split name -> rows of that split, in the table's order.

    Raises:
      DataError: if a split with a positive fraction ends up empty.
      ValueError: if the fractions are negative or do not sum to 1.
    """
    names = list(fractions)
    weights = np.array([float(fractions[n]) for n in names])
    if (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
        raise UsageError(f"split fractions must be >= 0 and sum to 1, got {dict(fractions)}")
    rng = np.random.default_rng(seed)
    if stratify_by is None:
        strata = {0: sorted(table["patient"].unique())}
    else:
        worst = table.groupby("patient")[stratify_by].max()
        strata = {k: sorted(v.index) for k, v in worst.groupby(worst)}
    assignment: dict[str, str] = {}
    for key in sorted(strata):
        patients = list(strata[key])
        rng.shuffle(patients)
        # Largest-remainder rounding keeps every stratum's split sizes summing exactly.
        exact = weights * len(patients)
        counts = np.floor(exact).astype(int)
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[: len(patients) - counts.sum()]] += 1
        start = 0
        for name, count in zip(names, counts, strict=True):
            for patient in patients[start : start + count]:
                assignment[patient] = name
            start += count
    split_of_row = table["patient"].map(assignment)
    splits = {name: table[split_of_row == name] for name in names}
    for name, weight in zip(names, weights, strict=True):
        if weight > 0 and splits[name].empty:
            raise DataError(
                f"{source}: split {name!r} is empty ({table['patient'].nunique()} patients, "
                f"fractions {dict(fractions)}); add data or change data.split_fractions"
            )
    return splits


def graded_tables(
    read: Callable[..., pd.DataFrame],
    excluded_when: tuple[str, Callable[[pd.DataFrame], pd.Series]] | None = None,
) -> Callable[..., Tables]:
    """A table reader for single-label data: `read(root, **options)`, split by patient.

    Patients are split stratified by their highest label (grade). `excluded_when` =
    (reason, rows -> bool mask): rows dropped after splitting, so each is counted in its
    own split.
    """

    def read_tables(
        root: str, *, split_fractions: Mapping[str, float], split_seed: int, **options
    ) -> Tables:
        table = read(root, **options)
        source = table["source"].iloc[0] if len(table) else root
        parts = split_by_patient(
            table, split_fractions, seed=split_seed, stratify_by="label", source=source
        )
        if excluded_when is None:
            return Tables(parts)
        reason, drop = excluded_when
        excluded = {}
        for split, rows in parts.items():
            dropped = drop(rows)
            excluded[split] = rows[dropped].assign(reason=reason)
            parts[split] = rows[~dropped]
        return Tables(parts, excluded, (reason,))

    return read_tables
