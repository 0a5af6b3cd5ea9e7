"""Record datasets: converted image-file datasets (`tfrecords`) read back and trained on."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from pipelines import datasets
from pipelines.decoding import ImageSettings
from pipelines.errors import DataError
from pipelines.readers.file_split import FileSplit
from pipelines.records import conversion
from pipelines.split import targets
from transfusion_tf import evaluation, trainer
from transfusion_tf.configs import retina

FRACTIONS = {"train": 0.75, "valid": 0.25}


@pytest.fixture(scope="module")
def converted(eyepacs_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("eyepacs_tfr"))
    conversion.convert_dataset(
        "eyepacs", eyepacs_root, out, split_fractions=FRACTIONS, num_shards=4, workers=2
    )
    return out


def test_registered_as_tfrecords_with_the_manifest_counts(converted, eyepacs_root):
    data = datasets.load_dataset("tfrecords", converted, split_fractions={})
    assert sorted(data.splits) == ["train", "valid"] and data.num_classes == 5
    assert data.label_names == ("none", "mild", "moderate", "severe", "proliferative")
    assert [os.path.basename(f) for f in data.splits["valid"].files] == [
        f"valid-0000{k}-of-00004" for k in range(4)
    ]
    summary = data.summary()
    assert summary["converted_from"]["dataset"] == "eyepacs"
    assert summary["converted_from"]["source_root"] == eyepacs_root
    assert summary["splits"]["train"]["images"] == 60 and summary["splits"]["train"]["shards"] == 4
    assert summary["splits"]["valid"]["patients"] == 10 and summary["skipped_images"] == 0
    with pytest.raises(ValueError, match="training subsets need an image-file dataset"):
        datasets.load_dataset("tfrecords", converted, split_fractions={}, subset_sizes={"train": 8})


def _assert_same_eval_streams(split, files, images, *, batch_size):
    """The record split's evaluation batches equal those of the same rows read as files."""
    from_records = list(split.eval_stream(images, batch_size=batch_size))
    from_files = list(FileSplit(files).eval_stream(images, batch_size=batch_size))
    for (x1, y1), (x2, y2) in zip(from_records, from_files, strict=True):
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())


def test_rows_and_model_inputs_equal_the_image_file_path(converted, eyepacs_root):
    data = datasets.load_dataset("tfrecords", converted, split_fractions={})
    source = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=FRACTIONS)
    split = data.splits["valid"]
    rows = split.rows()
    files = source.splits["valid"].rows().set_index("image").loc[rows["image"]].reset_index()
    assert list(rows.columns) == ["image", "patient", "path", "source", "line", "label"]
    for column in ("patient", "line", "label"):
        np.testing.assert_array_equal(rows[column].to_numpy(), files[column].to_numpy())
    assert (rows["source"] == "trainLabels.csv").all()
    np.testing.assert_array_equal(split.targets(), rows["label"])
    _assert_same_eval_streams(split, files, ImageSettings(24, 3, "inception"), batch_size=7)


def test_chexpert_targets_equal_the_image_file_path(chexpert_root, tmp_path):
    fractions = {"train": 0.5, "valid_internal": 0.5}
    conversion.convert_dataset(
        "chexpert", chexpert_root, str(tmp_path), split_fractions=fractions, num_shards=2
    )
    data = datasets.load_dataset("tfrecords", str(tmp_path), split_fractions={})
    assert data.num_classes == 5
    source = datasets.load_dataset("chexpert", chexpert_root, split_fractions=fractions)
    split = data.splits["valid"]
    rows = split.rows()
    columns = "image patient study path source line label mask".split()
    assert list(rows.columns) == columns
    files = source.splits["valid"].rows().set_index("image").loc[rows["image"]].reset_index()
    np.testing.assert_array_equal(targets(rows), targets(files))
    np.testing.assert_array_equal(split.targets(), targets(files))
    assert list(rows["study"]) == list(files["study"])
    _assert_same_eval_streams(split, files, ImageSettings(20, 1, "unit"), batch_size=5)


def test_a_missing_shard_or_a_count_mismatch_names_the_shard(converted, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in os.listdir(converted):
        (copy / name).write_bytes(open(os.path.join(converted, name), "rb").read())
    os.remove(copy / "valid-00002-of-00004")
    with pytest.raises(DataError, match=r"valid-00002-of-00004: shard missing"):
        datasets.load_dataset("tfrecords", str(copy), split_fractions={})
    (copy / "valid-00002-of-00004").write_bytes(
        open(os.path.join(converted, "valid-00002-of-00004"), "rb").read()
    )
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["splits"]["train"]["shards"][1]["examples"] += 1
    manifest["splits"]["train"]["examples"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"train-00001-of-00004: 15 records, but .* lists 16"):
        datasets.load_dataset("tfrecords", str(copy), split_fractions={})
    with pytest.raises(DataError, match=r"no manifest; .* is not a converted dataset"):
        datasets.load_dataset("tfrecords", str(tmp_path), split_fractions={})


@pytest.mark.slow
def test_trains_and_evaluates_from_the_shards(converted, tmp_path):
    config = retina.get_config("test")
    config.data.name = "tfrecords"
    config.data.root = converted
    config.data.shuffle_buffer = 64
    workdir = str(tmp_path / "run")
    summary = trainer.train_and_evaluate(config, workdir)
    assert summary["final_step"] == 6 and summary["main_metric"] == "auc"
    log = pd.read_csv(os.path.join(workdir, "eval_log.csv"))
    assert list(log["step"]) == [2, 4, 6] and log["auc"].notna().all()
    data_summary = json.load(open(os.path.join(workdir, "data_summary.json")))
    assert data_summary["splits"]["train"]["images"] == 60
    result = evaluation.evaluate_run(workdir, split="valid", bootstrap_samples=10)
    assert result["examples"] == 20 and result["patients"] == 10
    predictions = pd.read_csv(os.path.join(workdir, "predictions_valid.csv"))
    assert list(predictions.columns[:3]) == ["image", "patient", "label"]
    assert len(predictions) == 20 and predictions["patient"].nunique() == 10
