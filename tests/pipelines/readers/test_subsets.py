"""Small-data subsets: exact sizes, whole patients, strata kept, nested, seeded."""

import pandas as pd
import pytest

from pipelines import datasets
from pipelines.readers import subsets


def _rows(grades_by_patient):
    """One row per image: patient 'p<i>' with the listed per-image grades."""
    rows = [
        {"patient": f"p{i:02d}", "label": grade}
        for i, grades in enumerate(grades_by_patient)
        for grade in grades
    ]
    table = pd.DataFrame(rows)
    table["line"] = range(2, 2 + len(table))
    return table


# 20 single-image patients: 12 of grade 0, 4 of grade 2, 4 of grade 4.
SINGLE = _rows([[0]] * 12 + [[2]] * 4 + [[4]] * 4)
# 10 two-eye patients (worst grades: 6 x 0, 2 x 1, 2 x 3) and 2 one-image patients.
PAIRS = _rows([[0, 0]] * 6 + [[0, 1], [1, 1], [3, 0], [3, 3]] + [[0], [2]])


@pytest.mark.parametrize(
    ("n", "per_grade"),
    [(5, {0: 3, 2: 1, 4: 1}), (10, {0: 6, 2: 2, 4: 2}), (15, {0: 9, 2: 3, 4: 3})],
)
def test_single_image_patients_give_exactly_n_with_the_grade_shares(n, per_grade):
    for seed in range(5):
        subset = subsets.stratified_subset(SINGLE, n, seed=seed)
        assert len(subset) == n
        counts = subset["label"].value_counts().to_dict()
        # Evenly spaced positions: each stratum's count is within one of n * share.
        for grade, expected in per_grade.items():
            assert abs(counts.get(grade, 0) - expected) <= 1, (seed, counts)


def test_patients_stay_whole_and_sizes_are_bounded():
    for seed in range(10):
        for n in range(1, len(PAIRS) + 1):
            subset = subsets.stratified_subset(PAIRS, n, seed=seed)
            assert n - 1 <= len(subset) <= n  # Largest patient: 2 images.
            whole = PAIRS[PAIRS["patient"].isin(subset["patient"])]
            assert len(whole) == len(subset)  # No patient cut in half.


def test_subsets_of_one_seed_are_nested_and_in_table_order():
    sweep = subsets.subset_sweep(PAIRS, (4, 10, 16, subsets.ALL), seed=3)
    assert list(sweep) == [4, 10, 16, 0]
    # Seed 3: the prefixes stop at 9 and 15 images where a two-eye patient would overflow.
    assert sweep[0] is PAIRS and len(sweep[10]) == 9 and len(sweep[16]) == 15
    for small, large in ((4, 10), (10, 16)):
        assert set(sweep[small]["line"]) <= set(sweep[large]["line"])
    assert list(sweep[10]["line"]) == sorted(sweep[10]["line"])


def test_seed_changes_the_choice_and_fixes_it():
    a = subsets.stratified_subset(SINGLE, 10, seed=0)
    assert a.equals(subsets.stratified_subset(SINGLE, 10, seed=0))
    assert any(not a.equals(subsets.stratified_subset(SINGLE, 10, seed=s)) for s in range(1, 4))


def test_stratified_order_by_hand():
    rows = _rows([[0], [0], [1], [1]])
    order = subsets.stratified_order(rows, seed=0)
    # Two strata of two: positions (i + u) / 2 interleave them, one of each per half.
    first_half = rows.set_index("patient").loc[order[:2], "label"]
    assert sorted(first_half) == [0, 1]
    assert sorted(order) == ["p00", "p01", "p02", "p03"]


def test_too_large_or_negative_sizes_raise():
    with pytest.raises(ValueError, match=r"subset of 21 images requested from a split of 20"):
        subsets.stratified_subset(SINGLE, 21, seed=0)
    with pytest.raises(ValueError, match=r"subset of -1 images"):
        subsets.subset_sweep(SINGLE, (5, -1), seed=0)


def test_load_dataset_cuts_the_train_split_and_reports_it(eyepacs_root):
    fractions = {"train": 0.5, "valid": 0.25, "test": 0.25}
    full = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=fractions)
    data = datasets.load_dataset(
        "eyepacs", eyepacs_root, split_fractions=fractions, subset_sizes={"train": 11}
    )
    train = data.splits["train"].rows()
    assert len(train) == 10  # Two eyes per patient: 11 rounds down to 10.
    assert set(train["line"]) <= set(full.splits["train"].rows()["line"])
    assert data.splits["valid"].rows().equals(full.splits["valid"].rows())
    summary = data.summary()["splits"]["train"]
    assert summary["subset"] == {"requested": 11, "images": 10, "of": 40, "seed": 0}
    with pytest.raises(ValueError, match=r"subset of unknown split 'tune'"):
        datasets.load_dataset(
            "eyepacs", eyepacs_root, split_fractions=fractions, subset_sizes={"tune": 4}
        )


def test_config_field_reaches_the_training_split(eyepacs_root):
    from transfusion_tf import experiment
    from transfusion_tf.configs import retina

    config = retina.get_config("test")
    config.data.root = eyepacs_root
    # 8 patients per grade: 6.4, 0.8, 0.8 round to 6, 1, 1 (largest remainders).
    assert experiment.load_data(config).splits["train"].rows().shape[0] == 60
    config.data.train_subset = 20
    config.data.subset_seed = 4
    data = experiment.load_data(config)
    assert len(data.splits["train"].rows()) == 20 and len(data.splits["test"].rows()) == 10
    assert data.summary()["splits"]["train"]["subset"]["seed"] == 4
