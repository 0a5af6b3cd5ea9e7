"""Inception-v3: structure, slim's quirky names, pinned counts, equivalence with slim's graph."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from slim_weights import checkpoint, loading, manifest
from slim_weights.slim_compat import (
    build_slim_inception_v3,
    import_tf_slim,
    slim_normalizer_params,
)
from tests import slim_reference, slim_runs
from tests.shared_models import INCEPTION_AUX, INCEPTION_SMALLEST, shared_model
from transfusion_tf.models import endpoint_names, endpoints, get_model
from transfusion_tf.models.layout import get_endpoint_layers

pytestmark = pytest.mark.slow  # Full-size Inception-v3 and slim graphs: seconds each.

ENTRY = manifest.get_entry("inception_v3")
BODY = [
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "MaxPool_3a_3x3",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "MaxPool_5a_3x3",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
]


def _model(num_classes=1001, size=299, channels=3, aux_logits=False):
    return get_model(
        "inception_v3",
        num_classes=num_classes,
        input_shape=(size, size, channels),
        aux_logits=aux_logits,
    )


@pytest.fixture(scope="module")
def model_aux():
    """The checkpoint's own configuration: 1001 classes, aux head, 299 px (shared)."""
    return shared_model(INCEPTION_AUX)


@pytest.fixture(scope="module")
def model_1000():
    """Without aux and without the background logit (`convert --drop_background`), 299 px.

    Shared: the structure tests read it, the 1000-way test loads weights into it.
    """
    return _model(num_classes=1000)


def test_variables_are_slim_inventory_by_mechanical_rename(model_aux):
    kernel = "InceptionV3/Logits/Conv2d_1c_1x1/weights"
    slim_reference.check_variables_are_the_inventory(
        model_aux, ENTRY.inventory(), kernel, (2048, 1001)
    )


def test_quirky_slim_names_are_kept(model_1000):
    names = {loading.slim_name(v.name) for v in model_1000.variables}
    for name in (
        "InceptionV3/Mixed_5c/Branch_1/Conv2d_0b_1x1/weights",
        "InceptionV3/Mixed_5c/Branch_1/Conv_1_0c_5x5/weights",
        "InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1/weights",
        "InceptionV3/Mixed_6a/Branch_1/Conv2d_1a_1x1/weights",
        "InceptionV3/Mixed_7b/Branch_1/Conv2d_0b_3x1/weights",
        "InceptionV3/Mixed_7c/Branch_1/Conv2d_0c_3x1/weights",
    ):
        assert name in names
    assert "InceptionV3/Mixed_5c/Branch_1/Conv2d_0a_1x1/weights" not in names
    assert tuple(
        model_1000.get_layer("InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1").kernel.shape
    ) == (
        3,
        3,
        288,
        384,
    )
    # BatchNorm without gamma, as slim's inception arg scope builds it.
    assert not any(n.endswith("/gamma") for n in names)


def test_parameter_counts_are_pinned(model_aux, model_1000):
    assert model_aux.count_params() == 27_182_194  # = the slim inventory
    without_aux = [v for v in model_aux.variables if "/AuxLogits/" not in v.name]
    assert sum(int(np.prod(v.shape)) for v in without_aux) == 23_853_833
    trainable = [v for v in model_aux.trainable_variables if "/AuxLogits/" not in v.name]
    assert sum(int(np.prod(v.shape)) for v in trainable) == 23_819_401
    # A 1000-way head without aux: the slim body (21,802,784) plus 2048 * 1000 + 1000.
    assert model_1000.count_params() == 23_851_784


def test_endpoints_names_and_shapes(model_1000):
    assert endpoint_names(model_1000) == [*BODY, "pre_logits", "logits"]
    shapes = {k: tuple(v.shape)[1:] for k, v in endpoints(model_1000).output.items()}
    assert shapes["Conv2d_1a_3x3"] == (149, 149, 32)
    assert shapes["MaxPool_5a_3x3"] == (35, 35, 192)
    assert shapes["Mixed_5b"] == (35, 35, 256)
    assert shapes["Mixed_6a"] == (17, 17, 768)
    assert shapes["Mixed_7a"] == (8, 8, 1280)
    assert shapes["Mixed_7c"] == (8, 8, 2048)
    assert shapes["pre_logits"] == (2048,)
    assert shapes["logits"] == (1000,)
    small = endpoints(shared_model(INCEPTION_SMALLEST)).output
    assert tuple(small["Mixed_7c"].shape) == (None, 1, 1, 2048)


@pytest.mark.parametrize(
    ("shape", "options", "message"),
    [
        ((74, 80, 3), {}, ">= 75 px"),
        ((80, 80, 4), {}, "1 or 3 channels"),
        ((224, 224, 3), {"aux_logits": True}, "aux_logits=True needs 299x299"),
    ],
)
def test_rejects_bad_input_shapes(shape, options, message):
    with pytest.raises(ValueError, match=message):
        get_model("inception_v3", num_classes=2, input_shape=shape, **options)


