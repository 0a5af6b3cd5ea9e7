"""Patient-level splits: no patient's images ever sit in two splits."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipelines.errors import DataError


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
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {dict(fractions)}")
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
