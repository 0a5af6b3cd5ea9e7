"""The CheXpert reader on a hand-typed fixture: policies counted by hand, every bad input."""

import os

import numpy as np
import pytest

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import chexpert
from tests import fixtures
from tests.pipelines.readers import identity

# Hand counts over the fixture's frontal rows (lines 2, 4, 5, 7, 8, 9; see tests/fixtures.py),
# tasks in the order Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion:
#   positive  1 1 2 2 1      uncertain  1 2 1 1 2      negative  2 1 1 1 1     blank  2 2 2 2 2
POLICY_CASES = [
    # (reader options, label sums, mask sums, rows)
    ({}, [2, 1, 2, 3, 1], [6, 6, 6, 6, 6], 6),  # U-Ones for Atelectasis and Edema.
    ({"uncertainty": "ones"}, [2, 3, 3, 3, 3], [6] * 5, 6),
    ({"uncertainty": "zeros"}, [1, 1, 2, 2, 1], [6] * 5, 6),
    ({"uncertainty": "ignore"}, [1, 1, 2, 2, 1], [5, 4, 5, 5, 4], 6),
    ({"blank": "mask"}, [2, 1, 2, 3, 1], [4, 4, 4, 4, 4], 6),
    ({"uncertainty": "ignore", "blank": "mask"}, [1, 1, 2, 2, 1], [3, 2, 3, 3, 2], 6),
    (
        {"uncertainty": {"edema": "ignore", "Cardiomegaly": "ones"}},
        [2, 3, 2, 2, 1],
        [6, 6, 6, 5, 6],
        6,
    ),
    # Lines 3 (all blank) and 6 (= line 5: -1, 1, 0, -1, blank) join.
    ({"views": "all"}, [3, 2, 2, 4, 1], [8] * 5, 8),
    ({"views": "lateral", "blank": "mask"}, [1, 1, 0, 1, 0], [1, 1, 1, 1, 0], 2),
    ({"ap_pa": "PA"}, [1, 0, 0, 0, 1], [2] * 5, 2),  # Lines 4 and 9.
    ({"ap_pa": "AP"}, [1, 1, 1, 2, 0], [3] * 5, 3),  # Lines 2, 5, 7; not 8 (LL).
    ({"ap_pa": "AP,PA"}, [2, 1, 1, 2, 1], [5] * 5, 5),  # All frontal rows but line 8 (LL).
    ({"ap_pa": "AP", "views": "all"}, [2, 2, 1, 3, 0], [5] * 5, 5),  # Lateral rows stay.
]


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    parent = str(tmp_path_factory.mktemp("chexpert"))
    fixtures.write_chexpert_fixture(parent)
    return parent


@pytest.mark.parametrize(("options", "label_sums", "mask_sums", "rows"), POLICY_CASES)
def test_label_and_mask_counts_per_policy_match_the_hand_count(
    parent, options, label_sums, mask_sums, rows
):
    table = chexpert.read_chexpert(parent, "train.csv", **options)
    assert len(table) == rows
    np.testing.assert_array_equal(np.stack(table["label"]).sum(0), label_sums)
    np.testing.assert_array_equal(np.stack(table["mask"]).sum(0), mask_sums)


def test_ap_pa_filter_drops_the_frontal_ll_view(parent):
    lines = {"": [2, 4, 5, 7, 8, 9], "AP": [2, 5, 7], "PA": [4, 9], "AP,PA": [2, 4, 5, 7, 9]}
    for ap_pa, expected in lines.items():
        table = chexpert.read_chexpert(parent, "train.csv", ap_pa=ap_pa)
        assert list(table["line"]) == expected
    table = chexpert.read_chexpert(parent, "train.csv", views="all")
    assert list(table["ap_pa"]) == ["AP", "", "PA", "AP", "", "AP", "LL", "PA"]
    assert (
        list(table["view"])
        == ["frontal", "lateral"] + ["frontal"] * 2 + ["lateral"] + ["frontal"] * 3
    )


