"""Every registered model: tiny forward pass without NaN, gradients to every variable."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from transfusion_tf.models import endpoint_names, get_model, list_models

# The smallest input each family accepts.
TINY = {"resnet_v1_50": 32, "inception_v3": 75}


def test_registry_lists_the_slim_networks():
    assert {"resnet_v1_50", "inception_v3"} <= set(list_models())
    with pytest.raises(ValueError, match="valid names: .*inception_v3.*resnet_v1_50"):
        get_model("resnet50", num_classes=2, input_shape=(64, 64, 3))


@pytest.mark.parametrize("name", list_models())
def test_forward_is_finite_and_every_variable_gets_a_gradient(name):
    size = TINY.get(name, 32)
    tf.keras.utils.set_random_seed(0)
    model = get_model(name, num_classes=3, input_shape=(size, size, 3))
    images = tf.random.uniform((2, size, size, 3), -1.0, 1.0, seed=1)
    weights = tf.random.normal((2, 3), seed=2)
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_sum(logits * weights)
    assert logits.shape == (2, 3)
    assert np.all(np.isfinite(logits.numpy()))
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [
        v.name
        for v, g in zip(model.trainable_variables, grads, strict=True)
        if g is None or not np.any(g.numpy())
    ]
    assert not missing, f"{name}: no gradient reaches {missing}"
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    assert endpoint_names(model)[-2:] == ["pre_logits", "logits"]
