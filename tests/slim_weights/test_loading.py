"""load_into: mapping by name, heads, label offset, loud mismatches, grayscale adaptation."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf

from pipelines import preprocessing
from slim_weights import loading, manifest
from tests import tolerances
from tests.shared_models import INCEPTION_SMALLEST, RESNET, shared_model
from tests.slim_reference import network_tolerance, random_slim_values
from transfusion_tf.models import endpoints, get_model
from transfusion_tf.models.layout import get_endpoint_layers


def _tiny(num_classes=4, channels=3, name="tiny"):
    """A two-layer model named the slim way: net/conv1 (+BatchNorm), net/logits."""
    inputs = tf.keras.Input((8, 8, channels))
    x = tf.keras.layers.Conv2D(5, 3, use_bias=False, name="net/conv1")(inputs)
    x = tf.keras.layers.BatchNormalization(name="net/conv1/BatchNorm")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(num_classes, name="net/logits")(x)
    return tf.keras.Model(inputs, outputs, name=name)


def _tiny_checkpoint(num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {
        "net/conv1/weights": (3, 3, 3, 5),
        "net/conv1/BatchNorm/gamma": (5,),
        "net/conv1/BatchNorm/beta": (5,),
        "net/conv1/BatchNorm/moving_mean": (5,),
        "net/conv1/BatchNorm/moving_variance": (5,),
        "net/logits/weights": (1, 1, 5, num_classes),
        "net/logits/biases": (num_classes,),
    }
    values = {n: rng.uniform(0.5, 1.5, s).astype(np.float32) for n, s in shapes.items()}
    values["global_step"] = np.array(10, np.int64)
    values["net/conv1/weights/Momentum"] = np.zeros((3, 3, 3, 5), np.float32)
    return values


def _weights(model):
    return {loading.slim_name(v.name): v.numpy() for v in model.variables}


def test_slim_name_is_a_mechanical_rename():
    assert loading.slim_name("a/conv1/kernel:0") == "a/conv1/weights"
    assert loading.slim_name("a/logits/bias:0") == "a/logits/biases"
    assert loading.slim_name("a/conv1/BatchNorm/moving_variance:0") == (
        "a/conv1/BatchNorm/moving_variance"
    )
    assert loading.slim_name("kernel:0") == "weights"
    assert loading.in_scopes("a/logits/biases", ["a/logits"])
    assert not loading.in_scopes("a/logits2/biases", ["a/logits"])


def test_loads_every_variable_and_ignores_bookkeeping():
    model, values = _tiny(), _tiny_checkpoint()
    report = loading.load_into(model, values)
    assert report.ignored == ("global_step", "net/conv1/weights/Momentum")
    assert len(report.loaded) == 7
    assert report.adapted == ("net/logits/weights: 1x1 conv kernel reshaped to a Dense kernel",)
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, values[name].reshape(value.shape))
    assert "loaded 7 variables" in report.summary()


def test_new_head_by_excluding_its_scope():
    model, values = _tiny(num_classes=2), _tiny_checkpoint(num_classes=4)
    head_before = model.get_layer("net/logits").kernel.numpy()
    report = loading.load_into(model, values, exclude_scopes=["net/logits"])
    assert report.excluded_checkpoint == ("net/logits/biases", "net/logits/weights")
    assert report.excluded_model == ("net/logits/biases", "net/logits/weights")
    np.testing.assert_array_equal(model.get_layer("net/logits").kernel.numpy(), head_before)
    np.testing.assert_array_equal(
        model.get_layer("net/conv1").kernel.numpy(), values["net/conv1/weights"]
    )


def test_label_offset_drops_leading_classes_in_class_scopes_only():
    model, values = _tiny(num_classes=3), _tiny_checkpoint(num_classes=4)
    loading.load_into(model, values, label_offset=1, class_scopes=["net/logits"])
    np.testing.assert_array_equal(
        model.get_layer("net/logits").kernel.numpy(), values["net/logits/weights"][0, 0, :, 1:]
    )
    np.testing.assert_array_equal(
        model.get_layer("net/logits").bias.numpy(), values["net/logits/biases"][1:]
    )
    with pytest.raises(ValueError, match="label_offset needs class_scopes"):
        loading.load_into(model, values, label_offset=1)


def test_unmatched_names_list_both_sides_and_assign_nothing():
    model = _tiny()
    before = _weights(model)
    values = _tiny_checkpoint()
    values["net/conv1/BatchNorm/mean"] = values.pop("net/conv1/BatchNorm/moving_mean")
    with pytest.raises(loading.CheckpointMismatchError) as info:
        loading.load_into(model, values)
    message = str(info.value)
    assert "1 checkpoint variables with no model variable: ['net/conv1/BatchNorm/mean']" in message
    assert "1 model variables with no checkpoint variable: ['net/conv1/BatchNorm/moving_mean']" in (
        message
    )
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_shape_mismatch_lists_every_variable_and_assigns_nothing():
    model = _tiny(num_classes=2)
    before = _weights(model)
    with pytest.raises(loading.CheckpointMismatchError) as info:
        loading.load_into(model, _tiny_checkpoint(num_classes=4))
    message = str(info.value)
    assert "2 variables of model 'tiny' differ in shape" in message
    assert "net/logits/biases: checkpoint (4,) vs model (2,)" in message
    assert "net/logits/weights: checkpoint (1, 1, 5, 4) vs model (5, 2)" in message
    for name, value in _weights(model).items():
        np.testing.assert_array_equal(value, before[name])


def test_sum_rgb_channels():
    values = _tiny_checkpoint()
    gray = loading.sum_rgb_channels(values, "net/conv1/weights")
    assert gray["net/conv1/weights"].shape == (3, 3, 1, 5)
    rgb = values["net/conv1/weights"]
    np.testing.assert_allclose(
        gray["net/conv1/weights"][:, :, 0],
        rgb.sum(axis=2),
        rtol=0,
        atol=tolerances.reduction_atol(3, np.abs(rgb).sum(axis=2).max()),
    )
    assert values["net/conv1/weights"].shape == (3, 3, 3, 5)  # input left untouched
    with pytest.raises(ValueError, match=r"expected \(h, w, 3, out\)"):
        loading.sum_rgb_channels(gray, "net/conv1/weights")
    with pytest.raises(KeyError, match="nope"):
        loading.sum_rgb_channels(values, "nope")


@pytest.fixture(scope="module")
def grayscale_pair():
    """`_grayscale_pair`, each network built once for the file (a full-size network takes
    seconds to build). Tests leave the models' weights as they found them."""
    return functools.cache(_grayscale_pair)


