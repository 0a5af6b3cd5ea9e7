"""Scopes, freezing and class weights (`finetuning.py`, `scopes.py`), then two fine-tuning
runs: frozen layers, weight averages, keep-best and early stopping end to end."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from slim_weights import checkpoint as slim_checkpoint
from slim_weights import loading
from tests import binaries
from tests.transfusion_tf.test_predict import probability_atol
from transfusion_tf import (
    checkpointing,
    evaluation,
    experiment,
    finetuning,
    models,
    prediction,
    scopes,
    serving,
    studies,
    trained_run,
    trainer,
    weights_export,
)
from transfusion_tf.configs import retina


def _model():
    return models.get_model("cbr_tiny", num_classes=5, input_shape=(32, 32, 3), widths=(4, 8, 8, 8))


def test_scope_names_take_a_string_or_a_sequence():
    assert scopes.scope_names("block4, logits,") == ("block4", "logits")
    assert scopes.scope_names(["resnet_v1_50/block4"]) == ("resnet_v1_50/block4",)
    assert scopes.scope_names("") == () and scopes.scope_names(()) == ()
    for bad in (3, ("block4", ""), [1]):
        with pytest.raises(ValueError, match="expected 'scope,scope' or a sequence"):
            scopes.scope_names(bad)


def test_select_by_endpoint_scope_or_variable_and_name_the_unknown():
    model = _model()
    selected = scopes.select(model, ["block2", "block3/bn", "logits/kernel"], "field")
    assert selected == {
        "block2": [
            "block2/conv/kernel:0",
            "block2/bn/gamma:0",
            "block2/bn/beta:0",
            "block2/bn/moving_mean:0",
            "block2/bn/moving_variance:0",
        ],
        "block3/bn": [
            "block3/bn/gamma:0",
            "block3/bn/beta:0",
            "block3/bn/moving_mean:0",
            "block3/bn/moving_variance:0",
        ],
        "logits/kernel": ["logits/kernel:0"],
    }
    with pytest.raises(
        scopes.ScopeError,
        match=r"field: \['blok4', 'block2/b'\] select no variable of cbr_tiny; give endpoints "
        r"\(block1, block2, block3, block4, pre_logits, logits\) or variable scopes "
        r"\(top-level: block1, block2, block3, block4, logits\)",
    ):
        scopes.select(model, ["blok4", "block2/b", "block1"], "field")


def test_freeze_reports_what_trains_and_frozen_batch_norm_infers():
    model = _model()
    report = finetuning.freeze(model, ["logits"])
    assert report == {
        "trainable_scopes": ["logits"],
        # logits: 8 x 5 + 5; the rest: conv kernels 5x5 (3x4, 4x8, 8x8, 8x8) and BN gamma/beta.
        "trained": {"variables": 2, "parameters": 45, "endpoints": ["logits"]},
        "frozen": {
            "variables": 12,
            "parameters": 300 + 800 + 1600 + 1600 + 2 * (4 + 8 + 8 + 8),
            "endpoints": ["block1", "block2", "block3", "block4"],
        },
        "partly_trained_endpoints": [],
        "batch_norm_in_inference_mode": ["block1/bn", "block2/bn", "block3/bn", "block4/bn"],
    }
    assert [v.name for v in model.trainable_variables] == ["logits/kernel:0", "logits/bias:0"]
    # Frozen batch norm normalises with its moving statistics even when training.
    images = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(model(images, training=True), model(images, training=False))
    assert finetuning.describe(report).startswith(
        "training 2 variables (45 parameters) of train.trainable_scopes ['logits']"
    )
    everything = finetuning.freeze(_model(), [])
    assert everything["trained"]["variables"] == 14 and everything["frozen"]["variables"] == 0
    assert finetuning.describe(everything) == "training every variable (4,401 parameters)"


def test_a_scope_splitting_a_layer_is_refused():
    with pytest.raises(scopes.ScopeError, match=r"select part of layer logits \(a layer trains"):
        finetuning.freeze(_model(), ["logits/kernel"])


def test_class_weights_by_hand():
    labels = np.array([0, 0, 0, 1, 2, 2])
    # scikit-learn's 'balanced': n / (K * n_c) = 6 / (3 * [3, 1, 2]).
    np.testing.assert_allclose(
        finetuning.class_weights("balanced", labels, 3), [2 / 3, 2.0, 1.0], rtol=1e-15
    )
    assert finetuning.class_weights("", labels, 3) is None
    assert finetuning.class_weights((1, 2.5, 1), labels, 3) == [1.0, 2.5, 1.0]
    with pytest.raises(ValueError, match=r"classes \[3\] have no training example"):
        finetuning.class_weights("balanced", labels, 4)
    with pytest.raises(ValueError, match="expected 3 positive weights"):
        finetuning.class_weights((1.0, 0.0, 1.0), labels, 3)

    def unread():
        raise AssertionError("labels are read only for 'balanced'")

    train = retina.get_config("test").train
    train.class_weights = (1.0, 2.0, 1.0, 1.0, 1.0)
    options = finetuning.loss_options(train, 5, unread)
    assert options == {"label_smoothing": 0.0, "class_weights": [1.0, 2.0, 1.0, 1.0, 1.0]}


# --- Two fine-tuning runs -----------------------------------------------------------------

# The main metric run A's evaluations report (the real one of a 10-image split is too coarse
# to fall reliably): best at step 2, then two worse, so patience 2 stops at step 6.
SCRIPTED_AUC = [0.9, 0.8, 0.7]


def _config(root, **changes):
    config = retina.get_config("test")
    config.data.root = root
    for key, value in changes.items():
        section, name = key.split(".")
        config[section][name] = value
    return config


@pytest.fixture(scope="module")
def run_a(eyepacs_root, tmp_path_factory):
    """Frozen block1-3, weight averages, keep-best with one rolling checkpoint, early
    stopping on scripted AUCs, label smoothing and class weights."""
    workdir = str(tmp_path_factory.mktemp("finetune") / "a")
    config = _config(
        eyepacs_root,
        **{
            "train.total_steps": 20,
            "train.keep_checkpoints": 1,
            "train.trainable_scopes": "block4,logits",
            "train.ema_decay": 0.5,
            "train.keep_best": True,
            "train.early_stopping": 2,
            "train.label_smoothing": 0.1,
            "train.class_weights": "balanced",
        },
    )
    real, scripted = experiment.evaluate_split, iter(SCRIPTED_AUC)

    def evaluate_split(*args, **kwargs):
        scores, logits, table = real(*args, **kwargs)
        return {**scores, "auc": next(scripted)}, logits, table

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(experiment, "evaluate_split", evaluate_split)
        summary = trainer.train_and_evaluate(config, workdir)
    return workdir, summary


def _variables(workdir, which="latest"):
    """{name: value} of the trained weights (no averages) of a run's checkpoint."""
    model = experiment.build_model(experiment.load_config(workdir))
    checkpointing.restore_weights(model, checkpointing.checkpoint_path(workdir, which))
    return {v.name: v.numpy() for v in model.variables}


