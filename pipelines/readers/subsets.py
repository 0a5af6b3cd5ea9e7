"""Small-data regime: seeded, patient-aware, stratified subsets of a training split.

The paper's small-data experiments (its Table 3) train on 5,000 images. `stratified_subset`
draws such a subset so that

- patients stay whole (both eyes of a patient are in or out together);
- each stratum (patients grouped by their worst grade, as `splits.split_by_patient`
  does) keeps its share of patients;
- subsets of one seed are nested: the 1,000-image subset lies inside the 5,000-image one,
  so a sweep over sizes only ever adds images.

How: patients of each stratum are shuffled (seeded) and given evenly spaced positions
(i + u) / n_s in [0, 1), with one seeded offset u per stratum; all patients sorted by
position form one stratified order, and a subset of n images is its longest prefix
holding at most n images. With one image per patient that is exactly n; with two per
patient (EyePACS) n rounded down to even; in general between n - (largest patient - 1)
and n.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from errors import UsageError

ALL = 0  # A size meaning "the whole split".


def stratified_order(
    rows: pd.DataFrame, *, seed: int, stratify_by: str | None = "label"
) -> list[str]:
    """Every patient of `rows`, in the seeded stratified order subsets are prefixes of.

    Args:
      rows: rows with a `patient` column (and `stratify_by`, an orderable column).
      seed: seeds the order.
      stratify_by: the column whose per-patient maximum defines the strata; None for one
        stratum.

    Returns:
      Patient ids (str), each once.
    """
    patients = rows["patient"].astype(str)
    if stratify_by is None:
        strata = {0: sorted(patients.unique())}
    else:
        worst = rows.groupby(patients)[stratify_by].max()
        strata = {key: sorted(group.index) for key, group in worst.groupby(worst)}
    rng = np.random.default_rng(seed)
    keyed = []
    for rank, key in enumerate(sorted(strata)):
        members = list(strata[key])
        rng.shuffle(members)
        offset = rng.random()
        count = len(members)
        # The rank breaks ties between strata deterministically.
        keyed += [((i + offset) / count, rank, p) for i, p in enumerate(members)]
    return [patient for _, _, patient in sorted(keyed)]


def stratified_subset(
    rows: pd.DataFrame,
    n: int,
    *,
    seed: int,
    stratify_by: str | None = "label",
) -> pd.DataFrame:
    """A seeded subset of about `n` images of `rows`, patients whole, strata kept.

    Args:
      rows: one split's rows (`patient` column, and `stratify_by`).
      n: images wanted; `ALL` (0) returns `rows` unchanged.
      seed: seeds the choice; the same (rows, seed) give nested subsets for growing n.
      stratify_by: see `stratified_order`.

    Returns:
      The chosen rows, in the order of `rows`: at most n images and at least
      n - (largest patient's image count - 1).

    Raises:
      ValueError: if n is negative or larger than the number of rows.
    """
    if n == ALL:
        return rows
    if n < 0 or n > len(rows):
        raise UsageError(
            f"subset of {n} images requested from a split of {len(rows)} images "
            f"({rows['patient'].nunique()} patients); use 0 for all of them"
        )
    sizes = rows["patient"].astype(str).value_counts()
    chosen, total = set(), 0
    for patient in stratified_order(rows, seed=seed, stratify_by=stratify_by):
        if total + sizes[patient] > n:
            break
        chosen.add(patient)
        total += sizes[patient]
    return rows[rows["patient"].astype(str).isin(chosen)]


def subset_sweep(
    rows: pd.DataFrame,
    sizes: Iterable[int],
    *,
    seed: int,
    stratify_by: str | None = "label",
) -> dict[int, pd.DataFrame]:
    """Nested subsets for several sizes, e.g. (1000, 5000, 20000, ALL).

    Args:
      rows: one split's rows.
      sizes: images per subset; `ALL` (0) is the whole split.
      seed: one seed for all sizes, so the subsets are nested.
      stratify_by: see `stratified_order`.

    Returns:
      size -> rows, in the order of `sizes`.

    Raises:
      ValueError: if a size is negative or larger than the split (the message names it).
    """
    return {n: stratified_subset(rows, n, seed=seed, stratify_by=stratify_by) for n in sizes}