def _grayscale_pair(model_name: str) -> dict:
    """The RGB model and its grayscale fine-tuning twin, loaded with the same random
    weights (seed 3), at the size of the RGB configuration other files share
    (`tests.shared_models`): ResNet-50 at its checkpoint's 224 px, Inception-v3 at its
    smallest 75 px.

    Returns {'values', 'size', 'rgb' (the checkpoint's own head and classes), 'gray' (1
    channel, a new 5-way head, the first conv summed over RGB), 'report' (gray's load)}.
    """
    entry = manifest.get_entry(model_name)
    config = {"resnet_v1_50": RESNET, "inception_v3": INCEPTION_SMALLEST}[model_name]
    size, values = config[2], random_slim_values(entry.inventory(), seed=3)
    rgb = shared_model(config)
    assert rgb.output_shape[-1] == entry.num_classes  # The checkpoint's own head.
    loading.load_into(rgb, values, exclude_scopes=entry.aux_scopes)
    gray = get_model(model_name, num_classes=5, input_shape=(size, size, 1))
    report = loading.load_into(
        gray, loading.sum_rgb_channels(values, entry.first_conv), exclude_scopes=entry.head_scopes
    )
    return {"values": values, "size": size, "rgb": rgb, "gray": gray, "report": report}


@pytest.mark.slow
def test_inception_checkpoint_into_resnet_fails_with_both_name_lists(grayscale_pair):
    resnet = grayscale_pair("resnet_v1_50")["rgb"]
    before = _weights(resnet)
    inception = {
        name: np.zeros(shape, np.float32)
        for name, shape in manifest.get_entry("inception_v3").inventory().items()
    }
    with pytest.raises(loading.CheckpointMismatchError) as info:
        loading.load_into(resnet, inception)
    message = str(info.value)
    assert "388 checkpoint variables with no model variable: ['InceptionV3/AuxLogits/" in message
    assert "267 model variables with no checkpoint variable: ['resnet_v1_50/block1/" in message
    assert "'InceptionV3/Mixed_7c/Branch_1/Conv2d_0c_3x1/weights'" in message
    assert "'resnet_v1_50/logits/weights'" in message
    for name, value in _weights(resnet).items():  # the shared model is left as it was
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.slow
def test_one_renamed_variable_fails_with_both_names(grayscale_pair):
    pair = grayscale_pair("resnet_v1_50")
    values = dict(pair["values"])
    renamed = "resnet_v1_50/block3/unit_2/bottleneck_v1/conv2/BatchNorm/gamma"
    values[renamed.replace("gamma", "scale")] = values.pop(renamed)
    with pytest.raises(loading.CheckpointMismatchError) as info:
        loading.load_into(pair["rgb"], values)
    message = str(info.value)
    assert f"1 checkpoint variables with no model variable: ['{renamed[:-5]}scale']" in message
    assert f"1 model variables with no checkpoint variable: ['{renamed}']" in message
    np.testing.assert_array_equal(  # nothing assigned
        pair["rgb"].get_layer("resnet_v1_50/conv1").kernel.numpy(),
        pair["values"]["resnet_v1_50/conv1/weights"],
    )


