import numpy as np
import pytest
import tensorflow as tf

from pipelines import preprocessing


def test_inception_maps_0_255_to_minus1_1():
    out = preprocessing.get_preprocessing("inception")(tf.constant([[[0.0, 127.5, 255.0]]]))
    np.testing.assert_allclose(out.numpy(), [[[-1.0, 0.0, 1.0]]])


def test_vgg_subtracts_rgb_means_without_scaling_or_flip():
    image = tf.fill((2, 2, 3), 200.0)
    out = preprocessing.get_preprocessing("vgg")(image).numpy()
    np.testing.assert_allclose(out[0, 0], [200 - 123.68, 200 - 116.78, 200 - 103.94], rtol=1e-6)
    gray = preprocessing.vgg(tf.fill((1, 1, 1), 100.0)).numpy()
    np.testing.assert_allclose(gray, [[[100 - (123.68 + 116.78 + 103.94) / 3]]], rtol=1e-6)


def test_unit_and_inside_dataset_map():
    ds = tf.data.Dataset.from_tensors(tf.fill((1, 1, 1), 51.0)).map(preprocessing.unit)
    assert next(iter(ds)).numpy().item() == pytest.approx(0.2)


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="valid: inception, unit, vgg"):
        preprocessing.get_preprocessing("caffe")
