import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from pipelines.errors import DataError
from transfusion_tf import (
    callbacks,
    checkpointing,
    evaluation,
    experiment,
    provenance,
    run_logs,
    trainer,
)
from transfusion_tf.configs import chexpert as chexpert_config
from transfusion_tf.configs import retina

pytestmark = pytest.mark.slow  # The trainer's tests train.


def _config(root, **changes):
    config = retina.get_config("test")
    config.data.root = root
    for key, value in changes.items():
        node = config
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


@pytest.fixture(scope="module")
def finished_run(retina_run, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("run") / "run")
    shutil.copytree(retina_run[0], workdir)
    return workdir, retina_run[1]


def test_run_writes_everything_it_promises(finished_run):
    workdir, summary = finished_run
    for name in (
        "config.json",
        "provenance.json",
        "data_summary.json",
        "train.log",
        "eval_log.csv",
        "train_summary.json",
        "checkpoints/init/ckpt-0.index",
        "checkpoints/ckpt-6.index",
    ):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert os.listdir(os.path.join(workdir, "tensorboard", "train"))
    log = pd.read_csv(os.path.join(workdir, "eval_log.csv"))
    assert list(log["step"]) == [2, 4, 6]
    assert list(log["examples_seen"]) == [8, 16, 24]
    assert {"seconds", "train_loss", "learning_rate", "loss", "auc", "auc_ci_low", "kappa"} <= set(
        log.columns
    )
    assert (np.diff(log["seconds"]) > 0).all()
    assert summary["final_step"] == 6 and summary["main_metric"] == "auc"
    assert set(summary["steps_to_threshold"]) == {"0.85", "0.91"}
    data = json.load(open(os.path.join(workdir, "data_summary.json")))
    assert data["splits"]["train"]["images"] == 60 and data["skipped_images"] == 0
    assert checkpointing.available_steps(workdir) == [2, 4, 6]


def test_config_round_trips_and_init_differs_from_final(finished_run):
    workdir, _ = finished_run
    config = experiment.load_config(workdir)
    assert config.model.name == "cbr_tiny" and list(config.model.options.widths) == [4, 8, 8, 8]
    init = tf.train.load_checkpoint(checkpointing.checkpoint_path(workdir, "init"))
    final = tf.train.load_checkpoint(checkpointing.checkpoint_path(workdir, "latest"))
    key = "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert init.get_tensor(key).shape == (5, 5, 3, 4)
    assert not np.array_equal(init.get_tensor(key), final.get_tensor(key))


def test_rerunning_a_finished_run_trains_nothing_more(finished_run, eyepacs_root):
    workdir, _ = finished_run
    trainer.train_and_evaluate(_config(eyepacs_root), workdir)
    assert len(pd.read_csv(os.path.join(workdir, "eval_log.csv"))) == 3
    launches = json.load(open(os.path.join(workdir, "provenance.json")))["launches"]
    assert len(launches) == 2 and launches[0]["versions"]["tensorflow"] == "2.15.1"


def test_resuming_with_another_config_is_refused(finished_run, eyepacs_root):
    workdir, _ = finished_run
    config = _config(eyepacs_root, **{"optimizer.learning_rate": 0.5, "seed": 3})
    with pytest.raises(
        ValueError, match=r"different config \(fields \['optimizer.learning_rate', " r"'seed'\]\)"
    ):
        trainer.train_and_evaluate(config, workdir)


def test_a_locked_workdir_is_refused(eyepacs_root, tmp_path):
    lock = provenance.WorkdirLock(str(tmp_path))
    try:
        with pytest.raises(provenance.WorkdirLocked):
            trainer.train_and_evaluate(_config(eyepacs_root), str(tmp_path))
    finally:
        lock.release()


def _sgd_blowing_up_after(root, boundary, **changes):
    """SGD whose learning rate is infinite from update `boundary + 1` on."""
    changes = {
        "train.total_steps": 12,
        "optimizer.name": "sgd",
        "schedule.name": "step",
        "schedule.boundaries": (boundary,),
        "schedule.gamma": float("inf"),
        **changes,
    }
    return _config(root, **changes)


def _nonfinite_in_checkpoint(path):
    reader = tf.train.load_checkpoint(path)
    return [
        key
        for key, dtype in reader.get_variable_to_dtype_map().items()
        if dtype.is_floating and not np.isfinite(reader.get_tensor(key)).all()
    ]


def test_nan_loss_stops_with_the_step_and_keeps_a_loadable_checkpoint(eyepacs_root, tmp_path):
    # Update 5 makes the weights non-finite mid-loop, so the loss of step 6 is NaN.
    config = _sgd_blowing_up_after(eyepacs_root, 4)
    with pytest.raises(callbacks.NonFiniteLossError, match=r"\(nan\) at step 6; .*ckpt-4"):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert checkpointing.available_steps(str(tmp_path)) == [2, 4]
    assert _nonfinite_in_checkpoint(checkpointing.checkpoint_path(str(tmp_path))) == []
    model = experiment.build_model(config)
    checkpointing.restore_weights(model, checkpointing.checkpoint_path(str(tmp_path)))
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert list(pd.read_csv(tmp_path / "eval_log.csv")["step"]) == [2, 4]


