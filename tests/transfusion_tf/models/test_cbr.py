import pytest
import tensorflow as tf

from tests.slim_reference import network_tolerance, relative_difference
from transfusion_tf import models
from transfusion_tf.models import cbr

# Table 1 of the paper: conv kernels of blocks 2..N plus a 5-way classifier without bias.
PAPER_COUNTS = {
    "cbr_large_t": 8_532_480,
    "cbr_large_w": 8_432_128,
    "cbr_small": 2_108_672,
    "cbr_tiny": 1_076_480,
}
# Keras' full count at 3 input channels, 5 classes: conv1 kernel, every BN's
# gamma/beta/moving mean/moving variance, and the head bias on top of the paper's count.
KERAS_COUNTS = {
    "cbr_large_t": 8_541_157,
    "cbr_large_w": 8_445_381,
    "cbr_small": 2_115_301,
    "cbr_tiny": 1_080_805,
}


@pytest.mark.parametrize("name", sorted(PAPER_COUNTS))
def test_paper_and_keras_parameter_counts(name):
    model = models.get_model(name, num_classes=5, input_shape=(64, 64, 3))
    assert cbr.paper_param_count(model) == PAPER_COUNTS[name]
    assert model.count_params() == KERAS_COUNTS[name]


def test_keras_count_is_paper_count_plus_the_rest_by_hand():
    # cbr_small: conv1 7*7*3*32 + BN 4*(32+64+128+256) + head bias 5.
    assert KERAS_COUNTS["cbr_small"] == PAPER_COUNTS["cbr_small"] + 4704 + 1920 + 5


# Output channels of each block; the head's pre_logits are the last block's channels.
CHANNELS = {
    "cbr_small": (32, 64, 128, 256),
    "cbr_tiny": (32, 64, 128, 256),
    "cbr_large_w": (64, 128, 256, 512),
    "cbr_large_t": (32, 64, 128, 256, 512),
}
# Side of blocks 1-4 by input side: each block's 3x3/2 'same' max-pool halves it, rounding up.
BLOCK_SIDES = {128: (64, 32, 16, 8), 587: (294, 147, 74, 37)}


def expected_endpoints(name: str, size: int) -> dict[str, tuple[int, ...]]:
    """{endpoint: shape without the batch dimension} of `name` at size x size, 5 classes."""
    channels = CHANNELS[name]
    # cbr_large_t's block5 has no pool: it keeps block4's side.
    sides = BLOCK_SIDES[size] + BLOCK_SIDES[size][-1:] * (len(channels) - 4)
    blocks = {
        f"block{i}": (s, s, c) for i, (s, c) in enumerate(zip(sides, channels, strict=True), 1)
    }
    return {**blocks, "pre_logits": (channels[-1],), "logits": (5,)}


def test_expected_endpoints_by_hand():
    assert expected_endpoints("cbr_large_t", 587) == {
        "block1": (294, 294, 32),
        "block2": (147, 147, 64),
        "block3": (74, 74, 128),
        "block4": (37, 37, 256),
        "block5": (37, 37, 512),
        "pre_logits": (512,),
        "logits": (5,),
    }


@pytest.mark.parametrize("name", sorted(CHANNELS))
@pytest.mark.parametrize("size", sorted(BLOCK_SIDES))
def test_endpoint_names_and_shapes(name, size):
    model = models.get_model(name, num_classes=5, input_shape=(size, size, 3))
    expected = expected_endpoints(name, size)
    assert models.endpoint_names(model) == list(expected)
    outputs = models.endpoints(model).output
    assert {k: tuple(v.shape[1:]) for k, v in outputs.items()} == expected


def test_endpoint_model_shares_weights_and_matches_logits():
    model = models.get_model(
        "cbr_tiny", num_classes=5, input_shape=(32, 32, 3), widths=(4, 4, 8, 8)
    )
    images = tf.random.stateless_uniform((2, 32, 32, 3), seed=(1, 2))
    out = models.endpoints(model)(images)
    assert relative_difference(out["logits"].numpy(), model(images).numpy()) <= (
        network_tolerance(model)
    )
    assert len(models.endpoints(model).weights) == len(model.weights)


def test_layer_names_and_variable_names_are_stable():
    model = models.get_model("cbr_small", num_classes=5, input_shape=(32, 32, 1))
    names = [v.name for v in model.variables]
    assert names[:5] == [
        "block1/conv/kernel:0",
        "block1/bn/gamma:0",
        "block1/bn/beta:0",
        "block1/bn/moving_mean:0",
        "block1/bn/moving_variance:0",
    ]
    assert names[-2:] == ["logits/kernel:0", "logits/bias:0"]
    assert model.get_layer("block1/conv").kernel.shape == (7, 7, 1, 32)
    assert not model.get_layer("block1/conv").use_bias
    assert model.get_layer("block1/conv").strides == (1, 1)
    assert model.get_layer("block1/conv").padding == "same"
    pool = model.get_layer("block1/pool")
    assert (pool.pool_size, pool.strides) == ((3, 3), (2, 2))


def test_large_t_has_no_pool_after_block5():
    model = models.get_model("cbr_large_t", num_classes=5, input_shape=(64, 64, 3))
    names = [layer.name for layer in model.layers]
    assert "block4/pool" in names and "block5/pool" not in names


def test_widths_and_kernel_size_are_configurable():
    model = models.get_model(
        "cbr_tiny", num_classes=3, input_shape=(32, 32, 3), widths=(64, 128, 256, 512)
    )
    assert model.get_layer("block4/conv").kernel.shape == (5, 5, 256, 512)
    assert model.output_shape == (None, 3)
    with pytest.raises(ValueError, match="has 4 blocks"):
        models.get_model("cbr_tiny", num_classes=5, input_shape=(32, 32, 3), widths=(8, 8))


def test_one_and_three_channels_and_non_square_inputs():
    for shape in [(32, 32, 1), (48, 40, 3), (33, 35, 3)]:
        model = models.get_model("cbr_tiny", num_classes=5, input_shape=shape, widths=(4, 4, 4, 4))
        assert model(tf.zeros((1, *shape))).shape == (1, 5)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((31, 64, 3), ">= 32 px"),
        ((64, 64, 2), "1 or 3 channels"),
        ((64, 64), "height, width, channels"),
    ],
)
def test_bad_input_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        models.get_model("cbr_small", num_classes=5, input_shape=shape)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="cbr_large_t, cbr_large_w, cbr_small, cbr_tiny"):
        models.get_model("resnet_9000", num_classes=5, input_shape=(64, 64, 3))


def test_head_is_float32_under_mixed_precision():
    tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = models.get_model("cbr_tiny", num_classes=5, input_shape=(32, 32, 3))
        assert model.get_layer("block1/conv").compute_dtype == "bfloat16"
        assert model.get_layer("logits").compute_dtype == "float32"
        assert model(tf.zeros((1, 32, 32, 3))).dtype == tf.float32
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
