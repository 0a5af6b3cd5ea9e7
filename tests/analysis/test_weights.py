"""Tests for analysis/weights.py: conv1 filters and weight movement from run checkpoints."""

import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from analysis import weights
from transfusion_tf import experiment
from transfusion_tf.checkpointing import checkpoint_path


def _conv1_kernel(workdir, which):
    """block1/conv's kernel straight from the checkpoint file, bypassing Keras: it is the
    model's first layer with weights."""
    reader = tf.train.load_checkpoint(checkpoint_path(workdir, which))
    return reader.get_tensor("model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE")


def _config(workdir):
    return experiment.load_config(workdir)


def test_first_conv_and_layer_endpoints(trained_runs):
    model = experiment.build_model(_config(trained_runs["random"][0]))
    assert weights.first_conv_layer(model) == "block1/conv"
    owner = weights.layer_endpoints(model)
    assert owner["block1/conv"] == "block1" and owner["block2/bn"] == "block2"
    assert owner["block4/pool"] == "block4" and owner["logits"] == "logits"
    assert owner["pre_logits"] == "pre_logits" and owner["images"] == "block1"


def test_movement_of_an_untrained_checkpoint_is_exactly_zero(trained_runs):
    per_weight, per_endpoint = weights.weight_movement(trained_runs["random"][0], end="init")
    assert (per_weight["change_norm"] == 0).all()
    assert (per_weight["relative_change"].dropna() == 0).all()
    assert (per_endpoint["relative_change"] == 0).all()


def test_movement_by_hand(trained_runs):
    run = trained_runs["random"][1]
    per_weight, per_endpoint = weights.weight_movement(run)
    assert list(per_weight.columns) == list(weights.MOVEMENT_COLUMNS)
    assert list(per_endpoint.columns) == list(weights.ENDPOINT_MOVEMENT_COLUMNS)
    assert list(per_endpoint["endpoint"]) == ["block1", "block2", "block3", "block4", "logits"]
    assert set(per_weight["run"]) == {"random1"}
    row = per_weight.set_index("weight").loc["block1/conv/kernel"]
    w0 = _conv1_kernel(run, "init").astype(np.float64)
    w1 = _conv1_kernel(run, "latest").astype(np.float64)
    assert row["shape"] == "5x5x3x4" and row["trainable"] and row["kernel"]
    assert row["relative_change"] == pytest.approx(
        np.linalg.norm(w1 - w0) / np.linalg.norm(w0), rel=1e-12
    )
    assert 0 < row["relative_change"] < 1
    beta = per_weight.set_index("weight").loc["block1/bn/beta"]
    assert beta["init_norm"] == 0 and np.isnan(beta["relative_change"])
    moving = per_weight.set_index("weight").loc["block1/bn/moving_variance"]
    assert not moving["trainable"] and moving["change_norm"] > 0
    # Per endpoint: the endpoint's kernels concatenated; CBR blocks hold one kernel each.
    block1 = per_endpoint.set_index("endpoint").loc["block1"]
    assert block1["weights"] == 1
    assert block1["relative_change"] == pytest.approx(row["relative_change"], rel=1e-12)
    logits = per_weight[per_weight["layer"] == "logits"].set_index("weight")
    kernel = logits.loc["logits/kernel"]
    assert per_endpoint.set_index("endpoint").loc["logits", "relative_change"] == pytest.approx(
        kernel["change_norm"] / kernel["init_norm"]
    )


def test_filters_and_files(trained_runs, tmp_path):
    runs = [*trained_runs["random"], *trained_runs["pretrained"]]
    paths = weights.save_filters(str(tmp_path), runs)
    assert [os.path.basename(p) for p in paths] == [
        "fig5_random0.npz",
        "fig5_random1.npz",
        "fig5_pretrained.npz",
    ]
    with np.load(paths[0]) as saved:
        assert str(saved["layer"]) == "block1/conv" and str(saved["run"]) == "random0"
        assert saved["init"].shape == saved["final"].shape == (5, 5, 3, 4)
        assert (int(saved["init_step"]), int(saved["final_step"])) == (0, 6)
        np.testing.assert_array_equal(saved["init"], _conv1_kernel(runs[0], "init"))
        np.testing.assert_array_equal(saved["final"], _conv1_kernel(runs[0], "latest"))
    per_weight, per_endpoint = weights.save_weight_movement(str(tmp_path), runs)
    on_disk = pd.read_csv(tmp_path / "weight_movement.csv")
    assert list(on_disk.columns) == list(weights.MOVEMENT_COLUMNS) and len(on_disk) == 66
    assert list(pd.unique(on_disk["run"])) == ["random0", "random1", "pretrained"]
    on_disk = pd.read_csv(tmp_path / "weight_movement_endpoints.csv")
    assert list(on_disk.columns) == list(weights.ENDPOINT_MOVEMENT_COLUMNS) and len(on_disk) == 15


def test_errors(trained_runs, tmp_path):
    with pytest.raises(ValueError, match=r"'block2/bn' is not a Conv2D layer .*\['block1/conv'"):
        weights.conv1_filters(trained_runs["random"][0], layer="block2/bn")
    with pytest.raises(ValueError, match=r"runs \['random0'\] appear more than once"):
        weights.save_weight_movement(str(tmp_path / "out"), [trained_runs["random"][0]] * 2)
    assert not (tmp_path / "out").exists()
