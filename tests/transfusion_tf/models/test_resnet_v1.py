"""ResNet-50 v1: structure, pinned counts, and numerical equivalence with slim's graph."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import tensorflow as tf

from slim_weights import checkpoint, loading, manifest
from slim_weights.slim_compat import (
    build_slim_resnet_v1_50,
    import_tf_slim,
    slim_normalizer_params,
)
from tests import slim_reference, slim_runs
from tests.shared_models import RESNET, shared_model
from transfusion_tf.models import endpoint_names, endpoints, get_model

pytestmark = pytest.mark.slow  # Full-size ResNet-50 and slim graphs: seconds each.

ENTRY = manifest.get_entry("resnet_v1_50")
ENDPOINTS = ["conv1", "block1", "block2", "block3", "block4", "pre_logits", "logits"]


def _model(num_classes=1000, size=224, channels=3):
    return get_model("resnet_v1_50", num_classes=num_classes, input_shape=(size, size, channels))


@pytest.fixture(scope="module")
def model_1000():
    """The checkpoint's own configuration: 1000 classes at 224 px (shared between files)."""
    return shared_model(RESNET)


@pytest.fixture(scope="module")
def model_5():
    """A fine-tuning configuration: a new 5-way head at 224 px."""
    return _model(num_classes=5)


def test_variables_are_slim_inventory_by_mechanical_rename(model_1000):
    kernel = "resnet_v1_50/logits/weights"
    slim_reference.check_variables_are_the_inventory(
        model_1000, ENTRY.inventory(), kernel, (2048, 1000)
    )


def test_parameter_counts_are_pinned(model_1000, model_5):
    trainable = sum(int(np.prod(v.shape)) for v in model_1000.trainable_variables)
    assert model_1000.count_params() == 25_610_152  # = the slim graph's inventory
    assert trainable == 25_557_032
    assert model_1000.count_params() - trainable == 53_120  # BN moving statistics
    # A 5-way head for fine-tuning: the slim body (23,561,152) plus 2048 * 5 + 5.
    assert model_5.count_params() == 23_571_397


def test_endpoints_names_and_shapes(model_5):
    assert endpoint_names(model_5) == ENDPOINTS
    shapes = {k: tuple(v.shape) for k, v in endpoints(model_5).output.items()}
    assert shapes == {
        "conv1": (None, 112, 112, 64),
        "block1": (None, 28, 28, 256),
        "block2": (None, 14, 14, 512),
        "block3": (None, 7, 7, 1024),
        "block4": (None, 7, 7, 2048),
        "pre_logits": (None, 2048),
        "logits": (None, 5),
    }


def test_smallest_input_and_odd_sizes():
    for size, block4 in ((32, 1), (33, 2)):
        # Blocks at 1/16 width: the same strides and paddings, a fraction of the values to draw.
        model = get_model(
            "resnet_v1_50",
            num_classes=2,
            input_shape=(size, size, 3),
            width_factors=(1 / 16,) * 4,
        )
        assert endpoints(model).output["block4"].shape[1:3] == (block4, block4)


@pytest.mark.parametrize(
    ("shape", "message"),
    [((31, 64, 3), ">= 32 px"), ((64, 64, 2), "1 or 3 channels"), ((64, 64), "height, width")],
)
def test_rejects_bad_input_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        get_model("resnet_v1_50", num_classes=2, input_shape=shape)


def _slim_layer_map(model, slim_keys):
    """Pairs each slim end point with the Keras layer computing the same tensor."""
    layers = {layer.name for layer in model.layers}
    named = dict(zip(ENDPOINTS, [layer for _, layer in _endpoint_layers(model)], strict=True))
    pairs = {}
    for key in slim_keys:
        short = key.removeprefix("resnet_v1_50/")
        if short in ("conv1", "block1", "block2", "block3", "block4", "logits"):
            pairs[key] = named[short]
        elif key == "resnet_v1_50/pool5":
            pairs[key] = named["pre_logits"]
        else:
            # A unit's output, or a conv inside it (with ReLU, else its BatchNorm).
            candidates = [f"{key}/Relu", f"{key}/BatchNorm"]
            pairs[key] = next(c for c in candidates if c in layers)
    return pairs


def _endpoint_layers(model):
    from transfusion_tf.models.layout import get_endpoint_layers

    return get_endpoint_layers(model)