@pytest.mark.slow
def test_early_stopping_ends_the_run_and_the_study_runner_sees_it_finished(run_a):
    workdir, summary = run_a
    assert summary["final_step"] == 6
    assert summary["early_stopping"] == {
        "stopped_at": 6,
        "patience": 2,
        "min_delta": 0.0,
        "best_step": 2,
    }
    assert json.load(open(os.path.join(workdir, "train_summary.json")))["final_step"] == 6
    assert studies.run_state(workdir) == "finished"
    assert list(pd.read_csv(os.path.join(workdir, "eval_log.csv"))["auc"]) == SCRIPTED_AUC


@pytest.mark.slow
def test_the_best_checkpoint_survives_rotation_and_evaluates(run_a):
    workdir, _ = run_a
    assert checkpointing.available_steps(workdir) == [6]  # keep_checkpoints=1.
    best = checkpointing.checkpoint_path(workdir, "best")
    assert best == os.path.join(workdir, "checkpoints", "best", "ckpt-2")
    assert checkpointing.best_record(workdir) == {
        "step": 2,
        "checkpoint": "ckpt-2",
        "metric": "auc",
        "value": 0.9,
        "ema": True,
    }
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints", "best"))) == [
        "best.json",
        "ckpt-2.data-00000-of-00001",
        "ckpt-2.index",
    ]
    at_best = evaluation.evaluate_run(workdir, split="test", checkpoint="best", bootstrap_samples=0)
    assert at_best["step"] == 2 and at_best["checkpoint"] == best and at_best["ema"] is True
    best_predictions = pd.read_csv(os.path.join(workdir, "predictions_test.csv"))
    latest = evaluation.evaluate_run(workdir, split="test", bootstrap_samples=0)
    assert latest["step"] == 6
    latest_predictions = pd.read_csv(os.path.join(workdir, "predictions_test.csv"))
    assert not np.allclose(best_predictions["p_grade0"], latest_predictions["p_grade0"])


