"""The convert binary: slim checkpoint -> Keras weights file -> get_model(...).load_weights."""

from __future__ import annotations

import os

import numpy as np
import pytest

from slim_weights import checkpoint, loading, manifest
from tests import binaries
from tests.shared_models import INCEPTION_AUX, RESNET, shared_model
from tests.slim_reference import random_slim_values
from transfusion_tf.convert_checkpoint import convert_checkpoint
from transfusion_tf.models import get_model

ENTRY = manifest.get_entry("inception_v3")


def _write(model, tmp_path_factory, seed):
    values = random_slim_values(manifest.get_entry(model).inventory(), seed=seed)
    values["global_step"] = np.array(7, np.int64)
    path = tmp_path_factory.mktemp("ckpt") / f"{model}.ckpt"
    return values, checkpoint.write_checkpoint(values, path, version="V1")


@pytest.fixture(scope="module")
def slim_checkpoint(tmp_path_factory):
    return _write("inception_v3", tmp_path_factory, seed=5)


def _assert_loaded(model, values, label_offset=0):
    for var in model.variables:
        name = loading.slim_name(var.name)
        expected = values[name]
        if label_offset and name.startswith("InceptionV3/Logits/"):
            expected = expected[..., label_offset:]
        np.testing.assert_array_equal(var.numpy(), expected.reshape(var.shape))


@pytest.mark.slow
def test_full_inception_checkpoint_round_trips_through_hdf5(slim_checkpoint, tmp_path):
    values, path = slim_checkpoint
    output = str(tmp_path / "inception_v3.h5")
    report = convert_checkpoint("inception_v3", path, output)
    assert sorted(report.loaded) == sorted(ENTRY.inventory())  # every variable consumed
    assert report.ignored == ("global_step",)
    model = shared_model(INCEPTION_AUX)  # Every variable of it is loaded and compared.
    model.load_weights(output)
    _assert_loaded(model, values)


@pytest.fixture(scope="module")
def resnet_checkpoint(tmp_path_factory):
    return _write("resnet_v1_50", tmp_path_factory, seed=6)


@pytest.mark.slow
def test_full_resnet_checkpoint_round_trips_through_tf_format(resnet_checkpoint, tmp_path):
    values, path = resnet_checkpoint
    output = str(tmp_path / "resnet_v1_50")
    report = convert_checkpoint("resnet_v1_50", path, output)
    assert sorted(report.loaded) == sorted(manifest.get_entry("resnet_v1_50").inventory())
    model = shared_model(RESNET)  # Every variable of it is loaded and compared.
    model.load_weights(output)
    _assert_loaded(model, values)


@pytest.mark.slow
def test_1000_way_grayscale_without_aux_loads_at_any_size(slim_checkpoint, tmp_path):
    values, path = slim_checkpoint
    output = str(tmp_path / "inception_v3_1000_gray.h5")
    report = convert_checkpoint(
        "inception_v3", path, output, drop_background=True, aux_logits=False, channels=1
    )
    assert report.excluded_checkpoint == tuple(
        sorted(n for n in ENTRY.inventory() if n.startswith("InceptionV3/AuxLogits/"))
    )
    model = get_model("inception_v3", num_classes=1000, input_shape=(80, 96, 1))
    model.load_weights(output)
    gray = {**values, ENTRY.first_conv: values[ENTRY.first_conv].sum(axis=2, keepdims=True)}
    _assert_loaded(model, gray, label_offset=1)


def _run(*args, home=None, cwd=binaries.REPO):
    env = {} if home is None else {"HOME": str(home)}
    return binaries.run("slim_weights.convert", *args, check=False, env=env, cwd=cwd)


@pytest.mark.slow
def test_binary_end_to_end_with_tilde_paths(resnet_checkpoint, tmp_path, monkeypatch):
    """The command of BUILD.md, `~` and all, then its output into get_model(...)."""
    values, path = resnet_checkpoint
    home = tmp_path / "home"
    (home / "slim_ckpt").mkdir(parents=True)
    os.symlink(path, home / "slim_ckpt" / "resnet_v1_50.ckpt")
    result = _run(
        "--model=resnet_v1_50",
        "--checkpoint=~/slim_ckpt/resnet_v1_50.ckpt",
        "--output=~/weights/resnet_v1_50.h5",
        home=home,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    output = home / "weights" / "resnet_v1_50.h5"
    assert f"wrote {output}" in result.stdout
    assert "loaded 267 variables; adapted 1; excluded 0 from the checkpoint" in result.stdout
    assert "  ignored global_step" in result.stdout
    assert not (tmp_path / "~").exists()
    model = shared_model(RESNET)
    model.load_weights(str(output))
    _assert_loaded(model, values)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    missing = binaries.run_main(  # The error path, in this process.
        "slim_weights.convert", "--model=resnet_v1_50", "--checkpoint=~/nope.ckpt", "--output=x.h5"
    )
    assert missing.returncode == 1
    assert f"error: no checkpoint at {home}/nope.ckpt" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.slow  # The first import of the binary takes seconds.
def test_help_lists_the_flags():
    # In this process: the binary's one real process is the end-to-end run above.
    result = binaries.run_main("slim_weights.convert", "--help")
    assert result.returncode == 1  # absl's status for --help.
    for flag in ("--model", "--checkpoint", "--output", "--channels"):
        assert f"  {flag}:" in result.stdout, result.stderr
    for flag in ("drop_background", "aux_logits"):
        assert f"  --[no]{flag}:" in result.stdout


def test_a_truncated_checkpoint_is_named_before_a_model_is_built(tmp_path):
    values = {"resnet_v1_50/conv1/weights": np.ones((7, 7, 3, 64), np.float32)}
    path = checkpoint.write_checkpoint(values, tmp_path / "cut.ckpt")
    data = f"{path}.data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(checkpoint.CheckpointReadError, match=f"{data} is truncated: reading"):
        convert_checkpoint("resnet_v1_50", path, str(tmp_path / "out" / "x.h5"))
    assert not (tmp_path / "out" / "x.h5").exists()
