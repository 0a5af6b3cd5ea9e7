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


def test_binary_help_and_run(run):
    usage = binaries.run("transfusion_tf.evaluate", "--help", check=False).stdout
    for flag in ("--workdir", "--split", "--checkpoint", "--bootstrap_samples"):
        assert flag in usage
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
            dataset=tf.data.Dataset.from_tensors(tf.zeros([1, 32, 32, 3])),
        )
