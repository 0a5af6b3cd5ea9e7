"""Which endpoint owns each variable, for every registered model; placement by scope."""

from __future__ import annotations

import functools

import pytest

from tests.shared_models import INCEPTION_AUX, RESNET, shared_model
from transfusion_tf.models import endpoint_names, get_model, list_models, variable_endpoints
from transfusion_tf.models.layout import endpoints_by_scope

TOP_SCOPE = {"resnet_v1_50": "resnet_v1_50/", "inception_v3": "InceptionV3/"}


@functools.cache
def _model(name: str):
    """Each model once per file; the slim networks shared between files, Inception with its
    aux head (hence at 299 px)."""
    if name in TOP_SCOPE:
        return shared_model({"inception_v3": INCEPTION_AUX, "resnet_v1_50": RESNET}[name])
    return get_model(name, num_classes=3, input_shape=(32, 32, 3))


def _owned_scope(name: str, endpoint: str) -> str:
    """The scope every variable of `endpoint` must lie under, by the families' naming."""
    top = TOP_SCOPE.get(name, "")
    if endpoint == "logits" and name == "inception_v3":
        return (top + "Logits/", top + "AuxLogits/")
    return f"{top}{endpoint}/"


@pytest.mark.parametrize(
    "name",
    # The slim networks take seconds each: `slow`.
    [pytest.param(n, marks=[pytest.mark.slow] if n in TOP_SCOPE else []) for n in list_models()],
)
def test_every_variable_belongs_to_the_endpoint_of_its_scope(name):
    model = _model(name)
    owner = variable_endpoints(model)
    assert list(owner) == [v.name for v in model.variables]
    endpoints = endpoint_names(model)
    for variable, endpoint in owner.items():
        assert endpoint in endpoints
        assert variable.startswith(_owned_scope(name, endpoint)), (variable, endpoint)
    # Endpoints own variables bottom to top in the order the model creates them.
    seen = list(dict.fromkeys(owner.values()))
    assert seen == [e for e in endpoints if e in seen]
    assert seen[-1] == "logits" and "pre_logits" not in seen


@pytest.mark.slow
def test_inception_aux_head_belongs_to_the_head():
    owner = variable_endpoints(_model("inception_v3"))
    aux = [v for v in owner if v.startswith("InceptionV3/AuxLogits/")]
    assert len(aux) == 10 and {owner[v] for v in aux} == {"logits"}
    assert owner["InceptionV3/Mixed_6e/Branch_0/Conv2d_0a_1x1/kernel:0"] == "Mixed_6e"


@pytest.mark.slow
def test_names_outside_the_model_are_placed_by_scope():
    owner = variable_endpoints(_model("resnet_v1_50"))
    placed = endpoints_by_scope(
        [
            "resnet_v1_50/block3/unit_1/bottleneck_v1/shortcut/weights",
            "resnet_v1_50/conv1/BatchNorm/renorm_mean",
            "resnet_v1_50/AuxLogits/weights",  # Shares only the top scope: ambiguous.
            "elsewhere/weights",
        ],
        owner,
    )
    assert placed == {
        "resnet_v1_50/block3/unit_1/bottleneck_v1/shortcut/weights": "block3",
        "resnet_v1_50/conv1/BatchNorm/renorm_mean": "conv1",
        "resnet_v1_50/AuxLogits/weights": None,
        "elsewhere/weights": None,
    }