@pytest.mark.parametrize(
    ("boundary", "checkpoint_every", "eval_every", "failed", "kept", "evaluated"),
    [
        # Update 4 breaks the weights; the loss Keras reports for step 4 predates it, and
        # step 4 ends a checkpoint interval: ckpt-4 must not be written.
        (3, 2, 6, 4, [2], []),
        # Update 6 breaks them and step 6 is an evaluation (the model would predict NaN).
        (5, 4, 2, 6, [4], [2, 4]),
    ],
    ids=["before_a_checkpoint", "before_an_evaluation"],
)
def test_a_bad_last_update_of_a_loop_is_neither_evaluated_nor_saved(
    eyepacs_root, tmp_path, boundary, checkpoint_every, eval_every, failed, kept, evaluated
):
    config = _sgd_blowing_up_after(
        eyepacs_root,
        boundary,
        **{"train.checkpoint_every": checkpoint_every, "train.eval_every": eval_every},
    )
    last = os.path.join(str(tmp_path), "checkpoints", f"ckpt-{kept[-1]}")
    with pytest.raises(
        callbacks.NonFiniteLossError,
        match=rf"non-finite variables after step {failed} \(block1/conv/kernel:0, .* more; every "
        rf"loss up to it was finite\); stopped without saving. Last good checkpoint: "
        rf"{re.escape(last)}\.",
    ):
        trainer.train_and_evaluate(config, str(tmp_path))
    assert checkpointing.available_steps(str(tmp_path)) == kept
    assert _nonfinite_in_checkpoint(last) == []
    rows = callbacks.EvalLog(str(tmp_path)).rows()
    assert (list(rows["step"]) if len(rows) else []) == evaluated