def test_rows_carry_paths_patients_studies_and_lines(parent):
    table = chexpert.read_chexpert(parent, "train.csv", views="all")
    first = table.iloc[2]  # Line 4.
    # The identity is the canonical path below the root, without the root folder's name.
    assert first["line"] == 4
    assert first["image"] == "train/patient00002/study1/view1_frontal.jpg"
    root = os.path.join(os.path.abspath(parent), "CheXpert-v1.0-small")
    assert first["path"] == os.path.join(root, "train/patient00002/study1/view1_frontal.jpg")
    assert (first["patient"], first["study"], first["view"], first["ap_pa"]) == (
        "patient00002",
        "patient00002/study1",
        "frontal",
        "PA",
    )
    assert (first["sex"], first["age"]) == ("Male", 87)
    np.testing.assert_array_equal(first["label"], [1, 0, 0, 0, 1])  # Default policy.
    assert first["label"].dtype == np.float32 and first["mask"].shape == (5,)
    assert list(table["line"]) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert table["patient"].nunique() == 4 and table["study"].nunique() == 5


def test_both_root_names_a_renamed_root_and_the_root_itself(tmp_path):
    small = fixtures.write_chexpert_fixture(str(tmp_path / "a"), "CheXpert-v1.0-small")
    full = fixtures.write_chexpert_fixture(str(tmp_path / "b"), "CheXpert-v1.0")
    renamed = fixtures.write_chexpert_fixture(str(tmp_path / "c"), "xrays", "CheXpert-v1.0-small")
    for directory, root in [
        (str(tmp_path / "a"), small),
        (small, small),
        (str(tmp_path / "b"), full),
        (full, full),
        (renamed, renamed),
    ]:
        table = chexpert.read_chexpert(directory, "train.csv")
        assert len(table) == 6
        assert all(p.startswith(os.path.abspath(root) + os.sep) for p in table["path"])
        assert all(os.path.exists(p) for p in table["path"])
        # One identity whatever the root's name: the path below it.
        assert table["image"].iloc[0] == "train/patient00001/study1/view1_frontal.jpg"


def test_two_roots_side_by_side_are_ambiguous(tmp_path):
    fixtures.write_chexpert_fixture(str(tmp_path), "CheXpert-v1.0-small")
    fixtures.write_chexpert_fixture(str(tmp_path), "CheXpert-v1.0")
    with pytest.raises(DataError, match="holds both CheXpert-v1.0-small/ and CheXpert-v1.0/"):
        chexpert.read_chexpert(str(tmp_path))
    with pytest.raises(DataError, match="no CheXpert train.csv"):
        chexpert.read_chexpert(str(tmp_path / "CheXpert-v1.0-small" / "train"))


def test_valid_csv_has_only_definite_labels(parent):
    table = chexpert.read_chexpert(parent, "valid.csv", uncertainty="ignore", blank="mask")
    assert len(table) == 2 and (np.stack(table["mask"]) == 1).all()
    np.testing.assert_array_equal(np.stack(table["label"]), [[0, 1, 0, 1, 1], [0] * 5])


def test_bad_policies_and_filters():
    with pytest.raises(ValueError, match="unknown task 'effusion'"):
        chexpert.uncertainty_policy({"effusion": "ones"})
    with pytest.raises(ValueError, match="uncertainty policy 'maybe' for Edema"):
        chexpert.uncertainty_policy({"edema": "maybe"})
    with pytest.raises(ValueError, match="unknown blank policy"):
        chexpert.read_chexpert(".", blank="ones")
    with pytest.raises(ValueError, match="unknown views 'side'"):
        chexpert.read_chexpert(".", views="side")
    with pytest.raises(ValueError, match=r"unknown ap_pa value\(s\) \['LL'\]"):
        chexpert.read_chexpert(".", ap_pa="LL")


# ---- Bad input: every message names the file and the line. ------------------------------

GOOD_ROW = "{root}/train/patient00009/study1/view1_frontal.jpg,Male,50,Frontal,AP" + ",1.0" * 14


@pytest.fixture
def root(tmp_path):
    return fixtures.write_chexpert_fixture(str(tmp_path))


def _append(root, row):
    """Appends `row` to train.csv (it becomes line 10); returns the CSV's path."""
    path = os.path.join(root, "train.csv")
    with open(path, "a") as f:
        f.write(row.format(root="CheXpert-v1.0-small") + "\n")
    return path


