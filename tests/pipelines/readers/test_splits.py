import numpy as np
import pandas as pd
import pytest

from pipelines.errors import DataError
from pipelines.readers.splits import split_by_patient


def _table(num_patients=100, seed=0):
    rng = np.random.default_rng(seed)
    grades = rng.choice(5, size=num_patients, p=[0.73, 0.07, 0.15, 0.025, 0.025])
    rows = []
    for p, g in enumerate(grades):
        rows += [{"patient": str(p), "label": int(g)}, {"patient": str(p), "label": int(g) // 2}]
    return pd.DataFrame(rows)


def test_no_patient_in_two_splits_and_every_row_assigned():
    table = _table()
    parts = split_by_patient(table, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed=3)
    seen = [set(p["patient"]) for p in parts.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert sum(len(p) for p in parts.values()) == len(table)
    assert [p["patient"].nunique() for p in parts.values()] == [80, 10, 10]


def test_same_seed_same_split_other_seed_other_split():
    table = _table()
    fractions = {"train": 0.5, "test": 0.5}
    a = split_by_patient(table, fractions, seed=1)["test"]["patient"].tolist()
    b = split_by_patient(table, fractions, seed=1)["test"]["patient"].tolist()
    c = split_by_patient(table, fractions, seed=2)["test"]["patient"].tolist()
    assert a == b and a != c


def test_stratified_split_puts_every_grade_with_enough_patients_in_each_split():
    table = _table(400)
    parts = split_by_patient(
        table, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed=0, stratify_by="label"
    )
    worst = table.groupby("patient")["label"].max()
    for grade in range(5):
        patients = set(worst.index[worst == grade])
        counts = [len(patients & set(p["patient"])) for p in parts.values()]
        # Largest-remainder rounding of 0.8/0.1/0.1 of each grade's patients.
        exact = np.array([0.8, 0.1, 0.1]) * len(patients)
        assert all(abs(c - e) < 1 for c, e in zip(counts, exact, strict=True))


def test_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_patient(_table(), {"train": 0.8, "test": 0.1}, seed=0)


def test_empty_split_raises_with_counts():
    with pytest.raises(DataError, match=r"labels.csv: split 'test' is empty \(1 patients"):
        split_by_patient(_table(1), {"train": 0.5, "test": 0.5}, seed=0, source="labels.csv")