@pytest.mark.slow
@pytest.mark.parametrize("model_name", ["resnet_v1_50", "inception_v3"])
def test_grayscale_model_equals_rgb_model_on_replicated_gray(model_name, grayscale_pair):
    """The fine-tuning path (a new head, the first conv summed over RGB) computes the RGB
    model's features of the replicated gray image. (Loading the checkpoint's own head into
    a 1-channel model: tests/slim_weights/test_convert.py, value for value.)"""
    pair, entry = grayscale_pair(model_name), manifest.get_entry(model_name)
    rgb, gray, size = pair["rgb"], pair["gray"], pair["size"]
    assert set(pair["report"].excluded_model) == {
        loading.slim_name(v.name) for v in gray.get_layer(_logits_layer(gray)).weights
    }
    np.testing.assert_array_equal(
        gray.get_layer(entry.first_conv.removesuffix("/weights")).kernel.numpy(),
        loading.sum_rgb_channels(pair["values"], entry.first_conv)[entry.first_conv],
    )
    image = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 1)).astype(np.float32)
    replicated = np.repeat(image, 3, axis=-1)
    expected = endpoints(rgb)(replicated, training=False)["pre_logits"].numpy()
    actual = endpoints(gray)(image, training=False)["pre_logits"].numpy()
    rtol = network_tolerance(rgb)
    assert np.max(np.abs(actual - expected)) <= rtol * np.max(np.abs(expected))
    assert np.max(np.abs(expected)) > 0  # not a degenerate (all-zero) feature vector


@pytest.mark.slow
def test_grayscale_with_vgg_preprocessing_is_off_by_a_per_filter_conv1_offset(grayscale_pair):
    """How far `vgg` preprocessing of a gray image is from the replicated-gray RGB input.

    1-channel `vgg` subtracts the mean m̄ of the three channel means m_c; replicated gray
    has each channel's own m_c subtracted. Through conv1 summed over RGB, the gray model's
    conv1 output is then larger by sum_c k_c (m_c - m̄) per filter (k_c: the kernel summed
    over its window for input channel c) wherever the 7x7 window lies inside the image;
    windows over the zero padding get only part of it. `inception` preprocessing treats
    the channels alike, and there the two agree up to float rounding.
    """
    entry = manifest.get_entry("resnet_v1_50")
    pair = grayscale_pair(entry.model)
    values, rgb, gray, size = pair["values"], pair["rgb"], pair["gray"], pair["size"]

    def conv1(model, images):  # the conv itself, before BatchNorm: (1, 112, 112, 64)
        layer = model.get_layer("resnet_v1_50/conv1")
        return tf.keras.Model(model.inputs, layer.output)(images).numpy().astype(np.float64)

    image = np.random.default_rng(1).uniform(0, 255, (1, size, size, 1)).astype(np.float32)
    replicated = np.repeat(image, 3, axis=-1)
    k_c = values[entry.first_conv].astype(np.float64).sum(axis=(0, 1))  # (3, 64)
    means = np.array(preprocessing.VGG_RGB_MEANS)
    offset = ((means - means.mean())[:, None] * k_c).sum(axis=0)  # (64,)

    vgg = preprocessing.get_preprocessing("vgg")
    expected = conv1(rgb, vgg(replicated))
    difference = conv1(gray, vgg(image)) - expected
    scale = np.max(np.abs(expected))
    # A 7x7x3 dot product against one over the RGB-summed kernel (itself a float32 sum).
    atol = tolerances.reduction_atol(7 * 7 * 3, np.abs(k_c).sum(axis=0).max() * 255.0)
    # Output i sees input rows 2i-3 .. 2i+3: inside the 224 px image for i = 2 .. 110.
    interior = difference[:, 2:-1, 2:-1]
    np.testing.assert_allclose(interior, np.broadcast_to(offset, interior.shape), rtol=0, atol=atol)
    assert np.max(np.abs(offset)) > 0.01 * scale  # a real difference, not rounding
    assert np.max(np.abs(difference[:, 0] - offset)) > 0.01 * scale  # border: only part

    inception = preprocessing.get_preprocessing("inception")
    np.testing.assert_array_equal(
        np.repeat(np.asarray(inception(image)), 3, axis=-1), np.asarray(inception(replicated))
    )
    expected = conv1(rgb, inception(replicated))
    assert np.max(np.abs(conv1(gray, inception(image)) - expected)) <= atol / 255.0


def _logits_layer(model):
    return dict(get_endpoint_layers(model))["logits"]
