"""tf_slim's initialisers and L2 term as Keras objects; the term in the Keras training loss.

The comparison with the real slim graphs is in `test_initializers_vs_slim.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from tests.shared_models import INCEPTION_AUX, RESNET, shared_model
from tests.tolerances import elementwise_rtol, reduction_atol
from transfusion_tf.models import get_model, initializers

SLIM_KERNEL_SUMMARY = {
    # Every conv and the logits: one kernel each; BN: gamma (ResNet only) and moving
    # variance start at 1, beta and moving mean at 0, plus the logits biases.
    "resnet_v1_50": {
        "initializers": {"Ones()": 106, "SlimVarianceScaling(factor=2.0)": 54, "Zeros()": 107},
        "weight_decay": 1e-4,
        "regularized_variables": 54,
    },
    "inception_v3": {
        "initializers": {
            "Ones()": 96,
            "SlimVarianceScaling(factor=2.0)": 96,
            "TruncatedNormal(mean=0.0, stddev=0.001)": 1,
            "TruncatedNormal(mean=0.0, stddev=0.01)": 1,
            "Zeros()": 194,
        },
        "weight_decay": 4e-5,
        "regularized_variables": 98,
    },
}


def _kernels(model):
    return [v for v in model.variables if v.name.split(":")[0].endswith("/kernel")]


def _half_sum_of_squares(model) -> tuple[float, int]:
    """(sum over kernels of sum(w**2) / 2 in float64, number of kernel values)."""
    kernels = [v.numpy().astype(np.float64) for v in _kernels(model)]
    return sum(float(np.sum(k * k)) / 2 for k in kernels), sum(k.size for k in kernels)


def _l2_atol(model, total: float) -> float:
    """Float32 reduction tolerance of the summed L2 term: per kernel squares, sum, scale."""
    largest = max(int(np.prod(v.shape)) for v in _kernels(model))
    return reduction_atol(largest + 2 + len(_kernels(model)), total)


def test_truncated_std_is_the_std_of_a_normal_cut_at_two():
    truncated = scipy.stats.truncnorm(-2.0, 2.0).std()
    assert truncated == pytest.approx(initializers.TRUNCATED_STD, rel=1e-15)


@pytest.mark.parametrize("factor", [2.0, 1.0])
@pytest.mark.parametrize("shape", [(7, 7, 3, 64), (2048, 5), (1, 1, 768, 1001), (3, 3, 1, 1)])
def test_slim_variance_scaling_has_slims_truncated_normal_parameter(shape, factor):
    init = initializers.SlimVarianceScaling(factor)
    fan_in = math.prod(shape[:-1])
    # Keras draws truncated_normal(0, sqrt(scale / fan_in) / TRUNCATED_STD); slim draws
    # truncated_normal(0, sqrt(1.3 * factor / fan_in)) (tf_slim variance_scaling_initializer).
    keras_parameter = math.sqrt(init.scale / fan_in) / initializers.TRUNCATED_STD
    assert keras_parameter == pytest.approx(math.sqrt(1.3 * factor / fan_in), rel=1e-15)
    assert (init.mode, init.distribution) == ("fan_in", "truncated_normal")
    values = init(shape).numpy()
    assert values.shape == shape and values.dtype == np.float32
    assert np.abs(values).max() <= 2 * keras_parameter * (1 + elementwise_rtol(3))


def test_initializer_and_regularizer_round_trip_through_keras_serialization():
    init = tf.keras.initializers.deserialize(
        tf.keras.initializers.serialize(initializers.SlimVarianceScaling(1.0, seed=3))
    )
    assert isinstance(init, initializers.SlimVarianceScaling)
    assert (init.factor, init.seed) == (1.0, 3)
    reg = tf.keras.regularizers.deserialize(
        tf.keras.regularizers.serialize(initializers.SlimL2(4e-5))
    )
    assert isinstance(reg, initializers.SlimL2) and reg.weight_decay == 4e-5


def test_slim_l2_is_weight_decay_times_half_the_sum_of_squares():
    w = np.arange(-6, 6, dtype=np.float32).reshape(3, 4) / 4
    value = initializers.SlimL2(1e-4)(tf.constant(w))
    assert value.dtype == tf.float32
    expected = 1e-4 * float(np.sum(w.astype(np.float64) ** 2)) / 2  # 1e-4 * 41.125 / 2
    assert float(value) == pytest.approx(expected, rel=4 * 2**-24)
    with pytest.raises(ValueError, match="weight_decay > 0"):
        initializers.SlimL2(0.0)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 1e-4), (0, None), (0.0, None), (3e-4, 3e-4), (1, 1.0)]
)
def test_weight_decay_regularizer_defaults_and_zero(value, expected):
    reg = initializers.weight_decay_regularizer(value, default=1e-4, model="m")
    assert (reg.weight_decay if reg else None) == expected


@pytest.mark.parametrize("value", [-1e-4, float("nan"), float("inf"), "slim", True])
def test_bad_weight_decay_names_the_model(value):
    with pytest.raises(ValueError, match="resnet_v1_50: weight_decay must be"):
        get_model("resnet_v1_50", num_classes=5, input_shape=(32, 32, 3), weight_decay=value)


@pytest.mark.slow
@pytest.mark.parametrize("config", [RESNET, INCEPTION_AUX], ids=lambda config: config[0])
def test_slim_networks_carry_their_arg_scopes(config):
    # Shared models: their weights may be loaded ones; the term is checked against them.
    name, model = config[0], shared_model(config)
    summary = initializers.init_summary(model)
    assert summary == SLIM_KERNEL_SUMMARY[name]
    assert len(model.losses) == summary["regularized_variables"]
    total, _ = _half_sum_of_squares(model)
    expected = summary["weight_decay"] * total
    assert abs(float(tf.add_n(model.losses)) - expected) <= _l2_atol(model, expected)


@pytest.mark.slow
def test_weight_decay_zero_removes_the_term_and_a_value_scales_it():
    # Blocks at 1/16 width: the same 54 regularised kernels, a fraction of the values to draw.
    narrow = dict(num_classes=5, input_shape=(32, 32, 3), width_factors=(1 / 16,) * 4)
    model = get_model("resnet_v1_50", weight_decay=0.0, **narrow)
    assert model.losses == []
    assert initializers.init_summary(model)["weight_decay"] == 0.0
    model = get_model("resnet_v1_50", weight_decay=2e-4, **narrow)
    assert len(model.losses) == SLIM_KERNEL_SUMMARY["resnet_v1_50"]["regularized_variables"]
    total, _ = _half_sum_of_squares(model)
    assert abs(float(tf.add_n(model.losses)) - 2e-4 * total) <= _l2_atol(model, 2e-4 * total)


def test_cbrs_use_slim_conv2d_defaults():
    model = get_model("cbr_tiny", num_classes=5, input_shape=(32, 32, 3))
    assert model.losses == []  # slim.conv2d has no regulariser by default.
    assert initializers.init_summary(model) == {
        "initializers": {"GlorotUniform()": 5, "Ones()": 8, "Zeros()": 9},
        "weight_decay": 0.0,
        "regularized_variables": 0,
    }
    kernel = model.get_layer("block4/conv").kernel.numpy().astype(np.float64)  # 5x5x128x256
    fan_in, fan_out = 25 * 128, 25 * 256
    limit = math.sqrt(6 / (fan_in + fan_out))  # xavier_initializer(): U(-limit, limit).
    # Drawn in float32 as -limit + 2 limit u: three roundings (limit itself, the product, the
    # sum) may carry a value just past limit.
    assert np.abs(kernel).max() <= limit * (1 + elementwise_rtol(3))
    # The sample std of N uniform values: within 6 of its standard errors of limit / sqrt(3)
    # (uniform kurtosis 1.8: sd(s) = sigma sqrt(0.8 / (4 N))).
    sigma = limit / math.sqrt(3)
    assert abs(kernel.std() - sigma) <= 6 * sigma * math.sqrt(0.2 / kernel.size)
    with_decay = get_model("cbr_tiny", num_classes=5, input_shape=(32, 32, 3), weight_decay=3e-4)
    assert len(with_decay.losses) == 5  # Four convs and the logits.
    total, _ = _half_sum_of_squares(with_decay)
    expected = 3e-4 * total
    assert abs(float(tf.add_n(with_decay.losses)) - expected) <= _l2_atol(with_decay, expected)


def _fit_once(model, x, y) -> float:
    """One fit step at learning rate 0; returns the loss Keras logged."""
    model.compile(
        optimizer=tf.keras.optimizers.SGD(0.0),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return history.history["loss"][0]


@pytest.mark.slow
def test_keras_fit_adds_the_l2_term_to_the_training_loss():
    tf.keras.utils.set_random_seed(0)
    model = get_model("cbr_tiny", num_classes=5, input_shape=(32, 32, 3), weight_decay=0.05)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    y = np.arange(8) % 5
    data = float(
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=True))
    )
    l2 = float(tf.add_n(model.losses))
    logged = _fit_once(model, x, y)
    assert l2 > 1.0  # Large enough that leaving it out could not pass for rounding.
    # The data loss of the eager and the compiled forward pass agree to float32 rounding
    # through five layers; 1e-4 of the loss is orders above that and far below l2.
    assert logged == pytest.approx(data + l2, rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_l2_term_is_float32_of_the_float32_weights_under_mixed_precision(policy):
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        tf.keras.utils.set_random_seed(0)
        model = get_model("cbr_tiny", num_classes=5, input_shape=(32, 32, 3), weight_decay=0.05)
        assert all(loss.dtype == tf.float32 for loss in model.losses)
        total, _ = _half_sum_of_squares(model)
        # The float32 weights' value: a bfloat16 or float16 cast would be off by ~1e-3.
        expected = 0.05 * total
        assert abs(float(tf.add_n(model.losses)) - expected) <= _l2_atol(model, expected)
        x = np.zeros((2, 32, 32, 3), np.float32)
        assert _fit_once(model, x, np.array([0, 1])) > float(tf.add_n(model.losses))
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
