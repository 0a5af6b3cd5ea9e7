"""Every init.kind from the training binary's config file; source pretraining and
registration; slim models from a slim-format checkpoint; the errors a user can make.

The kinds' configs come from the binary's own flag parsing (`_config_from_file`: the config
file and `--config.*` overrides exactly as `python -m transfusion_tf.train` reads them);
one of them trains in-process (`TRAINED_KINDS`); the registration binary runs as a real
subprocess (its one `python -m` process in the suite).
"""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from slim_weights import checkpoint, loading, manifest, registry
from tests import binaries, tolerances
from tests.slim_reference import random_slim_values
from transfusion_tf import checkpointing, experiment, initialization, scopes, surgery, trainer
from transfusion_tf.configs import retina


def _config_from_file(*args: str):
    """The config `python -m transfusion_tf.train *args` trains: the binary's flag parsing."""
    argv = ["train", *args]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "", flag_values=values, lock_config=True, sys_argv=argv
    )
    values(argv)
    return values.config


def _weights_at_init(workdir):
    config = experiment.load_config(workdir)
    model = experiment.build_model(config)
    checkpointing.restore_weights(model, checkpointing.checkpoint_path(workdir, "init"))
    return {v.name: v.numpy() for v in model.variables}


def test_source_pretraining_registers_cbr_weights(source_weights):
    weights, run = source_weights
    entry = registry.find_weights("cbr_tiny", weights)
    assert isinstance(entry, registry.TrainedEntry)
    assert (entry.num_classes, entry.label_offset, entry.input_size) == (20, 0, 32)
    assert entry.preprocessing == "inception" and entry.head_scopes == ("logits",)
    assert entry.first_conv == "block1/conv/weights"
    assert entry.model_options == {"widths": [4, 8, 8, 8]}
    assert entry.source["step"] == 4 and entry.source["last_eval"]["step"] == 4
    assert entry.path == os.path.join(run, "export", "cbr_tiny-4")
    # The exported checkpoint holds the run's final weights, under slim names.
    exported = checkpoint.read_checkpoint(entry.path)
    config = experiment.load_config(run)
    model = experiment.build_model(config)
    checkpointing.restore_weights(model, checkpointing.checkpoint_path(run))
    assert sorted(exported) == sorted(loading.slim_name(v.name) for v in model.variables)
    for v in model.variables:
        np.testing.assert_array_equal(exported[loading.slim_name(v.name)], v.numpy())
    assert exported["logits/weights"].shape == (8, 20)
    summary = json.load(open(os.path.join(run, "train_summary.json")))
    assert summary["main_metric"] == "accuracy" and "top5" in summary["last_eval"]


def test_the_registration_binary_registers_what_the_library_does(source_weights, tmp_path):
    weights, run = source_weights
    copy = str(tmp_path / "run")
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("export"))
    path = str(tmp_path / "weights.json")
    out = binaries.run("transfusion_tf.register_weights", f"--workdir={copy}", f"--registry={path}")
    assert f"registered cbr_tiny in {path}" in out.stdout
    ours = json.load(open(path))["entries"]["cbr_tiny"]
    library = json.load(open(weights))["entries"]["cbr_tiny"]
    assert ours["path"] == os.path.join(copy, "export", "cbr_tiny-4")
    assert (ours["source"]["run"], ours["source"]["step"]) == (copy, 4)
    assert {k: v for k, v in ours.items() if k not in ("path", "source")} == {
        k: v for k, v in library.items() if k not in ("path", "source")
    }
    for name, value in checkpoint.read_checkpoint(ours["path"]).items():
        np.testing.assert_array_equal(value, checkpoint.read_checkpoint(library["path"])[name])


# The kind the fixture below trains through the trainer (2 steps): the one whose plan narrows
# the model the trainer builds (and the resume test rebuilds). The trainer's init step is
# the same for every kind, and `retina_run`, `trained_runs` and the demo study train from
# random, imagenet and mean_var starts; the other kinds initialise in-process as that step
# does (resolve, build the planned model, initialize), from the same parsed config.
TRAINED_KINDS = ("hybrid_slim",)