def _raises(root, row, message):
    path = _append(root, row)
    with pytest.raises(DataError, match=rf"{path} line 10: {message}"):
        chexpert.read_chexpert(root, "train.csv")


@pytest.mark.parametrize("cell", ["yes", "2.0", "1.5", "nan", "positive", "-2"])
def test_unknown_label_string(root, cell):
    cells = ["1.0"] * 14
    cells[5] = cell  # Edema.
    row = GOOD_ROW[: -len(",1.0" * 14)] + "," + ",".join(cells)
    _raises(root, row, rf"Edema='{cell}' is not a CheXpert label \(1.0, 0.0, -1.0 or blank\)")


def test_too_many_cells(root):
    _raises(root, GOOD_ROW + ",1.0", r"20 cells, expected 19")


def test_too_few_cells(root):
    _raises(root, GOOD_ROW[: -len(",1.0")], r"18 cells, expected 19")


@pytest.mark.parametrize(
    ("column", "old", "new"),
    [
        ("Frontal/Lateral", "Frontal", "Oblique"),
        ("AP/PA", "AP", "LAT"),
        ("Sex", "Male", "M"),
        ("Age", "50", "fifty"),
    ],
)
def test_unknown_view_projection_sex_or_age(root, column, old, new):
    _raises(root, GOOD_ROW.replace(f",{old},", f",{new},", 1), rf"{column}='{new}' is not one of")


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("CheXpert-v1.0-small/../../../etc/patient1/study1/view1_frontal.jpg", "escapes the root"),
        ("../train/patient00009/study1/view1_frontal.jpg", "escapes the root"),
        ("/etc/train/patient00009/study1/view1_frontal.jpg", "must be relative"),
        ("CheXpert-v1.0-small/train/patient00009/view1_frontal.jpg", "is not of the form"),
        ("CheXpert-v1.0-small/train/p9/study1/view1_frontal.jpg", "is not of the form"),
    ],
)
def test_paths_that_escape_the_root_or_break_the_layout(root, image, message):
    _raises(root, image + GOOD_ROW[GOOD_ROW.index(",") :], rf".*{message}")


def test_duplicate_path(root):
    row = "{root}/train/patient00002/study1/view1_frontal.jpg" + GOOD_ROW[GOOD_ROW.index(",") :]
    _raises(root, row, r"duplicate Path .* \(first seen on line 4\)")


LINE_4 = "CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.jpg"


@pytest.mark.parametrize(
    "spelling",
    [
        "..././train/patient00002/study1/view1_frontal.jpg",
        "CheXpert-v1.0-small/./train/patient00002/study1/view1_frontal.jpg",
        "CheXpert-v1.0-small/train//patient00002/study1/view1_frontal.jpg",
        "train/patient00002/study1/view1_frontal.jpg",
        "CheXpert-v1.0-small/train/patient00001/../patient00002/study1/view1_frontal.jpg",
    ],
)
def test_one_image_under_two_spellings_is_a_duplicate(root, spelling):
    path = _append(root, spelling + GOOD_ROW[GOOD_ROW.index(",") :])
    image = os.path.join(os.path.abspath(root), "train/patient00002/study1/view1_frontal.jpg")
    what = f"the image file {image}"
    with pytest.raises(
        DataError, match=identity.duplicate(path, 10, "Path", spelling, 4, LINE_4, what)
    ):
        chexpert.read_chexpert(root, "train.csv")


def test_image_patient_and_study_come_from_the_canonical_path(root):
    _append(
        root,
        "..././train/patient00009/./study2//view1_frontal.jpg" + GOOD_ROW[GOOD_ROW.index(",") :],
    )
    last = chexpert.read_chexpert(root, "train.csv").iloc[-1]
    assert last["image"] == "train/patient00009/study2/view1_frontal.jpg"
    assert (last["patient"], last["study"]) == ("patient00009", "patient00009/study2")
    assert last["path"] == os.path.join(os.path.abspath(root), last["image"])


