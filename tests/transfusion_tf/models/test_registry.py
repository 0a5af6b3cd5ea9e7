"""Every registered model: tiny forward pass without NaN, gradients to every variable."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tests import shared_models
from transfusion_tf.models import endpoint_names, get_model, list_models, slim_top_options

# The smallest input each family accepts.
TINY = {"resnet_v1_50": 32, "inception_v3": 75}
# Inception-v3: the process's shared models of these sizes (seeded, set back to their
# initial values), a build taking seconds.
SHARED = {
    ("inception_v3", ()): shared_models.INCEPTION_SMALLEST,
    ("inception_v3", ("aux_logits",)): shared_models.INCEPTION_AUX,
}


def _slow_if_slim(name: str) -> list:
    return [pytest.mark.slow] if name in TINY else []


def test_registry_lists_the_slim_networks():
    assert {"resnet_v1_50", "inception_v3"} <= set(list_models())
    with pytest.raises(ValueError, match="valid names: .*inception_v3.*resnet_v1_50"):
        get_model("resnet50", num_classes=2, input_shape=(64, 64, 3))


# (name, input size, options, batch): every registered model at its smallest input, and
# Inception's aux head, which exists only at 299 px. Batch 2 there: with batch 1, training
# BatchNorm over the aux head's 1x1 map turns every value into beta (0 at init), and no
# gradient reaches the aux head's kernels (measured).
# The slim networks take seconds each: `slow`.
CASES = [
    pytest.param(name, TINY.get(name, 32), {}, 2, id=name, marks=_slow_if_slim(name))
    for name in list_models()
] + [
    pytest.param(
        "inception_v3", 299, {"aux_logits": True}, 2, id="inception_v3-aux-299",
        marks=pytest.mark.slow,
    )
]  # fmt: skip


@pytest.mark.parametrize(("name", "size", "options", "batch"), CASES)
def test_forward_is_finite_and_every_variable_gets_a_gradient(name, size, options, batch):
    shared = SHARED.get((name, tuple(options)))
    if shared:
        assert shared[2] == size
        model, classes = shared_models.reinitialized_model(shared), shared[1]
    else:
        tf.keras.utils.set_random_seed(0)
        model, classes = get_model(name, num_classes=3, input_shape=(size, size, 3)), 3
    images = tf.random.uniform((batch, size, size, 3), -1.0, 1.0, seed=1)
    weights = tf.random.normal((batch, classes), seed=2)
    with tf.GradientTape() as tape:
        outputs = model(images, training=True)
        heads = outputs if isinstance(outputs, dict) else {"logits": outputs}
        loss = tf.add_n([tf.reduce_sum(logits * weights) for logits in heads.values()])
    assert sorted(heads) == (["aux_logits", "logits"] if options else ["logits"])
    for logits in heads.values():
        assert logits.shape == (batch, classes)
        assert np.all(np.isfinite(logits.numpy()))
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [
        v.name
        for v, g in zip(model.trainable_variables, grads, strict=True)
        if g is None or not np.any(g.numpy())
    ]
    assert not missing, f"{name}: no gradient reaches {missing}"
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    if options:  # the aux head's variables are among those checked
        assert any("/AuxLogits/" in v.name for v in model.trainable_variables)
    assert endpoint_names(model)[-2:] == ["pre_logits", "logits"]


def test_slim_top_options_narrow_the_blocks_above():
    assert slim_top_options("resnet_v1_50", {}, up_to="block2", width_factor=0.5) == {
        "width_factors": (1.0, 1.0, 0.5, 0.5)
    }
    assert slim_top_options("resnet_v1_50", {}, up_to="conv1", width_factor=0.25) == {
        "width_factors": (0.25, 0.25, 0.25, 0.25)
    }
    assert slim_top_options("cbr_small", {}, up_to="block1", width_factor=0.5) == {
        "widths": (32, 32, 64, 128)
    }
    assert slim_top_options("cbr_tiny", {"widths": (4, 8, 8, 8)}, up_to="block2", width_factor=0.5)[
        "widths"
    ] == (4, 8, 4, 4)
    with pytest.raises(ValueError, match="up_to='block5' is not one of conv1, block1, block2"):
        slim_top_options("resnet_v1_50", {}, up_to="block5", width_factor=0.5)
    with pytest.raises(ValueError, match="no slim-top variant of 'inception_v3'"):
        slim_top_options("inception_v3", {}, up_to="Mixed_5b", width_factor=0.5)
    with pytest.raises(ValueError, match="width_factor must be > 0"):
        slim_top_options("cbr_small", {}, up_to="block1", width_factor=0.0)


@pytest.mark.slow
def test_hybrid_resnet_parameter_count_is_pinned():
    """The paper's hybrid: ResNet-50 blocks 1-2 as they are, blocks 3-4 at half width."""
    options = slim_top_options("resnet_v1_50", {}, up_to="block2", width_factor=0.5)
    model = get_model("resnet_v1_50", num_classes=5, input_shape=(32, 32, 3), **options)
    assert model.count_params() == 6_907_845  # vs 23,571,397 at full width (5-way head)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert trainable == 6_877_253
    names = {v.name for v in model.variables}
    # Block 3's input (512) now equals its output depth: slim's identity shortcut, no conv.
    assert "resnet_v1_50/block3/unit_1/bottleneck_v1/shortcut/kernel:0" not in names
    assert "resnet_v1_50/block4/unit_1/bottleneck_v1/shortcut/kernel:0" in names
    with pytest.raises(ValueError, match="width_factors needs 4 positive factors"):
        get_model("resnet_v1_50", num_classes=5, input_shape=(32, 32, 3), width_factors=(1, 1))
