"""Weight surgery, exactly: what is copied, drawn, set or kept, variable by variable."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from transfusion_tf import surgery
from transfusion_tf.models import endpoint_names, get_model, slim_top_options, variable_endpoints
from transfusion_tf.models.layout import endpoints_by_scope

WIDTHS = (8, 16, 16, 32)
HEAD = ("logits",)


def _model(seed, num_classes=5, widths=WIDTHS):
    tf.keras.utils.set_random_seed(seed)
    return get_model("cbr_small", num_classes=num_classes, input_shape=(32, 32, 3), widths=widths)


@pytest.fixture(scope="module")
def cbr():
    """(fresh weights, pretrained weights, endpoint_of, endpoints) of a small CBR.

    The pretrained network has a 10-way head and non-trivial values everywhere: kernels
    with a non-zero mean, batch norm far from the identity.
    """
    model = _model(0)
    fresh = {v.name: v.numpy() for v in model.variables}
    rng = np.random.default_rng(1)
    pretrained = {}
    for v in _model(1, num_classes=10).variables:
        leaf = v.name.split(":")[0].rpartition("/")[2]
        shape = tuple(v.shape)
        if leaf == "kernel":
            value = rng.normal(0.1, 0.05 + 0.01 * len(pretrained), shape)
        elif leaf in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        else:
            value = rng.normal(0.3, 0.2, shape)
        pretrained[v.name] = value.astype(np.float32)
    return fresh, pretrained, variable_endpoints(model), endpoint_names(model)


def _leaf(name):
    return name.split(":")[0].rpartition("/")[2]


def _check_report(report, fresh):
    """Every model variable exactly once, in order, and a JSON-serialisable report."""
    assert [v.name for v in report.variables] == list(fresh)
    assert [v.shape for v in report.variables] == [np.shape(a) for a in fresh.values()]
    json.dumps(report.to_json())


def _check_head_fresh(weights, fresh, report):
    for name in ("logits/kernel:0", "logits/bias:0"):
        np.testing.assert_array_equal(weights[name], fresh[name])
    assert report.names("fresh_head") == ["logits/kernel:0", "logits/bias:0"]
    assert {u.name: u.reason for u in report.unused} == {
        "logits/kernel:0": "excluded",
        "logits/bias:0": "excluded",
    }


def test_random_keeps_everything(cbr):
    fresh, _, endpoint_of, _ = cbr
    weights, report = surgery.random_init(fresh, exclude=HEAD, endpoint_of=endpoint_of)
    _check_report(report, fresh)
    assert all(np.array_equal(weights[n], fresh[n]) for n in fresh)
    assert report.counts()["reinitialised"]["variables"] == 20


def test_transfer_copies_every_body_variable(cbr):
    fresh, pretrained, endpoint_of, _ = cbr
    weights, report = surgery.transfer(pretrained, fresh, exclude=HEAD, endpoint_of=endpoint_of)
    _check_report(report, fresh)
    _check_head_fresh(weights, fresh, report)
    body = [n for n in fresh if not n.startswith("logits/")]
    assert report.names("copied") == body
    for name in body:
        np.testing.assert_array_equal(weights[name], pretrained[name])
        assert weights[name] is not pretrained[name]  # A copy: inputs stay untouched.


@pytest.mark.parametrize("up_to", ["block1", "block2", "block3", "block4", "pre_logits"])
def test_transfuse_copies_exactly_the_endpoints_up_to_k(cbr, up_to):
    fresh, pretrained, endpoint_of, endpoints = cbr
    weights, report = surgery.transfuse(
        pretrained, fresh, endpoint_of=endpoint_of, endpoints=endpoints, up_to=up_to, exclude=HEAD
    )
    _check_report(report, fresh)
    _check_head_fresh(weights, fresh, report)
    below = endpoints[: endpoints.index(up_to) + 1]
    for name in fresh:
        if name.startswith("logits/"):
            continue
        if endpoint_of[name] in below:
            np.testing.assert_array_equal(weights[name], pretrained[name], err_msg=name)
            assert report.variables[list(fresh).index(name)].action == "copied"
        else:
            np.testing.assert_array_equal(weights[name], fresh[name], err_msg=name)
            assert report.variables[list(fresh).index(name)].action == "reinitialised"
    assert len(report.names("copied")) == 5 * min(len(below), 4)


def test_transfuse_with_mean_var_above(cbr):
    fresh, pretrained, endpoint_of, endpoints = cbr
    weights, report = surgery.transfuse(
        pretrained,
        fresh,
        endpoint_of=endpoint_of,
        endpoints=endpoints,
        up_to="block1",
        exclude=HEAD,
        rest="mean_var",
        rng=np.random.default_rng(0),
    )
    assert report.names("copied")[0] == "block1/conv/kernel:0"
    assert report.names("resampled") == [f"block{i}/conv/kernel:0" for i in (2, 3, 4)]
    assert len(report.names("identity")) == 12
    np.testing.assert_array_equal(weights["block1/bn/gamma:0"], pretrained["block1/bn/gamma:0"])
    np.testing.assert_array_equal(weights["block2/bn/gamma:0"], np.ones(16, np.float32))


def test_mean_var_matches_each_tensors_mean_and_std(cbr):
    fresh, pretrained, endpoint_of, _ = cbr
    weights, report = surgery.mean_var(
        pretrained, fresh, rng=np.random.default_rng(0), exclude=HEAD, endpoint_of=endpoint_of
    )
    _check_report(report, fresh)
    _check_head_fresh(weights, fresh, report)
    kernels = [n for n in fresh if _leaf(n) == "kernel" and not n.startswith("logits/")]
    assert report.names("resampled") == kernels
    for name in kernels:
        new, ref = weights[name].astype(np.float64), pretrained[name].astype(np.float64)
        n, mean, std = ref.size, ref.mean(), ref.std()
        assert abs(new.mean() - mean) < 3 * std / np.sqrt(n), name  # 3 standard errors
        assert abs(new.std() - std) < 3 * std / np.sqrt(2 * n), name
        assert weights[name].dtype == np.float32
        assert np.all(weights[name] != pretrained[name]) and np.all(weights[name] != fresh[name])
        detail = report.variables[list(fresh).index(name)].detail
        assert detail == f"N(mean={mean:.6g}, std={std:.6g})"


def test_mean_var_is_a_function_of_the_rng(cbr):
    fresh, pretrained, _, _ = cbr
    a, _ = surgery.mean_var(pretrained, fresh, rng=np.random.default_rng(3), exclude=HEAD)
    b, _ = surgery.mean_var(pretrained, fresh, rng=np.random.default_rng(3), exclude=HEAD)
    c, _ = surgery.mean_var(pretrained, fresh, rng=np.random.default_rng(4), exclude=HEAD)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert not np.array_equal(a["block2/conv/kernel:0"], c["block2/conv/kernel:0"])


@pytest.mark.parametrize("bn_mode", surgery.BN_MODES)
def test_mean_var_batch_norm_modes_are_exact(cbr, bn_mode):
    fresh, pretrained, _, _ = cbr
    weights, report = surgery.mean_var(
        pretrained, fresh, rng=np.random.default_rng(0), exclude=HEAD, bn_mode=bn_mode
    )
    _check_report(report, fresh)
    for block in range(1, 5):
        for leaf, identity in surgery.BN_IDENTITY.items():
            name = f"block{block}/bn/{leaf}:0"
            value, ref = weights[name], pretrained[name]
            action = report.variables[list(fresh).index(name)].action
            if bn_mode == "copy":
                np.testing.assert_array_equal(value, ref)
                assert action == "copied"
            elif bn_mode == "resample" and leaf in ("gamma", "beta"):
                assert action == "resampled" and np.all(value != ref)
                # Few values per tensor: a loose check that they come from the right normal.
                assert abs(value.mean() - ref.mean()) < 5 * ref.std() / np.sqrt(ref.size)
            else:
                np.testing.assert_array_equal(value, np.full(ref.shape, identity, np.float32))
                assert action == "identity"


def test_hybrid_keeps_the_bottom_and_a_slim_random_top(cbr):
    _, pretrained, _, _ = cbr
    options = slim_top_options("cbr_small", {"widths": WIDTHS}, up_to="block2", width_factor=0.5)
    assert options == {"widths": (8, 16, 8, 16)}
    model = _model(5, widths=options["widths"])
    fresh = {v.name: v.numpy() for v in model.variables}
    endpoint_of = variable_endpoints(model)
    # A source variable the slim model lacks is placed by scope.
    pretrained = {**pretrained, "block3/extra/weights": np.zeros(3, np.float32)}
    placed = endpoints_by_scope(["block3/extra/weights"], endpoint_of)
    weights, report = surgery.hybrid(
        pretrained,
        fresh,
        endpoint_of={**endpoint_of, **placed},
        endpoints=endpoint_names(model),
        up_to="block2",
        exclude=HEAD,
    )
    _check_report(report, fresh)
    assert report.names("copied") == [n for n in fresh if n.startswith(("block1", "block2"))]
    for name in report.names("copied"):
        np.testing.assert_array_equal(weights[name], pretrained[name])
    for name in report.names("reinitialised"):
        np.testing.assert_array_equal(weights[name], fresh[name])
    assert len(report.names("reinitialised")) == 10
    above = [u.name for u in report.unused if u.reason == "above"]
    assert above == [n for n in pretrained if n.startswith(("block3", "block4"))]
    assert weights["block3/conv/kernel:0"].shape == (7, 7, 16, 8)


def test_unmatched_names_and_shapes_raise_with_the_full_lists(cbr):
    fresh, pretrained, endpoint_of, endpoints = cbr
    renamed = dict(pretrained)
    renamed["block2/conv/weights"] = renamed.pop("block2/conv/kernel:0")
    renamed["block3/bn/beta:0"] = np.zeros(5, np.float32)
    with pytest.raises(surgery.SurgeryError) as error:
        surgery.transfer(renamed, fresh, exclude=HEAD)
    message = str(error.value)
    assert "1 model variables without a pretrained one: ['block2/conv/kernel:0']" in message
    assert "1 pretrained variables without a model one: ['block2/conv/weights']" in message
    assert "block3/bn/beta:0: pretrained (5,) vs model (16,)" in message
    with pytest.raises(surgery.SurgeryError, match="block2/conv/weights"):
        surgery.mean_var(renamed, fresh, rng=np.random.default_rng(0), exclude=HEAD)
    layout = dict(endpoint_of=endpoint_of, endpoints=endpoints, exclude=HEAD)
    with pytest.raises(surgery.SurgeryError, match="block2/conv/weights"):
        surgery.transfuse(renamed, fresh, up_to="block1", **layout)
    # Without the head among the exclusions, the 10-way head does not fit the 5-way one.
    with pytest.raises(surgery.SurgeryError, match=r"logits/kernel:0: pretrained \(32, 10\)"):
        surgery.transfer(pretrained, fresh, exclude=())


def test_bad_arguments_list_the_valid_values(cbr):
    fresh, pretrained, endpoint_of, endpoints = cbr
    kwargs = dict(endpoint_of=endpoint_of, endpoints=endpoints, exclude=HEAD)
    with pytest.raises(surgery.SurgeryError, match="valid: block1, block2, block3, block4, pre"):
        surgery.transfuse(pretrained, fresh, up_to="logits", **kwargs)
    with pytest.raises(surgery.SurgeryError, match="valid: random, mean_var"):
        surgery.transfuse(pretrained, fresh, up_to="block1", rest="gabor", **kwargs)
    with pytest.raises(surgery.SurgeryError, match="needs an rng"):
        surgery.transfuse(pretrained, fresh, up_to="block1", rest="mean_var", **kwargs)
    with pytest.raises(surgery.SurgeryError, match="valid: identity, resample, copy"):
        surgery.mean_var(
            pretrained, fresh, rng=np.random.default_rng(0), exclude=HEAD, bn_mode="zero"
        )
    partial = {n: e for n, e in endpoint_of.items() if not n.startswith("block4/bn/")}
    with pytest.raises(surgery.SurgeryError, match=r"4 model variables have no endpoint"):
        surgery.transfuse(
            pretrained,
            fresh,
            endpoint_of=partial,
            endpoints=endpoints,
            up_to="block1",
            exclude=HEAD,
        )
    odd = {**fresh, "block1/conv/scale:0": np.ones(3, np.float32)}
    odd_pretrained = {**pretrained, "block1/conv/scale:0": np.ones(3, np.float32)}
    with pytest.raises(surgery.SurgeryError, match=r"cannot resample \['block1/conv/scale:0'\]"):
        surgery.mean_var(odd_pretrained, odd, rng=np.random.default_rng(0), exclude=HEAD)


def test_gabor_conv1_replaces_conv1_only(cbr):
    fresh, _, endpoint_of, _ = cbr
    weights, report = surgery.gabor_conv1(
        fresh, conv1="block1/conv/kernel:0", target_std=0.07, exclude=HEAD, endpoint_of=endpoint_of
    )
    _check_report(report, fresh)
    assert report.names("synthetic") == ["block1/conv/kernel:0"]
    kernel = weights["block1/conv/kernel:0"]
    assert kernel.dtype == np.float32 and kernel.shape == (7, 7, 3, 8)
    assert abs(kernel.astype(np.float64).std() - 0.07) < 1e-6
    for name in fresh:
        if name != "block1/conv/kernel:0":
            np.testing.assert_array_equal(weights[name], fresh[name])
    gabor = report.to_json()["gabor"]
    assert gabor["target_std"] == 0.07 and len(gabor["filters"]) == 8
    with pytest.raises(surgery.SurgeryError, match="not a 4-D conv kernel"):
        surgery.gabor_conv1(fresh, conv1="block1/bn/gamma:0", target_std=0.1, exclude=HEAD)