@pytest.fixture(scope="module")
def slim_run(tmp_path_factory):
    """Slim's ResNet-50 with random weights, saved as V1 and V2, evaluated at 224 and 587
    (made once per session: `tests/slim_runs.py`)."""
    return slim_runs.session_run(tmp_path_factory, slim_runs.RESNET_V1_50)


@pytest.mark.parametrize(("size", "version"), [(224, "V1"), (587, "V2")])
def test_matches_slim_graph(slim_run, size, version, capsys, model_1000):
    variables = checkpoint.read_checkpoint(slim_run["prefixes"][version])
    model = model_1000 if size == 224 else _model(size=size)
    report = loading.load_into(model, variables)
    # Every checkpoint variable is consumed; only the bookkeeping is left out.
    assert sorted(report.loaded) == sorted(ENTRY.inventory())
    assert report.ignored == ("global_step", "resnet_v1_50/conv1/weights/Momentum")
    assert report.excluded_checkpoint == report.excluded_model == ()
    pairs = _slim_layer_map(model, slim_run["outputs"][size])
    diffs = slim_reference.check_against_reference(
        model,
        pairs,
        slim_run,
        size,
        title=f"resnet_v1_50 @{size} ({version})",
        shown=sorted(k for k in pairs if k.count("/") == 1),  # conv1, block1..4, pool5, logits
        capsys=capsys,
    )
    # Every end point but `predictions`, at both sizes: conv1, block1..4, pool5, logits, the
    # 16 units, their 16 * 3 convs and the 4 projection shortcuts.
    assert len(diffs) == 7 + 16 + 16 * 3 + 4 == 75


def test_v1_and_v2_checkpoints_read_identically(slim_run):
    v1 = checkpoint.read_checkpoint(slim_run["prefixes"]["V1"])
    v2 = checkpoint.read_checkpoint(slim_run["prefixes"]["V2"])
    assert sorted(v1) == sorted(v2)
    for name, value in slim_run["values"].items():
        np.testing.assert_array_equal(v1[name], value)
        np.testing.assert_array_equal(v2[name], value)


def test_new_head_by_excluding_head_scopes(slim_run, model_5):
    variables = checkpoint.read_checkpoint(slim_run["prefixes"]["V2"])
    model = model_5
    head_before = [v.numpy() for v in model.get_layer("resnet_v1_50/logits").weights]
    report = loading.load_into(model, variables, exclude_scopes=ENTRY.head_scopes)
    assert report.excluded_checkpoint == (
        "resnet_v1_50/logits/biases",
        "resnet_v1_50/logits/weights",
    )
    assert report.excluded_model == report.excluded_checkpoint
    for before, var in zip(
        head_before, model.get_layer("resnet_v1_50/logits").weights, strict=True
    ):
        np.testing.assert_array_equal(before, var.numpy())
    np.testing.assert_array_equal(
        model.get_layer("resnet_v1_50/conv1").kernel.numpy(),
        variables["resnet_v1_50/conv1/weights"],
    )
    assert tf.reduce_all(tf.math.is_finite(model(slim_run["inputs"][224])))


def test_slim_reference_takes_batch_norm_from_slims_own_arg_scope(slim_run):
    """The reference's BN constants come from tf_slim, not from a copy of ours."""
    import_tf_slim()
    from tf_slim.nets import resnet_v1

    default = inspect.signature(resnet_v1.resnet_arg_scope).parameters
    params = slim_normalizer_params(resnet_v1.resnet_arg_scope())
    assert params == {
        "decay": default["batch_norm_decay"].default,
        "epsilon": default["batch_norm_epsilon"].default,
        "scale": default["batch_norm_scale"].default,
        "updates_collections": None,  # the one value we change (see slim_compat)
    }
    # conv1 and the 52 convs of the units of the reference's graph; logits have no BN.
    slim_reference.check_default_epsilon(resnet_v1.resnet_arg_scope, slim_run["epsilons"], 53)
    # A different slim arg scope changes the reference, so nothing in it is hardcoded.
    scope = resnet_v1.resnet_arg_scope(batch_norm_epsilon=0.25)
    assert set(
        slim_reference.batch_norm_epsilons(
            lambda x: build_slim_resnet_v1_50(x, arg_scope=scope), 64
        )
    ) == {0.25}