@pytest.fixture(scope="module")
def skipping_run(eyepacs_root, tmp_path_factory):
    """Two steps evaluated at the start too, on a copy of the set with a missing and a
    truncated train image under `data.on_bad_image=skip` (one run for two tests).

    Returns (workdir, the missing image's path, the truncated one's).
    """
    base = tmp_path_factory.mktemp("skipping")
    root = str(base / "eyepacs")
    shutil.copytree(eyepacs_root, root)
    missing, truncated = (os.path.join(root, "train", f"{n}.jpeg") for n in ("3_right", "2_left"))
    os.remove(missing)
    with open(truncated, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 cut short")
    changes = {"data.on_bad_image": "skip", "train.total_steps": 2, "train.eval_at_start": True}
    trainer.train_and_evaluate(_config(root, **changes), str(base / "run"))
    return str(base / "run"), missing, truncated


def test_eval_at_start_and_bad_loop_length(skipping_run, eyepacs_root, tmp_path):
    workdir, _, _ = skipping_run
    assert list(pd.read_csv(os.path.join(workdir, "eval_log.csv"))["step"]) == [0, 2]
    config = _config(eyepacs_root, **{"train.total_steps": 7})
    with pytest.raises(ValueError, match="total_steps=7 must be a positive multiple of"):
        trainer.train_and_evaluate(config, str(tmp_path / "b"))


def _chexpert_config(root, **changes):
    config = chexpert_config.get_config("test")
    config.data.root = root
    for key, value in changes.items():
        node = config
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return config


def _event_tags(directory):
    tags = set()
    for name in os.listdir(directory):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            tags |= {value.tag for value in event.summary.value}
    return tags


def test_chexpert_multilabel_run_end_to_end(chexpert_root, tmp_path):
    summary = trainer.train_and_evaluate(_chexpert_config(chexpert_root), str(tmp_path))
    assert summary["final_step"] == 6 and summary["main_metric"] == "mean_auc"
    assert set(summary["steps_to_threshold"]) == {"0.8", "0.85", "0.9"}
    log = pd.read_csv(tmp_path / "eval_log.csv")
    assert list(log["step"]) == [2, 4, 6]
    for key in ("mean_auc", "mean_auc_ci_low", "mean_auc_ci_high", "loss"):
        assert key in log.columns
    for name in ("atelectasis", "cardiomegaly", "consolidation", "edema", "pleural_effusion"):
        assert {f"auc_{name}", f"auc_{name}_ci_low", f"auc_{name}_ci_high"} <= set(log.columns)
    assert log["mean_auc"].between(0, 1).all()
    assert {"mean_auc", "auc_edema", "auc_edema_ci_low"} <= _event_tags(
        tmp_path / "tensorboard" / "eval"
    )
    data = json.load(open(tmp_path / "data_summary.json"))
    assert set(data["splits"]) == {"train", "valid_internal", "valid"}
    assert set(data["splits"]["valid"]["labels"]) == {
        "Atelectasis",
        "Cardiomegaly",
        "Consolidation",
        "Edema",
        "Pleural Effusion",
    }
    init = tf.train.load_checkpoint(checkpointing.checkpoint_path(str(tmp_path), "init"))
    key = "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert init.get_tensor(key).shape == (5, 5, 3, 4)  # Grayscale replicated to 3 channels.


def test_chexpert_one_channel_conv1(chexpert_root, tmp_path):
    config = _chexpert_config(chexpert_root, **{"data.channels": 1, "train.total_steps": 2})
    trainer.train_and_evaluate(config, str(tmp_path))
    final = tf.train.load_checkpoint(checkpointing.checkpoint_path(str(tmp_path)))
    key = "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert final.get_tensor(key).shape == (5, 5, 1, 4)
    assert len(pd.read_csv(tmp_path / "eval_log.csv")) == 1


def test_summary_survives_an_undefined_main_metric(tmp_path):
    # A split where a pathology has one class scores NaN; best and thresholds skip it.
    log = callbacks.EvalLog(str(tmp_path))
    log.append({"step": 2, "mean_auc": float("nan")})
    config = _chexpert_config("unused")
    result = run_logs.summarize(config, log.rows(), [], 2)
    assert result["best"] is None and result["steps_to_threshold"]["0.8"] is None
    log.append({"step": 4, "mean_auc": 0.83})
    result = run_logs.summarize(config, log.rows(), [], 4)
    assert result["best"] == {"step": 4, "mean_auc": 0.83}
    assert result["steps_to_threshold"] == {"0.8": 4, "0.85": None, "0.9": None}


def _event_plugins(directory):
    """{tag: plugin name} of every summary value in a TensorBoard event directory."""
    plugins = {}
    for name in os.listdir(directory):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            for value in event.summary.value:
                plugins[value.tag] = value.metadata.plugin_data.plugin_name
    return plugins


def test_tensorboard_holds_loss_lr_inputs_hparams_and_eval_auc(finished_run):
    workdir, _ = finished_run
    train = _event_plugins(os.path.join(workdir, "tensorboard", "train"))
    assert {
        "loss": "scalars",
        "learning_rate": "scalars",
        "images_per_second": "scalars",
        "train_inputs": "images",
        "_hparams_/session_start_info": "hparams",
    }.items() <= train.items()
    evaluated = _event_plugins(os.path.join(workdir, "tensorboard", "eval"))
    assert {"auc", "auc_ci_low", "kappa", "loss"} <= set(evaluated)
    assert evaluated["auc"] == "scalars"


def _copy_with_a_corrupt_jpeg(eyepacs_root, tmp_path, split):
    """A copy of the set whose first `split` image keeps its JPEG markers around garbage.

    Returns:
      (root, the corrupted row: `path`, `source` (label file), `line`).
    """
    root = str(tmp_path / "eyepacs")
    shutil.copytree(eyepacs_root, root)
    row = experiment.load_data(_config(root)).splits[split].rows().iloc[0]
    data = open(row["path"], "rb").read()
    garbage = np.random.default_rng(0).bytes(len(data) - 5)
    with open(row["path"], "wb") as f:
        f.write(data[:3] + garbage + data[-2:])  # Start-of-image, marker byte ... end.
    return root, row


def _names_the_corrupt_row(row):
    return (
        rf"corrupt image {re.escape(row['path'])}: cannot decode: .*jpeg::Uncompress failed"
        rf".* \({re.escape(row['source'])} line {row['line']}\): .*data.image_scan='header'"
        r".*data.image_scan=decode .*data.on_bad_image=skip"
    )


def test_a_corrupt_jpeg_body_under_the_default_scan_names_file_and_row(eyepacs_root, tmp_path):
    root, row = _copy_with_a_corrupt_jpeg(eyepacs_root, tmp_path, "valid")
    config = _config(root)
    assert config.data.image_scan == "header"
    experiment.load_data(config)  # The header scan passes it; evaluation at step 2 fails.
    with pytest.raises(DataError, match=_names_the_corrupt_row(row)) as e:
        trainer.train_and_evaluate(config, str(tmp_path / "run"))
    assert isinstance(e.value.__cause__, tf.errors.InvalidArgumentError)
    assert checkpointing.available_steps(str(tmp_path / "run")) == []


def test_evaluating_a_corrupt_jpeg_body_names_file_and_row(finished_run, eyepacs_root, tmp_path):
    root, row = _copy_with_a_corrupt_jpeg(eyepacs_root, tmp_path, "test")
    workdir = str(tmp_path / "run")
    shutil.copytree(finished_run[0], workdir)
    config = experiment.load_config(workdir)
    config.data.root = root
    experiment.save_config(config, workdir)
    with pytest.raises(DataError, match=_names_the_corrupt_row(row)):
        evaluation.evaluate_run(workdir, split="test")


def test_a_decode_error_without_a_corrupt_image_is_reraised(eyepacs_root):
    with (
        pytest.raises(tf.errors.InvalidArgumentError, match="not about images"),
        evaluation.naming_undecodable_images(_config(eyepacs_root)),
    ):
        raise tf.errors.InvalidArgumentError(None, None, "not about images")


def test_skipped_images_are_named_and_counted_in_the_log(skipping_run):
    workdir, missing, truncated = skipping_run
    log = open(os.path.join(workdir, "train.log")).read()
    assert f"skipped bad image {truncated}: truncated JPEG" in log
    assert f"skipped bad image {missing}: missing file" in log
    assert "skipped 2 bad images in all" in log