@pytest.mark.slow
def test_the_evaluate_binary_scores_the_best_checkpoint(run_a):
    """The binary's main in this process (its own process: tests/transfusion_tf/
    test_evaluation.py)."""
    workdir, _ = run_a
    done = binaries.run_main(
        "transfusion_tf.evaluate", f"--workdir={workdir}", "--checkpoint=best", "--split=test",
        "--bootstrap_samples=0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    best = os.path.join(workdir, "checkpoints", "best", "ckpt-2")
    assert f"test: checkpoint {best} (step 2, weight averages)" in out
    saved = json.load(open(os.path.join(workdir, "metrics.json")))["test"]
    assert saved["checkpoint"] == best and saved["ema"] is True


@pytest.mark.slow
def test_frozen_layers_and_their_batch_norm_statistics_do_not_move(run_a):
    workdir, _ = run_a
    init, final = _variables(workdir, "init"), _variables(workdir)
    frozen = [n for n in init if n.startswith(("block1/", "block2/", "block3/"))]
    trained = [n for n in init if n not in frozen]
    assert len(frozen) == 15 and len(trained) == 7  # BN moving statistics included in both.
    assert [n for n in frozen if not np.array_equal(init[n], final[n])] == []  # Bit for bit.
    assert [n for n in trained if np.array_equal(init[n], final[n])] == []
    report = json.load(open(os.path.join(workdir, "init_report.json")))["training"]
    assert report["trained"] == {
        "variables": 5,
        "parameters": 1661,
        "endpoints": ["block4", "logits"],
    }
    assert report["frozen"]["endpoints"] == ["block1", "block2", "block3"]
    assert report["batch_norm_in_inference_mode"] == ["block1/bn", "block2/bn", "block3/bn"]
    assert report["ema_decay"] == 0.5 and report["averaged_variables"] == 7
    labels = experiment.load_data(experiment.load_config(workdir)).splits["train"].targets()
    counts = np.bincount(labels, minlength=5)
    assert report["loss"] == {
        "label_smoothing": 0.1,
        "class_weights": pytest.approx(list(len(labels) / (5 * counts)), rel=1e-15),
    }
    log = open(os.path.join(workdir, "train.log")).read()
    assert "training 5 variables (1,661 parameters) of train.trainable_scopes" in log


@pytest.mark.slow
def test_evaluate_scores_the_averages_or_the_weights_as_asked(run_a):
    workdir, _ = run_a
    path = checkpointing.checkpoint_path(workdir)
    averages = checkpointing.read_averages(path)
    raw = _variables(workdir)
    assert sorted(averages) == sorted(n for n in raw if n.startswith(("block4/", "logits/")))
    assert all(not np.array_equal(averages[n], raw[n]) for n in averages)
    config = experiment.load_config(workdir)
    model = experiment.build_model(config)
    checkpointing.restore_weights(model, path, ema=True)
    for var in model.variables:
        np.testing.assert_array_equal(var.numpy(), averages.get(var.name, raw[var.name]))

    with_ema = evaluation.evaluate_run(workdir, split="test", bootstrap_samples=0)
    p_ema = pd.read_csv(os.path.join(workdir, "predictions_test.csv"))
    without = evaluation.evaluate_run(workdir, split="test", bootstrap_samples=0, ema=False)
    p_raw = pd.read_csv(os.path.join(workdir, "predictions_test.csv"))
    assert with_ema["ema"] is True and without["ema"] is False
    assert with_ema["loss"] != without["loss"]
    assert not np.allclose(p_ema["p_grade0"], p_raw["p_grade0"])
    # What evaluate scored by default is the model holding the averages.
    data = experiment.load_data(config)
    _, logits, _ = experiment.evaluate_split(
        model, config, data.splits["test"], bootstrap_samples=0, preprocessing="inception"
    )
    p_grade0 = experiment.get_task(config).prediction_columns(logits)["p_grade0"]
    np.testing.assert_allclose(p_ema["p_grade0"], p_grade0, rtol=1e-12, atol=0)  # CSV text.


@pytest.fixture(scope="module")
def run_b(eyepacs_root, tmp_path_factory):
    """Learning rate 0 and every batch norm frozen: nothing moves, the metric plateaus."""
    workdir = str(tmp_path_factory.mktemp("finetune") / "b")
    config = _config(
        eyepacs_root,
        **{
            "train.total_steps": 20,
            "train.trainable_scopes": "logits",
            "train.early_stopping": 2,
            "train.eval_at_start": True,
            "optimizer.learning_rate": 0.0,
        },
    )
    return workdir, config, trainer.train_and_evaluate(config, workdir)


@pytest.mark.slow
def test_a_plateau_stops_the_run_at_the_right_step_and_a_rerun_trains_no_more(run_b):
    workdir, config, summary = run_b
    rows = pd.read_csv(os.path.join(workdir, "eval_log.csv"))
    # Step 0 sets the best; 2 and 4 do not beat it: patience 2 stops at step 4.
    assert list(rows["step"]) == [0, 2, 4] and rows["auc"].nunique() == 1
    assert summary["final_step"] == 4 and summary["early_stopping"]["stopped_at"] == 4
    assert checkpointing.available_steps(workdir) == [2, 4]  # Nothing after the stop.
    again = trainer.train_and_evaluate(config, workdir)
    assert again["final_step"] == 4 and again["early_stopping"] == summary["early_stopping"]
    assert len(pd.read_csv(os.path.join(workdir, "eval_log.csv"))) == 3
    assert (
        "stopped early at step 4 (train.early_stopping)"
        in open(os.path.join(workdir, "train.log")).read()
    )


@pytest.mark.slow
def test_exported_weights_are_the_scored_averages(run_a, tmp_path):
    workdir, _ = run_a
    entry = weights_export.export_run(workdir, which="best", output=str(tmp_path / "best"))
    assert entry.source["step"] == 2 and entry.source["weight_averages"] is True
    exported = slim_checkpoint.read_checkpoint(entry.path)
    path = checkpointing.checkpoint_path(workdir, "best")
    averages, raw = checkpointing.read_averages(path), _variables(workdir, "best")
    assert len(averages) == 7
    for name, value in raw.items():
        expected = averages.get(name, value)  # Frozen layers: their own (unaveraged) values.
        np.testing.assert_array_equal(exported[loading.slim_name(name)], expected, name)


@pytest.mark.slow
def test_predict_and_export_restore_the_averages_the_run_scored(run_a, eyepacs_root, tmp_path):
    workdir, _ = run_a
    path = checkpointing.checkpoint_path(workdir)
    averages, raw = checkpointing.read_averages(path), _variables(workdir)
    restored = trained_run.restore_run(workdir)
    assert restored.weight_averages is True
    for var in restored.model.variables:
        np.testing.assert_array_equal(var.numpy(), averages.get(var.name, raw[var.name]))
    trained = trained_run.restore_run(workdir, ema=False)
    assert trained.weight_averages is False
    for var in trained.model.variables:
        np.testing.assert_array_equal(var.numpy(), raw[var.name])
    assert serving.describe(restored, {})["weight_averages"] is True  # export.json's entry.
    # predict: the same probabilities as evaluate's (averages) on the same images.
    config = experiment.load_config(workdir)
    rows = experiment.load_data(config).splits["test"].rows()
    folder = tmp_path / "images"
    folder.mkdir()
    for image in rows["path"][:3]:
        shutil.copy(image, folder)
    out = str(tmp_path / "p.csv")
    summary = prediction.predict_images(workdir, str(folder), out)
    assert summary.weight_averages is True and summary.predicted == 3
    assert prediction.format_summary(summary).startswith(f"checkpoint {path} (step 6, weight")
    evaluation.evaluate_run(workdir, split="test", bootstrap_samples=0)
    evaluated = pd.read_csv(os.path.join(workdir, "predictions_test.csv")).set_index("image")
    predicted = pd.read_csv(out)
    stems = [os.path.splitext(name)[0] for name in predicted["image"]]
    # The log-probabilities bound the logits' spread, which sets the tolerance's scale.
    grades = [f"p_grade{k}" for k in range(5)]
    atol = probability_atol(restored.model, np.log(predicted[grades].to_numpy()))
    np.testing.assert_allclose(
        predicted["p_grade0"], evaluated.loc[stems, "p_grade0"], rtol=0, atol=atol
    )
    evaluation.evaluate_run(workdir, split="test", bootstrap_samples=0, ema=False)
    unaveraged = pd.read_csv(os.path.join(workdir, "predictions_test.csv")).set_index("image")
    gap = np.abs(predicted["p_grade0"].to_numpy() - unaveraged.loc[stems, "p_grade0"].to_numpy())
    assert gap.max() > 10 * atol  # The trained weights would not pass.
