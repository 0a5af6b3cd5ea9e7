"""`experiment.Predictor`: one pass of logits over an eval stream, call after call."""

import numpy as np
import tensorflow as tf

from transfusion_tf import experiment


def _model() -> tf.keras.Model:
    inputs = tf.keras.Input((3,))
    outputs = tf.keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")(inputs)
    return tf.keras.Model(inputs, outputs)


def _stream(images: np.ndarray, batch_size: int, *, known_length: bool) -> tf.data.Dataset:
    examples = tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images))))
    if not known_length:  # A filter hides the length, as TFRecord shards do.
        examples = examples.filter(lambda image, target: True)
    return examples.cache().batch(batch_size).prefetch(2)


def test_each_call_is_one_whole_pass_in_order_with_the_current_weights():
    images = np.arange(30, dtype=np.float32).reshape(10, 3)  # 3 batches of 4, 4 and 2.
    model = _model()
    for known_length in (True, False):
        predict = experiment.Predictor(model, _stream(images, 4, known_length=known_length))
        model.layers[1].kernel.assign(np.ones((3, 2), np.float32))
        for _ in range(3):  # Passes 2 and 3 come from the repeated stream's one iterator.
            logits = predict()
            assert logits.shape == (10, 2)
            np.testing.assert_array_equal(logits, np.repeat(images.sum(1, keepdims=True), 2, 1))
        model.layers[1].kernel.assign(np.full((3, 2), 2.0, np.float32))
        np.testing.assert_array_equal(predict(), 2 * np.repeat(images.sum(1, keepdims=True), 2, 1))


def test_the_logits_are_keras_predicts():
    images = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    model = _model()
    model.layers[1].kernel.assign(np.random.default_rng(1).normal(size=(3, 2)))
    stream = _stream(images, 4, known_length=True)
    predict = experiment.Predictor(model, stream)
    np.testing.assert_array_equal(predict(), model.predict(stream, verbose=0))
    np.testing.assert_array_equal(predict(), model.predict(stream, verbose=0))