@pytest.fixture(scope="module")
def runs(source_weights, eyepacs_root, tmp_path_factory):
    """{kind: (init_report, {variable: value at init}, workdir or None)}, one per init kind
    from `configs/retina_init.py:test` with the binary's flags."""
    weights, _ = source_weights
    base = tmp_path_factory.mktemp("kinds")
    done = {}
    for kind in initialization.KINDS:
        config = _config_from_file(
            "--config=transfusion_tf/configs/retina_init.py:test",
            f"--config.data.root={eyepacs_root}",
            f"--config.init.kind={kind}",
            f"--config.init.registry={weights}",
            "--config.init.up_to=" + ("block1" if kind == "transfusion" else ""),
            "--config.train.total_steps=2",
            "--config.eval.final_splits=()",  # Evaluating the test split: not what is tested.
        )
        if kind in TRAINED_KINDS:
            workdir = str(base / kind)
            trainer.train_and_evaluate(config, workdir)
            with open(os.path.join(workdir, "init_report.json")) as f:
                done[kind] = (json.load(f), _weights_at_init(workdir), workdir)
        else:
            plan = initialization.resolve(config)
            model = experiment.build_model(config, plan)
            report = json.loads(json.dumps(initialization.initialize(model, config, plan)))
            done[kind] = (report, {v.name: v.numpy() for v in model.variables}, None)
    return done


@pytest.mark.parametrize("kind", initialization.KINDS)
def test_every_kind_from_the_binarys_flags_initialises_as_reported(kind, runs, source_weights):
    report, init, _ = runs[kind]
    names = [v["name"] for v in report["surgery"]["variables"]]
    assert names == list(init)  # Every variable exactly once, in model order.
    actions = {v["name"]: v["action"] for v in report["surgery"]["variables"]}
    assert actions["logits/kernel:0"] == actions["logits/bias:0"] == "fresh_head"
    assert report["kind"] == kind and report["preprocessing"] == "inception"
    assert report["model"]["parameters"] == sum(a.size for a in init.values())
    # What `reinitialised` and `fresh_head` variables drew from: slim.conv2d's defaults.
    assert report["model"]["initializers"] == {"GlorotUniform()": 5, "Ones()": 8, "Zeros()": 9}
    assert report["model"]["weight_decay"] == 0.0
    if kind == "random":
        assert report["weights"] is None
        assert set(actions.values()) == {"reinitialised", "fresh_head"}
        return
    entry = registry.find_weights("cbr_tiny", source_weights[0])
    source = checkpoint.read_checkpoint(entry.path)
    assert report["weights"]["type"] == "trained" and report["weights"]["path"] == entry.path

    def pretrained(name):
        return source[loading.slim_name(name)]

    copied = [n for n, a in actions.items() if a == "copied"]
    for name in copied:
        np.testing.assert_array_equal(init[name], pretrained(name), err_msg=name)
    expected_copied = {
        "imagenet": [n for n in init if not n.startswith("logits")],
        "mean_var": [],
        "transfusion": [n for n in init if n.startswith("block1/")],
        "hybrid_slim": [n for n in init if n.startswith(("block1/", "block2/"))],
        "gabor_conv1": [],
    }[kind]
    assert copied == expected_copied
    if kind == "mean_var":
        for block in range(1, 5):
            kernel = f"block{block}/conv/kernel:0"
            assert actions[kernel] == "resampled" and not np.any(init[kernel] == pretrained(kernel))
            np.testing.assert_array_equal(init[f"block{block}/bn/gamma:0"], 1.0)
    if kind == "hybrid_slim":
        assert report["model"]["options"] == {"widths": [4, 8, 4, 4]}
        assert init["block3/conv/kernel:0"].shape == (5, 5, 8, 4)
        assert report["surgery"]["counts"]["unused_above"]["variables"] == 10
    if kind == "gabor_conv1":
        conv1 = init["block1/conv/kernel:0"].astype(np.float64)
        assert actions["block1/conv/kernel:0"] == "synthetic"
        target = pretrained("block1/conv/kernel:0")  # float32: its std is a float32 reduction
        assert abs(conv1.std() - target.std()) <= tolerances.reduction_atol(
            target.size, target.std()
        )
        assert report["surgery"]["gabor"]["frequencies"] == [0.1, 0.3]


def test_resuming_does_not_redo_the_surgery(runs):
    workdir = runs["hybrid_slim"][2]
    report = os.path.join(workdir, "init_report.json")
    before = (os.path.getmtime(report), _weights_at_init(workdir))
    trainer.train_and_evaluate(experiment.load_config(workdir), workdir)
    assert os.path.getmtime(report) == before[0]
    after = _weights_at_init(workdir)
    assert all(np.array_equal(after[n], before[1][n]) for n in after)


