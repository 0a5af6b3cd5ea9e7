import numpy as np
import tensorflow as tf

from pipelines.augment import AugmentConfig, augment
from tests import tolerances

ALL = AugmentConfig(True, True, 15.0, 20.0, 0.2)


def _image():
    return tf.random.stateless_uniform((16, 16, 3), seed=(0, 1), maxval=255.0)


def test_same_seed_same_output_eagerly_and_inside_dataset_map():
    eager = augment(_image(), tf.constant([3, 7]), ALL).numpy()
    again = augment(_image(), tf.constant([3, 7]), ALL).numpy()
    ds = tf.data.Dataset.from_tensors((_image(), tf.constant([3, 7], tf.int64)))
    mapped = next(iter(ds.map(lambda im, s: augment(im, s, ALL)))).numpy()
    np.testing.assert_array_equal(eager, again)
    # Contrast takes a mean over 16 x 16 pixels of values up to 255.
    np.testing.assert_allclose(eager, mapped, rtol=0, atol=tolerances.reduction_atol(256, 255.0))
    other = augment(_image(), tf.constant([3, 8]), ALL).numpy()
    assert np.abs(eager - other).max() > 1.0


def test_disabled_is_identity_and_range_is_kept():
    image = _image()
    assert not AugmentConfig().enabled
    np.testing.assert_array_equal(augment(image, tf.constant([0, 0]), AugmentConfig()), image)
    out = augment(image, tf.constant([1, 2]), AugmentConfig(brightness=500.0)).numpy()
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_flip_only_permutes_pixels():
    image = _image()
    flips = AugmentConfig(flip_left_right=True)
    outs = [augment(image, tf.constant([s, 0]), flips).numpy() for s in range(8)]
    flipped = image.numpy()[:, ::-1]
    assert all(np.array_equal(o, image) or np.array_equal(o, flipped) for o in outs)
    assert any(np.array_equal(o, flipped) for o in outs)
