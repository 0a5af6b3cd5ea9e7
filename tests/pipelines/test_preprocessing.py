import numpy as np
import pytest
import tensorflow as tf

from pipelines import preprocessing
from tests import tolerances


def test_inception_maps_0_255_to_minus1_1():
    out = preprocessing.get_preprocessing("inception")(tf.constant([[[0.0, 127.5, 255.0]]]))
    np.testing.assert_allclose(
        out.numpy(), [[[-1.0, 0.0, 1.0]]], rtol=0, atol=tolerances.elementwise_rtol(2)
    )


def test_vgg_subtracts_rgb_means_without_scaling_or_flip():
    image = tf.fill((2, 2, 3), 200.0)
    out = preprocessing.get_preprocessing("vgg")(image).numpy()
    # Float32 rounds the stored means and the difference: a reduction of 2 (and 4) terms.
    expected = [200 - 123.68, 200 - 116.78, 200 - 103.94]
    np.testing.assert_allclose(out[0, 0], expected, rtol=0, atol=tolerances.reduction_atol(2, 324))
    gray = preprocessing.vgg(tf.fill((1, 1, 1), 100.0)).numpy()
    expected = [[[100 - (123.68 + 116.78 + 103.94) / 3]]]
    np.testing.assert_allclose(gray, expected, rtol=0, atol=tolerances.reduction_atol(4, 445))


def test_unit_and_inside_dataset_map():
    ds = tf.data.Dataset.from_tensors(tf.fill((1, 1, 1), 51.0)).map(preprocessing.unit)
    assert next(iter(ds)).numpy().item() == pytest.approx(0.2, rel=tolerances.elementwise_rtol(1))


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="valid: inception, unit, vgg"):
        preprocessing.get_preprocessing("caffe")