def test_exclude_scopes_keep_the_models_own_initialisation(source_weights):
    """init.exclude_scopes (TF-Slim's --checkpoint_exclude_scopes): block4 is not copied."""
    config = retina.get_config("test")
    config.init.kind = "imagenet"
    config.init.registry = source_weights[0]
    config.init.exclude_scopes = "block4"
    plan = initialization.resolve(config)
    model = experiment.build_model(config, plan)
    fresh = {v.name: v.numpy() for v in model.variables}
    report = initialization.initialize(model, config, plan)
    source = checkpoint.read_checkpoint(registry.find_weights("cbr_tiny", source_weights[0]).path)
    actions = {v["name"]: (v["action"], v["detail"]) for v in report["surgery"]["variables"]}
    for var in model.variables:
        if var.name.startswith("block4/"):
            assert actions[var.name] == ("reinitialised", "init.exclude_scopes"), var.name
            np.testing.assert_array_equal(var.numpy(), fresh[var.name])  # Its own draw.
            assert not np.array_equal(var.numpy(), source[loading.slim_name(var.name)])
        elif var.name.startswith("logits/"):
            assert actions[var.name][0] == "fresh_head"
        else:
            assert actions[var.name][0] == "copied", var.name
            np.testing.assert_array_equal(var.numpy(), source[loading.slim_name(var.name)])
    counts = report["surgery"]["counts"]
    assert counts["reinitialised"]["variables"] == 5 and counts["copied"]["variables"] == 15
    # The source's block4 and head are left unused, as excluded.
    assert counts["unused_excluded"]["variables"] == 7
    config.init.exclude_scopes = ("block4", "block5")
    with pytest.raises(scopes.ScopeError, match=r"init.exclude_scopes: \['block5'\] select no"):
        initialization.excluded_variables(experiment.build_model(config, plan), config.init)


@pytest.fixture(scope="module")
def resnet_checkpoint(tmp_path_factory):
    """A released-format ResNet-50 checkpoint of random values (V1, with bookkeeping)."""
    values = random_slim_values(manifest.get_entry("resnet_v1_50").inventory(), seed=3)
    values["global_step"] = np.array(7, np.int64)
    path = tmp_path_factory.mktemp("resnet") / "resnet_v1_50.ckpt"
    return checkpoint.write_checkpoint(values, path, version="V1"), values


def _resnet_config(path, kind, channels=3):
    config = retina.get_config("test")
    config.model.name = "resnet_v1_50"
    config.model.options = {}
    config.data.channels = channels
    config.init.kind = kind
    config.init.checkpoint = path
    config.init.registry = "/nonexistent/weights.json"
    return config


