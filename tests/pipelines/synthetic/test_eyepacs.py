"""Tests for pipelines/synthetic/eyepacs.py (the synthetic EyePACS writer)."""

import csv
import os
import re

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.synthetic import fundus_files
from pipelines.synthetic.eyepacs import (
    GRADE_FREQUENCIES,
    grade_pair_probabilities,
    sample_grades,
    write_eyepacs,
)


def _tree(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("eyepacs"))
    summary = write_eyepacs(root, num_patients=7, image_size=48, seed=3)
    return root, summary


def test_same_seed_same_bytes_any_workers(small_set, tmp_path):
    root, _ = small_set
    write_eyepacs(str(tmp_path / "w2"), num_patients=7, image_size=48, seed=3, workers=2)
    a, b = _tree(root), _tree(str(tmp_path / "w2"))
    assert sorted(a) == sorted(b)
    assert a == b


def test_other_seed_other_images(small_set, tmp_path):
    root, _ = small_set
    write_eyepacs(str(tmp_path / "s4"), num_patients=7, image_size=48, seed=4)
    a, b = _tree(root), _tree(str(tmp_path / "s4"))
    images_a = {v for k, v in a.items() if k.endswith(".jpeg")}
    images_b = {v for k, v in b.items() if k.endswith(".jpeg")}
    assert len(images_a) == len(images_b) == 14
    assert not images_a & images_b
    assert a["trainLabels.csv"] != b["trainLabels.csv"]


def test_layout_csv_and_files(small_set):
    root, summary = small_set
    with open(os.path.join(root, "trainLabels.csv"), newline="") as f:
        text = f.read()
    lines = text.split("\n")
    assert lines[0] == "image,level"
    assert lines[-1] == ""  # ends with a newline
    rows = lines[1:-1]
    assert len(rows) == 14
    assert all(re.fullmatch(r"[1-9]\d*_(left|right),[0-4]", r) for r in rows)
    names = [r.split(",")[0] for r in rows]
    patients = [int(n.split("_")[0]) for n in names]
    # Kaggle order: by patient id, left before right.
    assert names == [f"{p}_{e}" for p in sorted(set(patients)) for e in ("left", "right")]
    assert patients[0] >= 10
    assert sorted(os.listdir(os.path.join(root, "train"))) == sorted(n + ".jpeg" for n in names)
    assert sorted(os.listdir(root)) == ["train", "trainLabels.csv"]
    with Image.open(os.path.join(root, "train", names[0] + ".jpeg")) as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (48, 48)
    levels = [int(r.split(",")[1]) for r in rows]
    assert summary["grade_counts"] == {g: levels.count(g) for g in range(5)}
    assert summary["num_images"] == 14 and summary["num_patients"] == 7
    assert summary["labels_csv"] == os.path.join(root, "trainLabels.csv")
    assert summary["image_dir"] == os.path.join(root, "train")


def test_interrupted_run_leaves_no_labels_and_no_partial_files(tmp_path, monkeypatch):
    calls = []
    real = fundus_files.render_fundus

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fundus_files, "render_fundus", failing)
    with pytest.raises(KeyboardInterrupt):
        write_eyepacs(str(tmp_path), num_patients=4, image_size=40, seed=0)
    assert os.listdir(tmp_path) == ["train"]
    files = sorted(os.listdir(tmp_path / "train"))
    assert len(files) == 2 and all(f.endswith(".jpeg") for f in files)


@pytest.mark.parametrize(
    "kwargs", [{"num_patients": 0}, {"workers": 0}, {"jpeg_quality": 0}, {"jpeg_quality": 96}]
)
def test_bad_arguments_raise(tmp_path, kwargs):
    args = {"num_patients": 1, "image_size": 40, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        write_eyepacs(str(tmp_path), **args)


def test_joint_grade_distribution_is_symmetric_with_eyepacs_marginals():
    joint = grade_pair_probabilities()
    assert joint.shape == (5, 5)
    np.testing.assert_allclose(joint, joint.T, atol=1e-15)
    np.testing.assert_allclose(joint.sum(axis=1), GRADE_FREQUENCIES, atol=1e-12)
    np.testing.assert_allclose(
        GRADE_FREQUENCIES, [0.7348, 0.0696, 0.1507, 0.0249, 0.0202], atol=1e-4
    )


def test_sampled_grade_frequencies():
    left, right = sample_grades(np.random.default_rng(0), 100_000)
    assert left.dtype == right.dtype == np.int64
    for eye in (left, right):
        freq = np.bincount(eye, minlength=5) / len(eye)
        np.testing.assert_allclose(freq, [0.73, 0.07, 0.15, 0.025, 0.02], atol=0.006)


def test_eyes_are_correlated():
    left, right = sample_grades(np.random.default_rng(1), 100_000)
    independent = float((GRADE_FREQUENCIES**2).sum())
    same = (left == right).mean()
    assert independent < 0.57 and same > 0.85
    # Referable status agrees far more often than for independent eyes.
    ref_l, ref_r = left >= 2, right >= 2
    p = ref_l.mean()
    assert (ref_l == ref_r).mean() > 0.93 > p * p + (1 - p) * (1 - p) + 0.1
    # When the eyes differ, they differ by one grade.
    assert np.abs(left - right).max() == 1


def test_sample_grades_is_deterministic():
    a = sample_grades(np.random.default_rng(5), 50)
    b = sample_grades(np.random.default_rng(5), 50)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.slow
def test_global_colour_statistics_barely_predict_referable_dr(tmp_path):
    # The task must not be solvable from the exposure and tint of a photograph: a logistic
    # regression on per-image mean and std of each channel, trained on half the patients,
    # scores the other half.
    root = str(tmp_path)
    write_eyepacs(root, num_patients=400, image_size=64, seed=11, workers=2)
    with open(os.path.join(root, "trainLabels.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    pixels = np.stack(
        [
            np.asarray(Image.open(os.path.join(root, "train", f"{name}.jpeg")), np.float64)
            for name, _ in rows
        ]
    ).reshape(len(rows), -1, 3)
    features = np.concatenate([pixels.mean(axis=1), pixels.std(axis=1)], axis=1)
    referable = np.array([int(level) >= 2 for _, level in rows])
    train = np.array([int(name.split("_")[0]) for name, _ in rows]) % 2 == 0
    assert 60 < referable[~train].sum() < referable[~train].size - 60
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        features[train], referable[train]
    )
    auc = roc_auc_score(referable[~train], model.predict_proba(features[~train])[:, 1])
    assert auc <= 0.70