def test_a_train_image_spelled_into_valid_csv_is_refused(root):
    path = os.path.join(root, "valid.csv")
    with open(path, "a") as f:
        f.write("CheXpert-v1.0-small/valid/../train/patient00002/study1/view1_frontal.jpg")
        f.write(",Male,1,Frontal,AP" + ",0.0" * 14 + "\n")
    with pytest.raises(DataError, match=rf"{path} line 5: patient patient00002 is also in"):
        _load(root)


def test_blank_lines_keep_line_numbers_exact(root):
    path = _append(root, "")
    _append(root, GOOD_ROW.replace("1.0", "x", 1))
    with pytest.raises(DataError, match=rf"{path} line 11: No Finding='x'"):
        chexpert.read_chexpert(root, "train.csv")


def test_missing_column_missing_file_and_nothing_left(root):
    path = os.path.join(root, "train.csv")
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text.replace(",Fracture,", ",Fractures,", 1))
    with pytest.raises(DataError, match=rf"{path}: missing required column\(s\) \['Fracture'\]"):
        chexpert.read_chexpert(root)
    os.remove(path)
    with pytest.raises(DataError, match="no CheXpert train.csv"):
        chexpert.read_chexpert(root)
    path = os.path.join(root, "valid.csv")
    lateral = fixtures.CHEXPERT_VALID_CSV.format(root="CheXpert-v1.0-small").splitlines()[-1]
    with open(path, "w") as f:  # Only a lateral view.
        f.write(fixtures.CHEXPERT_HEADER + lateral + "\n")
    with pytest.raises(
        DataError, match=rf"{path}: no images left after views='frontal', ap_pa='' \(1 rows read\)"
    ):
        chexpert.read_chexpert(root, "valid.csv")


# ---- The registered dataset: splits, bad images, overlap. --------------------------------


def _load(root, **kw):
    fractions = kw.pop("split_fractions", {"train": 0.5, "valid_internal": 0.5})
    return datasets.load_dataset("chexpert", root, split_fractions=fractions, **kw)


def test_registry_splits_train_by_patient_and_adds_the_official_valid(parent):
    data = _load(parent, views="all")
    assert set(data.splits) == {"train", "valid_internal", "valid"}
    assert data.label_names == chexpert.TASKS
    train, internal = data.splits["train"].rows(), data.splits["valid_internal"].rows()
    assert not set(train["patient"]) & set(internal["patient"])
    assert len(train) + len(internal) == 8 and len(data.splits["valid"].rows()) == 3
    summary = data.summary()["splits"]
    assert summary["valid"]["labels"]["Pleural Effusion"] == {
        "positive": 1,
        "negative": 2,
        "masked": 0,
    }
    with pytest.raises(ValueError, match="split name 'valid' is the official valid.csv"):
        _load(parent, split_fractions={"train": 0.5, "valid": 0.5})


def test_missing_and_corrupt_images_name_the_file_and_line(root):
    victim = os.path.join(root, "train", "patient00003", "study1", "view2_frontal.jpg")
    os.remove(victim)
    with pytest.raises(DataError) as e:
        _load(root)
    assert f"{victim}: missing file ({os.path.join(root, 'train.csv')} line 8)" in str(e.value)
    with open(victim, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 truncated")
    valid_victim = os.path.join(root, "valid", "patient00005", "study1", "view1_frontal.jpg")
    with open(valid_victim, "wb") as f:
        f.write(b"not a jpeg")
    data = _load(root, on_bad_image="skip")
    assert [b.describe() for b in data.bad_images] == [
        f"{victim}: truncated JPEG (no end-of-image marker) ({root}/train.csv line 8)",
        f"{valid_victim}: not a JPEG, PNG or TIFF file ({root}/valid.csv line 2)",
    ]
    assert data.summary()["skipped_images"] == 2 and len(data.splits["valid"].rows()) == 1


def test_a_patient_in_both_csvs_is_refused(root):
    path = os.path.join(root, "valid.csv")
    with open(path, "a") as f:
        f.write(
            "CheXpert-v1.0-small/valid/patient00002/study9/view1_frontal.jpg,Male,1,Frontal,AP"
            + ",0.0" * 14
            + "\n"
        )
    with pytest.raises(DataError, match=rf"{path} line 5: patient patient00002 is also in"):
        _load(root)
