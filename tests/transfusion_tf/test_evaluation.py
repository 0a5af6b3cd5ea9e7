import json
import os
import shutil

import pandas as pd
import pytest
import tensorflow as tf

from tests import binaries
from transfusion_tf import evaluation, trainer
from transfusion_tf.configs import chexpert as chexpert_config


@pytest.fixture(scope="module")
def run(retina_run, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("run") / "run")
    shutil.copytree(retina_run[0], workdir)
    return workdir


def test_evaluate_writes_metrics_and_predictions(run):
    result = evaluation.evaluate_run(run, split="test", bootstrap_samples=50)
    assert result["step"] == 6 and result["examples"] == 10 and result["patients"] == 5
    assert result["bootstrap_samples"] == 50
    assert result["auc_ci_low"] <= result["auc"] <= result["auc_ci_high"]
    for key in ("auprc", "kappa", "accuracy", "loss", "auc_grade0", "auc_grade4"):
        assert key in result
    saved = json.load(open(os.path.join(run, "metrics.json")))
    assert saved["test"]["auc"] == result["auc"]
    predictions = pd.read_csv(os.path.join(run, "predictions_test.csv"))
    assert len(predictions) == 10
    assert list(predictions.columns[:3]) == ["image", "patient", "label"]
    row_sums = predictions[[f"p_grade{k}" for k in range(5)]].sum(axis=1)
    assert row_sums.round(5).eq(1.0).all()


def test_evaluate_init_checkpoint_and_merge_splits(run):
    evaluation.evaluate_run(run, split="test", bootstrap_samples=0)
    result = evaluation.evaluate_run(run, split="valid", checkpoint="init", bootstrap_samples=0)
    assert result["step"] == 0 and result["checkpoint"].endswith("init/ckpt-0")
    assert set(json.load(open(os.path.join(run, "metrics.json")))) == {"test", "valid"}


def test_bad_split_and_missing_checkpoint(run, tmp_path):
    with pytest.raises(ValueError, match=r"unknown split 'holdout'; this dataset has \['test', "):
        evaluation.evaluate_run(run, split="holdout")
    with pytest.raises(FileNotFoundError, match=r"no '4000' checkpoint .*available: \[2, 4, 6\]"):
        evaluation.evaluate_run(run, checkpoint="4000")
    with pytest.raises(FileNotFoundError, match="is .* a training workdir"):
        evaluation.evaluate_run(str(tmp_path))


def test_the_binary_evaluates_a_split(run):
    """Its --help: tests/test_help.py."""
    out = binaries.run(
        "transfusion_tf.evaluate", f"--workdir={run}", "--split=valid", "--bootstrap_samples=20"
    ).stdout
    assert "valid: checkpoint" in out and "referable-DR AUC" in out and "metrics.json" in out


@pytest.mark.slow
def test_chexpert_study_level_evaluation(chexpert_root, tmp_path):
    config = chexpert_config.get_config("test")
    config.data.root = chexpert_root
    config.data.options.views = "all"
    config.eval.aggregate = "mean"
    config.train.total_steps = 2
    trainer.train_and_evaluate(config, str(tmp_path))
    result = evaluation.evaluate_run(str(tmp_path), split="valid", bootstrap_samples=20)
    valid = pd.read_csv(os.path.join(chexpert_root, "CheXpert-v1.0-small", "valid.csv"))
    studies = valid["Path"].str.rsplit("/", n=1).str[0].nunique()
    assert len(valid) > studies  # Some studies have a lateral view too.
    assert result["examples"] == studies and result["patients"] == studies
    assert 0 <= result["mean_auc"] <= 1 and "auc_pleural_effusion_ci_high" in result
    predictions = pd.read_csv(tmp_path / "predictions_valid.csv")
    assert len(predictions) == len(valid)  # Per image, before aggregation.
    assert list(predictions.columns[:5]) == [
        "image",
        "patient",
        "study",
        "label_atelectasis",
        "mask_atelectasis",
    ]
    assert predictions["p_edema"].between(0, 1).all()
    text = evaluation.format_metrics(result)
    assert "mean AUC" in text and "pleural_effusion" in text
    config.eval.aggregate = "none"
    config.task = "dr_grade"
    config.eval.aggregate = "max"
    from pipelines.readers.file_split import FileSplit
    from transfusion_tf import experiment

    with pytest.raises(ValueError, match="eval.aggregate='max' needs"):
        experiment.evaluate_split(
            experiment.build_model(config),
            config,
            FileSplit(pd.DataFrame({"patient": ["a"], "label": [0], "path": [""]})),
            bootstrap_samples=0,
            dataset=tf.data.Dataset.from_tensors((tf.zeros([1, 32, 32, 3]), tf.zeros([1]))),
        )


def test_the_console_block_leaves_out_nan_intervals():
    nan = float("nan")
    retina = {"checkpoint": "run/ckpt-6", "step": 6, "examples": 8, "patients": 4, "auc": 0.75}
    retina.update(auc_ci_low=nan, auc_ci_high=nan, auprc=0.5, kappa=0.25, loss=1.5)
    text = evaluation.format_metrics(retina)
    assert "  referable-DR AUC 0.7500\n" in text and "nan" not in text
    retina.update(auc_ci_low=0.625, auc_ci_high=0.875)
    assert "  referable-DR AUC 0.7500 (95% CI 0.6250-0.8750, patient bootstrap)\n" in (
        evaluation.format_metrics(retina)
    )
    chest = {"checkpoint": "c", "step": 2, "examples": 5, "mean_auc": 0.5, "loss": 0.5}
    chest.update(mean_auc_ci_low=0.25, mean_auc_ci_high=0.75, auc_edema=nan)
    chest.update(auc_edema_ci_low=nan, auc_edema_ci_high=nan)
    assert evaluation.format_metrics(chest).splitlines()[2:4] == [
        "  mean AUC 0.5000 (95% CI 0.2500-0.7500, patient bootstrap)",
        "    edema             AUC nan",
    ]
    source = {"checkpoint": "s", "step": 2, "examples": 5, "accuracy": 0.5, "top5": 1.0}
    source.update(accuracy_ci_low=nan, accuracy_ci_high=nan)
    assert "  top-1 accuracy 0.5000\n" in evaluation.format_metrics(source)
