"""`data.cache=<file prefix>` in training runs: one cache per stream, never another's images.

Issue 14: the trainer handed one cache prefix to the training stream and the evaluation
stream, and whichever filled it first served both. With `train.eval_at_start` the run
trained on the validation images (exit 0, nothing logged); without it the first
evaluation crashed (`Type mismatch: actual int64 vs. expect uint8`).
"""

import glob
import json
import logging
import os

import numpy as np
import pandas as pd
import pytest

from pipelines import file_cache
from tests import fixtures
from transfusion_tf import evaluation, experiment, trainer
from transfusion_tf.configs import retina


def _config(root, cache, **changes):
    config = retina.get_config("test")
    config.data.root = root
    config.data.cache = cache
    for key, value in changes.items():
        section, field = key.split(".")
        config[section][field] = value
    return config


@pytest.fixture(scope="module")
def spelled_root(tmp_path_factory):
    """The tests' EyePACS layout (40 patients) with every left eye spelled `./{id}`."""
    root = str(tmp_path_factory.mktemp("spelled") / "eyepacs")
    fixtures.write_eyepacs(root, fixtures.balanced_grades(40))
    labels = os.path.join(root, "trainLabels.csv")
    lines = open(labels).read().splitlines()
    with open(labels, "w") as f:
        f.write("\n".join(("./" if "_left" in s else "") + s for s in lines) + "\n")
    return root


def _manifests(prefix):
    """[(cache filename, key)] of every cache under `prefix`, sorted by stream and split."""
    pattern = prefix + ("*.json" if prefix.endswith(os.sep) else "-*.json")
    found = [(p[: -len(".json")], json.load(open(p))["key"]) for p in glob.glob(pattern)]
    return sorted(found, key=lambda item: (item[1]["stream"], item[1]["split"]))


def _streams(prefix):
    return [(key["stream"], key["split"]) for _, key in _manifests(prefix)]


@pytest.mark.slow
def test_eval_at_start_does_not_feed_the_validation_images_to_training(
    spelled_root, tmp_path, caplog
):
    os.makedirs(tmp_path / "cache")
    prefix = str(tmp_path / "cache" / "run")
    config = _config(spelled_root, prefix, **{"train.eval_at_start": True})
    workdir = str(tmp_path / "run")
    trainer.train_and_evaluate(config, workdir)
    assert list(pd.read_csv(os.path.join(workdir, "eval_log.csv"))["step"]) == [0, 2, 4, 6]
    # One cache per stream, each keyed by its own split's images.
    data = experiment.load_data(config)
    train, valid = data.splits["train"], data.splits["valid"].rows()
    assert _streams(prefix) == [("eval", "valid"), ("train", "train")]
    for base, key in _manifests(prefix):
        split = data.splits[key["split"]]
        members = file_cache.membership(list(split.rows()["path"]), split.targets())
        assert {k: key[k] for k in members} == members
        assert (key["image_size"], key["channels"], key["resize_mode"]) == (32, 3, "pad")
        assert key["preprocessing"] == "inception"
        assert os.path.exists(base + ".index") and not glob.glob(base + "_*.lockfile")
    assert not set(train.rows()["path"]) & set(valid["path"])
    # What the training stream reads from its cache, filled after the evaluation stream's,
    # is the train split's images: batch for batch what decoding the train rows gives.
    with caplog.at_level(logging.INFO, logger="pipelines.file_cache"):
        cached = experiment.train_input(config, train, start_example=0, preprocessing="inception")
        batches = [(x.numpy(), y.numpy()) for x, y in cached.take(20)]  # > one pass.
    assert "reading the train stream of split 'train' from the cache" in caplog.text
    config.data.cache = "none"
    decoded = experiment.train_input(config, train, start_example=0, preprocessing="inception")
    decoded = decoded.take(20)
    for (x1, y1), (x2, y2) in zip(batches, decoded, strict=True):
        np.testing.assert_array_equal(x1, x2.numpy())
        np.testing.assert_array_equal(y1, y2.numpy())
    # Predictions name each image by its canonical id: '1_left', not './1_left'.
    evaluation.evaluate_run(workdir, split="valid", bootstrap_samples=5)
    predictions = pd.read_csv(os.path.join(workdir, "predictions_valid.csv"), dtype=str)
    assert list(predictions["image"]) == list(valid["image"])
    assert set(predictions["image"]) == {
        f"{p}_{e}" for p in valid["patient"] for e in ("left", "right")
    }
    assert list(predictions["patient"]) == [i.split("_")[0] for i in predictions["image"]]


@pytest.mark.slow
def test_a_file_cache_without_eval_at_start_trains_evaluates_and_is_reused(
    eyepacs_root, tmp_path, caplog
):
    os.makedirs(tmp_path / "cache")
    prefix = str(tmp_path / "cache") + os.sep
    first = str(tmp_path / "first")
    trainer.train_and_evaluate(_config(eyepacs_root, prefix), first)
    log = pd.read_csv(os.path.join(first, "eval_log.csv"))
    assert list(log["step"]) == [2, 4, 6]
    assert _streams(prefix) == [("eval", "valid"), ("train", "train")]
    # A second run with the same settings reads both caches and trains the same way.
    second = str(tmp_path / "second")
    with caplog.at_level(logging.INFO, logger="pipelines.file_cache"):
        trainer.train_and_evaluate(_config(eyepacs_root, prefix), second)
    for stream, split in (("train", "train"), ("eval", "valid")):
        assert f"reading the {stream} stream of split '{split}' from the cache" in caplog.text
    again = pd.read_csv(os.path.join(second, "eval_log.csv"))
    columns = ["step", "loss", "auc", "kappa", "accuracy"]
    pd.testing.assert_frame_equal(log[columns], again[columns])
    # Another resize mode is another cache beside them, not a reuse of theirs: the two
    # streams of a run with it, built as the trainer builds them, key their own files.
    config = _config(eyepacs_root, prefix, **{"data.resize_mode": "squash"})
    data = experiment.load_data(config)
    experiment.train_input(config, data.splits["train"], start_example=0, preprocessing="inception")
    valid = config.data.eval_split
    experiment.eval_input(
        config, data.splits[valid], cache=prefix, split_name=valid, preprocessing="inception"
    )
    modes = sorted(key["resize_mode"] for _, key in _manifests(prefix))
    assert modes == ["pad", "pad", "squash", "squash"]


def test_each_worker_of_a_multi_worker_run_gets_its_own_cache_files(monkeypatch):
    assert experiment.cache_setting("/c/run") == "/c/run"  # One worker.
    monkeypatch.setattr(experiment.distribution, "num_workers", lambda: 2)
    monkeypatch.setattr(experiment.distribution, "worker_index", lambda: 1)
    assert experiment.cache_setting("/c/run") == "/c/run-worker1"
    assert experiment.cache_setting("/c/dir/") == "/c/dir/worker1"
    assert [experiment.cache_setting(c) for c in ("memory", "none")] == ["memory", "none"]
