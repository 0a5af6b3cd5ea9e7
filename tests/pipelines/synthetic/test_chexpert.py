"""The synthetic CheXpert set: the real layout, label rates, determinism, not trivial."""

import csv
import filecmp
import os
import re

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from pipelines import datasets
from pipelines.readers import chexpert
from pipelines.synthetic import chexpert as synthetic_chexpert

PATH = re.compile(
    r"^CheXpert-v1\.0-small/(train|valid)/patient\d{5}/study\d+/view\d_(frontal|lateral)\.jpg$"
)


def _rows(root, split):
    path = os.path.join(root, "CheXpert-v1.0-small", f"{split}.csv")
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csvs_have_the_real_columns_paths_and_cells(chexpert_root):
    for split in ("train", "valid"):
        header, *rows = _rows(chexpert_root, split)
        assert tuple(header) == chexpert.COLUMNS and len(header) == 19
        for row in rows:
            assert len(row) == 19 and PATH.match(row[0]) and row[0].split("/")[1] == split
            assert row[1] in ("Male", "Female", "Unknown") and row[2].isdigit()
            # As in the real train.csv: frontal rows AP or PA, lateral rows blank.
            assert (row[3], row[4]) in {("Frontal", "AP"), ("Frontal", "PA"), ("Lateral", "")}
            cells = row[5:]
            assert set(cells) <= (
                {"1.0", "0.0"} if split == "valid" else {"1.0", "0.0", "-1.0", ""}
            )
            findings = [
                c
                for name, c in zip(chexpert.OBSERVATIONS, cells, strict=True)
                if name not in ("No Finding", "Support Devices")
            ]
            assert (cells[0] == "1.0") == (not {"1.0", "-1.0"} & set(findings)), row
    header, *rows = _rows(chexpert_root, "train")
    assert {r[3] for r in rows} == {"Frontal", "Lateral"}


def test_images_are_grayscale_jpegs_and_views_of_a_study_share_labels(chexpert_root):
    _, *rows = _rows(chexpert_root, "train")
    by_study = {}
    for row in rows:
        with Image.open(os.path.join(chexpert_root, row[0])) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "L", (40, 40))
        by_study.setdefault(row[0].rsplit("/", 1)[0], set()).add(tuple(row[5:]))
    assert all(len(labels) == 1 for labels in by_study.values())
    valid_patients = {r[0].split("/")[2] for r in _rows(chexpert_root, "valid")[1:]}
    assert not valid_patients & {r[0].split("/")[2] for r in rows}


def test_label_rates_follow_the_real_train_csv():
    rng = np.random.default_rng(0)
    draws = [synthetic_chexpert.sample_study_labels(rng, "train") for _ in range(20000)]
    for name in chexpert.TASKS:
        cells = np.array([d[name] for d in draws])
        positive, uncertain, negative = synthetic_chexpert.TRAIN_RATES[name]
        for value, rate in (("1.0", positive), ("-1.0", uncertain), ("0.0", negative)):
            assert abs((cells == value).mean() - rate) < 0.012, (name, value)
        assert (cells == "").mean() > 0.4  # Most cells are blank, as in the real file.
    no_finding = np.mean([d["No Finding"] == "1.0" for d in draws])
    assert 0.07 < no_finding < 0.15, no_finding


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    one = synthetic_chexpert.write_chexpert(
        str(tmp_path / "a"), num_patients=6, image_size=32, seed=3, num_valid_patients=2
    )
    two = synthetic_chexpert.write_chexpert(
        str(tmp_path / "b"), num_patients=6, image_size=32, seed=3, num_valid_patients=2, workers=2
    )
    assert one["train"] == two["train"] and one["valid"]["patients"] == 2
    for directory, _, files in os.walk(tmp_path / "a"):
        for name in files:
            twin = os.path.join(
                str(directory).replace(str(tmp_path / "a"), str(tmp_path / "b")), name
            )
            assert filecmp.cmp(os.path.join(directory, name), twin, shallow=False), name


def test_the_reader_reads_what_the_writer_wrote(chexpert_root):
    data = datasets.load_dataset(
        "chexpert", chexpert_root, split_fractions={"train": 1.0}, views="all", uncertainty="ignore"
    )
    _, *rows = _rows(chexpert_root, "train")
    assert len(data.splits["train"].rows()) == len(rows)
    labels = data.summary()["splits"]["train"]["labels"]["Edema"]
    edema = [r[5 + chexpert.OBSERVATIONS.index("Edema")] for r in rows]
    assert labels == {
        "positive": edema.count("1.0"),
        "negative": edema.count("0.0") + edema.count(""),
        "masked": edema.count("-1.0"),
    }


def _global_features(root, split):
    table = chexpert.read_chexpert(root, f"{split}.csv")
    features = []
    for path in table["path"]:
        pixels = np.asarray(Image.open(path), np.float32)
        features.append(
            [pixels.mean(), pixels.std(), *np.percentile(pixels, [5, 10, 25, 50, 75, 90, 95])]
        )
    return np.array(features), np.stack(table["label"])


@pytest.mark.slow
def test_global_intensity_statistics_do_not_predict_the_labels(tmp_path):
    synthetic_chexpert.write_chexpert(
        str(tmp_path), num_patients=500, image_size=64, seed=5, num_valid_patients=150
    )
    x_train, y_train = _global_features(str(tmp_path), "train")
    x_valid, y_valid = _global_features(str(tmp_path), "valid")
    scaler = StandardScaler().fit(x_train)
    aucs = []
    for k in range(5):
        model = LogisticRegression(max_iter=1000).fit(scaler.transform(x_train), y_train[:, k])
        aucs.append(
            roc_auc_score(y_valid[:, k], model.predict_proba(scaler.transform(x_valid))[:, 1])
        )
    assert np.mean(aucs) <= 0.70, aucs