@pytest.mark.slow
def test_resnet_imagenet_and_hybrid_from_a_slim_checkpoint(resnet_checkpoint):
    path, values = resnet_checkpoint
    config = _resnet_config(path, "imagenet")
    plan = initialization.resolve(config)
    assert plan.preprocessing == "vgg"  # The weights' preprocessing.
    assert plan.checkpoint == path and plan.entry.model == "resnet_v1_50"
    model = experiment.build_model(config, plan)
    report = initialization.initialize(model, config, plan)
    counts = report["surgery"]["counts"]
    assert counts["copied"]["variables"] == 265 and counts["fresh_head"]["variables"] == 2
    assert counts["unused_excluded"]["variables"] == 2
    assert report["weights"]["type"] == "released"
    assert report["weights"]["ignored_bookkeeping"] == ["global_step"]
    for v in model.variables:
        if "logits" not in v.name:
            np.testing.assert_array_equal(v.numpy(), values[loading.slim_name(v.name)])

    config = _resnet_config(path, "hybrid_slim", channels=1)
    plan = initialization.resolve(config)
    assert list(plan.model_options["width_factors"]) == [1.0, 1.0, 0.5, 0.5]
    model = experiment.build_model(config, plan)
    report = initialization.initialize(model, config, plan)
    assert report["model"]["parameters"] == 6_907_845 - 2 * 49 * 64  # 1-channel conv1
    assert report["model"]["options"] == {"width_factors": [1.0, 1.0, 0.5, 0.5]}
    by_name = {v.name: v.numpy() for v in model.variables}
    np.testing.assert_allclose(
        by_name["resnet_v1_50/conv1/kernel:0"],
        values["resnet_v1_50/conv1/weights"].sum(axis=2, keepdims=True),
        rtol=0,
        atol=tolerances.reduction_atol(3, np.abs(values["resnet_v1_50/conv1/weights"]).max() * 3),
    )
    actions = {v["name"]: (v["action"], v["endpoint"]) for v in report["surgery"]["variables"]}
    for name, (action, endpoint) in actions.items():
        expected = {"conv1": "copied", "block1": "copied", "block2": "copied"}.get(
            endpoint, "fresh_head" if endpoint == "logits" else "reinitialised"
        )
        assert action == expected, name
    above = [u["name"] for u in report["surgery"]["unused"] if u["reason"] == "above"]
    assert "resnet_v1_50/block3/unit_1/bottleneck_v1/shortcut/weights" in above
    assert len(above) == 90 + 50 + 5  # block3 and block4 of the full-width source
    # The slim top is re-initialised as slim's resnet_arg_scope would: He-style truncated
    # normal cut at 2 sqrt(1.3 * 2 / fan_in), std sqrt(1.3 * 2 / fan_in) * 0.8796, L2 1e-4.
    assert set(report["model"]["initializers"]) == {
        "SlimVarianceScaling(factor=2.0)",
        "Ones()",
        "Zeros()",
    }
    assert report["model"]["weight_decay"] == 1e-4
    kernel = by_name["resnet_v1_50/block4/unit_2/bottleneck_v1/conv2/kernel:0"]  # 3x3x256x256
    parameter = math.sqrt(2.6 / (9 * 256))
    assert np.abs(kernel).max() <= 2 * parameter * (1 + 1e-6)
    sigma = parameter * 0.87962566103423978
    # Within 6 standard errors of the sample std (normal kurtosis: sigma / sqrt(2 N)).
    assert abs(kernel.std() - sigma) <= 6 * sigma / math.sqrt(2 * kernel.size)


def test_user_errors_name_the_fix(tmp_path, resnet_checkpoint, source_weights):
    config = _resnet_config(resnet_checkpoint[0], "transfusion")
    with pytest.raises(initialization.InitError, match="needs init.up_to"):
        initialization.resolve(config)
    config.init.kind = "warm"
    with pytest.raises(initialization.InitError, match="valid: random, imagenet, mean_var"):
        initialization.resolve(config)
    config.init.kind, config.init.checkpoint = "imagenet", ""
    with pytest.raises(initialization.InitError, match="slim_weights.download --model=resnet"):
        initialization.resolve(config)
    config.init.checkpoint = str(tmp_path / "absent.ckpt")
    with pytest.raises(initialization.InitError, match="init.checkpoint: no checkpoint at"):
        initialization.resolve(config)
    config = retina.get_config("test")
    config.init.kind = "mean_var"
    config.init.registry = str(tmp_path / "empty.json")
    with pytest.raises(initialization.InitError, match="no pretrained weights for 'cbr_tiny'"):
        initialization.resolve(config)
    config.init.registry = source_weights[0]
    config.model.options.widths = (4, 8, 8, 16)
    with pytest.raises(initialization.InitError, match=r"trained with model.options \{'widths'"):
        initialization.resolve(config)
    config.init.bn_mode = "zero"
    with pytest.raises(initialization.InitError, match="valid: .'identity', 'resample', 'copy'"):
        initialization.resolve(config)


@pytest.mark.slow
def test_a_checkpoint_of_another_architecture_fails_listing_names(resnet_checkpoint):
    config = retina.get_config("test")
    config.model.name, config.model.options = "cbr_small", {}
    config.init.kind = "transfusion"
    config.init.up_to = "block1"
    config.init.checkpoint = resnet_checkpoint[0]
    config.init.registry = "/nonexistent/weights.json"
    registry_entry = manifest.get_entry("resnet_v1_50")
    model = experiment.build_model(config)
    fresh = {v.name: v.numpy() for v in model.variables}
    pretrained, _ = initialization.pretrained_variables(
        model, registry_entry, config.init.checkpoint
    )
    with pytest.raises(surgery.SurgeryError, match=r"model variables without a pretrained one: "):
        surgery.transfer(pretrained, fresh, exclude=registry_entry.head_scopes)