def _layer_pairs(model, slim_keys):
    """Pairs each slim end point with the Keras layer computing the same tensor."""
    named = dict(get_endpoint_layers(model))
    special = {
        "PreLogits": named["pre_logits"],
        "Logits": named["logits"],
        "AuxLogits": "InceptionV3/AuxLogits/SpatialSqueeze",
    }
    return {k: named.get(k) or special[k] for k in slim_keys}


# End points whose difference is printed besides the worst.
SHOWN = ("Mixed_5b", "Mixed_6e", "Mixed_7c", "PreLogits", "Logits", "AuxLogits")


@pytest.fixture(scope="module")
def slim_run(tmp_path_factory):
    """Slim's Inception-v3 with random weights, saved as V1 and V2, at 299 and 587 (made
    once per session: `tests/slim_runs.py`)."""
    return slim_runs.session_run(tmp_path_factory, slim_runs.INCEPTION_V3)


def test_matches_slim_graph_at_299_with_aux(slim_run, capsys, model_aux):
    variables = checkpoint.read_checkpoint(slim_run["prefixes"]["V1"])
    model = model_aux
    report = loading.load_into(model, variables)
    assert sorted(report.loaded) == sorted(ENTRY.inventory())
    assert report.ignored == ("InceptionV3/Conv2d_1a_3x3/weights/Momentum", "global_step")
    _compare(model, slim_run, 299, capsys, expected_count=len(BODY) + 3)


def test_matches_slim_graph_at_587_without_aux(slim_run, capsys):
    variables = checkpoint.read_checkpoint(slim_run["prefixes"]["V2"])
    model = _model(size=587)
    report = loading.load_into(model, variables, exclude_scopes=["InceptionV3/AuxLogits"])
    # The aux head is the only part of the checkpoint left out, and it is named.
    assert len(report.excluded_checkpoint) == 10  # 2 conv+BN (4 each), logits (2)
    assert all(n.startswith("InceptionV3/AuxLogits/") for n in report.excluded_checkpoint)
    assert report.excluded_model == ()
    _compare(model, slim_run, 587, capsys, expected_count=len(BODY) + 2)


def _compare(model, slim_run, size, capsys, expected_count):
    pairs = _layer_pairs(model, slim_run["outputs"][size])
    title = f"inception_v3 @{size}"
    diffs = slim_reference.check_against_reference(
        model, pairs, slim_run, size, title=title, shown=SHOWN, capsys=capsys
    )
    assert len(diffs) == expected_count


def test_1000_way_head_drops_the_background_logit(slim_run, model_1000):
    variables = checkpoint.read_checkpoint(slim_run["prefixes"]["V2"])
    model = model_1000
    report = loading.load_into(
        model,
        variables,
        exclude_scopes=["InceptionV3/AuxLogits"],
        label_offset=ENTRY.label_offset,
        class_scopes=ENTRY.class_scopes,
    )
    assert report.adapted == (
        "InceptionV3/Logits/Conv2d_1c_1x1/biases: dropped the first 1 classes",
        "InceptionV3/Logits/Conv2d_1c_1x1/weights: dropped the first 1 classes; "
        "1x1 conv kernel reshaped to a Dense kernel",
    )
    head = model.get_layer("InceptionV3/Logits/Conv2d_1c_1x1")
    np.testing.assert_array_equal(
        head.kernel.numpy(), variables["InceptionV3/Logits/Conv2d_1c_1x1/weights"][0, 0, :, 1:]
    )
    np.testing.assert_array_equal(
        head.bias.numpy(), variables["InceptionV3/Logits/Conv2d_1c_1x1/biases"][1:]
    )
    # Logit i of the 1000-way model is logit i + 1 of slim's 1001-way graph.
    x = slim_run["inputs"][299]
    difference = slim_reference.relative_difference(
        model(x, training=False).numpy(), slim_run["outputs"][299]["Logits"][:, 1:]
    )
    assert difference <= slim_reference.network_tolerance(model)


def test_slim_reference_takes_batch_norm_from_slims_own_arg_scope(slim_run):
    """The reference's BN constants come from tf_slim, not from a copy of ours."""
    import_tf_slim()
    from tf_slim.nets import inception_v3

    default = inspect.signature(inception_v3.inception_v3_arg_scope).parameters
    params = slim_normalizer_params(inception_v3.inception_v3_arg_scope())
    assert params["updates_collections"] is None  # the one value we change (see slim_compat)
    assert (params["decay"], params["epsilon"], params["fused"]) == (
        default["batch_norm_decay"].default,
        default["batch_norm_epsilon"].default,
        default["use_fused_batchnorm"].default,
    )
    assert "scale" not in params  # slim's default: no gamma
    # Every body conv and the two aux-head convs of the reference's 299 px graph.
    slim_reference.check_default_epsilon(
        inception_v3.inception_v3_arg_scope, slim_run["epsilons"], 94 + 2
    )
    # A different slim arg scope changes the reference, so nothing in it is hardcoded.
    scope = inception_v3.inception_v3_arg_scope(batch_norm_epsilon=0.25)

    def build(x):  # the global-pool path builds its head by hand: covered too
        return build_slim_inception_v3(x, arg_scope=scope, global_pool=True, aux_logits=False)

    assert set(slim_reference.batch_norm_epsilons(build, 299)) == {0.25}
