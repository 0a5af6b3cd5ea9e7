"""Label smoothing and class weights in the tasks' losses, against hand computations."""

import numpy as np
import pytest
import tensorflow as tf

from tests import tolerances
from transfusion_tf import losses, tasks

# A batch of 4: a mean of 4 per-example losses, each a log-softmax (transcendentals) and a
# 5-term sum; the float64 hand computation is exact by comparison.
RTOL = tolerances.elementwise_rtol(8) + tolerances.reduction_atol(5, 1.0)
LOGITS = np.array(
    [[2.0, -1.0, 0.5, 0.0, 1.0], [0.1, 0.2, 3.0, -2.0, 0.0], [-1.0, 0.0, 1.0, 2.0, 0.5],
     [0.0, 0.0, 0.0, 0.0, 4.0]],
    np.float32,
)  # fmt: skip
LABELS = np.array([0, 2, 2, 4])


def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def test_default_options_keep_keras_loss():
    for task in (tasks.get_task("dr_grade"), tasks.get_task("classification", num_classes=3)):
        assert type(task.loss()) is tf.keras.losses.SparseCategoricalCrossentropy
    assert tasks.get_task("chexpert5").loss().label_smoothing == 0.0


def test_label_smoothing_by_hand():
    loss = tasks.get_task("dr_grade").loss(label_smoothing=0.2)
    target = np.full((4, 5), 0.2 / 5)
    target[np.arange(4), LABELS] += 0.8
    expected = -(target * _log_softmax(LOGITS)).sum(axis=1).mean()
    assert float(loss(LABELS, LOGITS)) == pytest.approx(expected, rel=RTOL)
    plain = -_log_softmax(LOGITS)[np.arange(4), LABELS].mean()
    assert abs(expected - plain) > 0.05  # Smoothing does change this loss.


def test_class_weights_by_hand():
    weights = [0.5, 1.0, 2.0, 1.0, 4.0]
    loss = tasks.get_task("dr_grade").loss(class_weights=weights)
    per_example = -_log_softmax(LOGITS)[np.arange(4), LABELS]
    # Keras' class_weight convention: the weighted sum over the batch size.
    expected = (np.array(weights)[LABELS] * per_example).sum() / 4
    assert float(loss(LABELS, LOGITS)) == pytest.approx(expected, rel=RTOL)
    assert float(loss(LABELS[:, None], LOGITS)) == pytest.approx(expected, rel=RTOL)  # (n, 1)
    assert abs(expected - per_example.mean()) > 0.05


def test_class_weights_and_smoothing_together_and_inside_a_model():
    weights = [1.0, 3.0, 0.5, 1.0, 2.0]
    loss = tasks.get_task("classification", num_classes=5).loss(
        label_smoothing=0.1, class_weights=weights
    )
    target = np.full((4, 5), 0.1 / 5)
    target[np.arange(4), LABELS] += 0.9
    per_example = -(target * _log_softmax(LOGITS)).sum(axis=1)
    expected = (np.array(weights)[LABELS] * per_example).mean()
    assert float(loss(LABELS, LOGITS)) == pytest.approx(expected, rel=RTOL)
    model = tf.keras.Sequential([tf.keras.Input((5,)), tf.keras.layers.Dense(5, use_bias=False)])
    model.compile(loss=loss)
    model.layers[0].set_weights([np.eye(5, dtype=np.float32)])
    assert model.evaluate(LOGITS, LABELS, verbose=0) == pytest.approx(
        expected, rel=RTOL + tolerances.reduction_atol(5, 4.0)
    )


def test_masked_sigmoid_label_smoothing_by_hand():
    loss = tasks.get_task("chexpert5").loss(label_smoothing=0.2)
    labels = np.array([[1, 0, 0, 1, 1], [0, 1, 1, 1, 0]], np.float64)
    mask = np.array([[1, 1, 0, 1, 1], [1, 1, 1, 0, 0]], np.float64)
    logits = LOGITS[:2]
    smoothed = labels * 0.8 + 0.1
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    bce = -(smoothed * np.log(p) + (1 - smoothed) * np.log(1 - p))
    expected = (bce * mask).sum() / 10  # Masked entries count zero; the mean over all 10.
    y = np.stack([labels, mask], axis=1).astype(np.float32)
    assert float(loss(y, logits)) == pytest.approx(expected, rel=RTOL)
    # A masked entry's label does not matter, smoothed or not.
    y[0, 0, 2] = 1.0
    assert float(loss(y, logits)) == pytest.approx(expected, rel=RTOL)


def test_multi_label_tasks_refuse_class_weights():
    with pytest.raises(ValueError, match="class weights apply to single-label tasks"):
        tasks.get_task("chexpert5").loss(class_weights=[1.0] * 5)
    with pytest.raises(ValueError, match="3 class weights for 5 classes"):
        losses.SoftmaxCrossentropy(5, class_weights=[1.0, 2.0, 3.0])
