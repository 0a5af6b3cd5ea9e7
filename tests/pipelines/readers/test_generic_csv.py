"""The generic CSV dataset: identity, patients, bad rows named or counted, multi-label, training."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import generic_csv, inspection
from tests.pipelines.readers import identity
from transfusion_tf import evaluation, experiment, trainer
from transfusion_tf.configs import retina

HALVES = {"train": 0.5, "valid": 0.5}
# Twelve images of six patients: p1 .. p6, two images each, classes 0-2.
ROWS = [(f"images/p{p}_{k}.png", (p + k) % 3, f"p{p}") for p in range(1, 7) for k in (0, 1)]


@pytest.fixture
def root(tmp_path):
    os.makedirs(tmp_path / "images")
    for image, label, _ in ROWS:
        Image.fromarray(np.full((8, 12, 3), 40 * label, np.uint8)).save(tmp_path / image)
    _write(tmp_path, "image,label,patient", [",".join(map(str, row)) for row in ROWS])
    return str(tmp_path)


def _write(root, header, lines, name="labels.csv"):
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write("\n".join([header, *lines]) + "\n")
    return path


def _load(root, **options):
    return datasets.load_dataset("csv", root, split_fractions=HALVES, **options)


def test_rows_keep_patients_whole_under_their_canonical_identity(root):
    lines = [f"{'./' if k else ''}{i},{label},{p}" for k, (i, label, p) in enumerate(ROWS)]
    _write(root, "image,label,patient,notes", [line + ",x" for line in lines])
    data = _load(root)
    rows = pd.concat([part.rows() for part in data.splits.values()])
    assert sorted(rows["image"]) == sorted(i for i, _, _ in ROWS)  # './' resolved away.
    assert sorted(rows["path"]) == sorted(os.path.join(root, i) for i, _, _ in ROWS)
    train, valid = (set(data.splits[s].rows()["patient"]) for s in ("train", "valid"))
    assert len(train) == len(valid) == 3 and not train & valid
    assert rows["label"].dtype == np.int64 and sorted(rows["label"]) == [0] * 4 + [1] * 4 + [2] * 4
    assert data.label_names == ("0", "1", "2") and list(rows.columns[:4]) == [
        "image", "path", "patient", "line",
    ]  # fmt: skip
    assert generic_csv.label_columns({}) == ("label",)


def test_without_a_patient_column_every_image_is_its_own_patient(root):
    _write(root, "image,label", [f"./{i},{label}" for i, label, _ in ROWS])
    rows = _load(root, class_names=("a", "b", "c")).splits["train"].rows()
    assert list(rows["patient"]) == list(rows["image"]) and len(rows) == 6
    assert _load(root, class_names=("a", "b", "c")).label_names == ("a", "b", "c")


def _three_bad_rows(root):
    """A missing file (line 4), a bad label (line 6), a path escaping the root (line 9)."""
    lines = [",".join(map(str, row)) for row in ROWS]
    lines[2] = "images/gone.png,1,p2"
    lines[4] = "images/p3_0.png,7,p3"
    lines[7] = "../outside.png,0,p4"
    return _write(root, "image,label,patient", lines)


def test_three_bad_rows_are_named_under_stop_and_counted_under_skip(root):
    labels = _three_bad_rows(root)
    with pytest.raises(
        DataError,
        match=rf"^bad row {root}/images/p3_0.png: label='7' is not one of 0-4 \({labels} line 6\) "
        r"\(and 1 more\); set data.on_bad_image='skip' to skip and count bad rows and images",
    ):
        _load(root, num_classes=5)
    data = _load(root, num_classes=5, on_bad_image="skip")
    assert [b.describe() for b in data.bad_images] == [
        f"{root}/images/gone.png: missing file ({labels} line 4)",
        f"{root}/images/p3_0.png: label='7' is not one of 0-4 ({labels} line 6)",
        f"../outside.png: image path '../outside.png' escapes the root {root} ({labels} line 9)",
    ]
    summary = data.summary()
    assert summary["skipped_images"] == 3
    assert sum(s["images"] for s in summary["splits"].values()) == 9
    assert data.label_names == ("0", "1", "2", "3", "4")
    # Without the bad label and path, the missing file stops the load by name.
    _write(root, "image,label,patient", open(labels).read().splitlines()[1:4])
    with pytest.raises(DataError, match=rf"bad image {root}/images/gone.png: missing file \("):
        datasets.load_dataset("csv", root, split_fractions={"train": 1.0})


def test_inspect_names_the_bad_rows_and_the_missing_file(root):
    labels = _three_bad_rows(root)
    report = inspection.inspect_dataset("csv", root, split_fractions=HALVES, num_classes=5)
    assert report["bad_rows"] == [
        {"path": f"{root}/images/p3_0.png", "reason": "label='7' is not one of 0-4",
         "label_file": labels, "line": 6},
        {"path": "../outside.png", "reason": f"image path '../outside.png' escapes the root {root}",
         "label_file": labels, "line": 9},
    ]  # fmt: skip
    problems = [p for s in report["splits"].values() for p in s["problems"]]
    assert problems == [
        {"path": f"{root}/images/gone.png", "reason": "missing file", "label_file": labels,
         "line": 4},
    ]  # fmt: skip
    totals = report["totals"]
    assert (totals["images"], totals["missing"], totals["bad_rows"]) == (10, 1, 2)
    before = [s["labels_before"]["label"] for s in report["splits"].values()]
    assert sum(sum(counts.values()) for counts in before) == 10
    text = inspection.format_report(report)
    assert "bad rows (in no split): 2" in text and "../outside.png: image path" in text
    assert "10 images, 1 missing, 0 corrupt, 0 excluded by policy, 2 bad rows" in text


def test_an_empty_path_an_absolute_path_or_an_empty_patient_is_a_bad_row(root):
    lines = [",".join(map(str, row)) for row in ROWS]
    lines[0], lines[1], lines[2] = ",1,p1", f"{root}/images/p1_1.png,1,p1", "images/p2_0.png,1, "
    labels = _write(root, "image,label,patient", lines)
    data = _load(root, on_bad_image="skip")
    assert [(b.path, b.reason, b.line) for b in data.bad_images] == [
        ("", "image path '' must be relative", 2),
        (f"{root}/images/p1_1.png", f"image path '{root}/images/p1_1.png' must be relative", 3),
        (f"{root}/images/p2_0.png", "empty patient", 4),
    ]
    assert all(b.label_file == labels for b in data.bad_images)


def test_two_rows_naming_one_file_are_refused(root):
    lines = [",".join(map(str, row)) for row in ROWS] + ["images/../images/p1_0.png,2,p1"]
    labels = _write(root, "image,label,patient", lines)
    what = f"the image file {root}/images/p1_0.png"
    spelled = "images/../images/p1_0.png"
    with pytest.raises(
        DataError,
        match=identity.duplicate(labels, 14, "image", spelled, 2, "images/p1_0.png", what),
    ):
        _load(root)


def test_multi_label_columns_with_blank_cells_masked(root):
    cells = ["1,0", "0,", "1.0,1", ",0.0", "yes,1", "0,1"]
    lines = [f"{i},{cells[k % 6]},{p}" for k, (i, _, p) in enumerate(ROWS)]
    labels = _write(root, "image,effusion,edema,patient", lines)
    data = _load(root, label_columns="effusion, edema", on_bad_image="skip")
    assert data.label_names == ("effusion", "edema")
    assert [(b.line, b.reason) for b in data.bad_images] == [
        (6, "effusion='yes' is not 1, 0 or blank"),
        (12, "effusion='yes' is not 1, 0 or blank"),
    ]
    rows = pd.concat([part.rows() for part in data.splits.values()]).sort_values("line")
    targets = np.stack([np.stack(rows["label"]), np.stack(rows["mask"])], axis=1)
    expected = {"1,0": [[1, 0], [1, 1]], "0,": [[0, 0], [1, 0]], "1.0,1": [[1, 1], [1, 1]],
                ",0.0": [[0, 0], [0, 1]], "0,1": [[0, 1], [1, 1]]}  # fmt: skip
    want = [expected[cells[(line - 2) % 6]] for line in rows["line"]]
    np.testing.assert_array_equal(targets, np.array(want, np.float32))
    data.check_outputs(2)
    report = inspection.inspect_dataset(
        "csv", root, split_fractions=HALVES, label_columns=("effusion", "edema")
    )
    assert report["bad_rows"][0]["label_file"] == labels
    assert set(report["splits"]["train"]["labels_before"]) == {"effusion", "edema"}
    assert set(report["splits"]["train"]["labels_after"]) == {"effusion", "edema"}


def test_options_and_columns_are_checked(root):
    with pytest.raises(ValueError, match=r"num_classes=4 but 3 class_names"):
        _load(root, num_classes=4, class_names=("a", "b", "c"))
    with pytest.raises(ValueError, match=r"for single-label data, not label_columns"):
        _load(root, label_columns=("a",), num_classes=2)
    with pytest.raises(ValueError, match=r"label_columns must name distinct columns"):
        _load(root, label_columns="a,a")
    labels = _write(root, "image,level", ["images/p1_0.png,1"])
    with pytest.raises(DataError, match=rf"{labels}: missing required column\(s\) \['label'\]"):
        _load(root)
    with pytest.raises(DataError, match=r"other.csv: label file not found"):
        _load(root, labels_file="other.csv")


def _csv_config(root, **changes):
    config = retina.get_config("test")
    config.data.name, config.data.root = "csv", root
    for key, value in changes.items():
        section, field = key.split(".")
        config[section][field] = value
    return config


@pytest.mark.slow
def test_a_tiny_run_trains_and_evaluates_on_a_csv_dataset(tmp_path):
    from pipelines.synthetic import generic_csv as synthetic_csv

    root = str(tmp_path / "data")
    synthetic_csv.write_csv_dataset(root, num_patients=20, image_size=32, seed=0)
    config = _csv_config(root, **{"data.split_fractions": {"train": 0.5, "valid": 0.5}})
    workdir = str(tmp_path / "run")
    summary = trainer.train_and_evaluate(config, workdir)
    assert summary["final_step"] == 6 and summary["main_metric"] == "auc"
    log = pd.read_csv(os.path.join(workdir, "eval_log.csv"))
    assert list(log["step"]) == [2, 4, 6] and log["loss"].notna().all()
    valid = json.load(open(os.path.join(workdir, "data_summary.json")))["splits"]["valid"]
    assert valid["images"] == 2 * valid["patients"] and valid["patients"] in range(8, 13)
    result = evaluation.evaluate_run(workdir, split="valid", bootstrap_samples=5)
    assert (result["examples"], result["patients"]) == (valid["images"], valid["patients"])
    predictions = pd.read_csv(os.path.join(workdir, "predictions_valid.csv"))
    assert list(predictions.columns[:3]) == ["image", "patient", "label"]
    assert predictions["image"].str.fullmatch(r"images/p\d{4}/(left|right)\.jpeg").all()
    # A head too small for the grades is refused before training, naming the fix.
    config.task, config.task_options.num_classes = "classification", 2
    with pytest.raises(ValueError, match=r"holds label [2-4] but the task has 2 outputs"):
        experiment.load_data(config)


@pytest.mark.slow
def test_multi_label_csv_trains_a_step_and_scores_per_output(root):
    cells = ["1,0", "0,", "1,1", ",0", "0,1", "1,1"]
    lines = [f"{i},{cells[k % 6]},{p}" for k, (i, _, p) in enumerate(ROWS)]
    _write(root, "image,effusion,edema,patient", lines)
    config = _csv_config(root, **{"data.split_fractions": HALVES, "train.batch_size": 2})
    config.task = "multi_label"
    config.data.options.label_columns = ("effusion", "edema")
    config.task_options.labels = ("effusion", "edema")
    data = experiment.load_data(config)
    task = experiment.get_task(config)
    model = experiment.build_model(config)
    model.compile(optimizer="sgd", loss=task.loss())
    stream = experiment.train_input(
        config, data.splits["train"], start_example=0, preprocessing="inception"
    )
    history = model.fit(stream, steps_per_epoch=1, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    scores, logits, table = experiment.evaluate_split(
        model, config, data.splits["valid"], bootstrap_samples=0, preprocessing="inception"
    )
    assert logits.shape == (6, 2) and scores["examples"] == 6
    assert {"auc_effusion", "auc_edema", "mean_auc"} <= set(scores)
    assert list(table.columns) == [
        "image", "patient", "label_effusion", "mask_effusion", "label_edema", "mask_edema",
    ]  # fmt: skip
    config.task_options.labels = ("effusion", "edema", "oedema")
    with pytest.raises(ValueError, match=r"has 2 labels per image but the task has 3 outputs"):
        experiment.load_data(config)


def test_converts_to_shards_that_keep_identity_labels_and_class_count(root, tmp_path):
    from pipelines.records import conversion

    out = str(tmp_path / "shards")
    conversion.convert_dataset("csv", root, out, split_fractions=HALVES, num_classes=4)
    shards = datasets.load_dataset("tfrecords", out, split_fractions={})
    assert shards.num_classes == 4 and shards.label_names == ("0", "1", "2", "3")
    files = _load(root, num_classes=4)
    for split in HALVES:
        rows = shards.splits[split].rows().sort_values("line")
        expected = files.splits[split].rows().sort_values("line")
        assert list(rows["image"]) == list(expected["image"])
        assert list(rows["label"]) == list(expected["label"])
        assert (rows["source"] == "labels.csv").all()
