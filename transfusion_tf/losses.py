"""The training losses of the tasks, with label smoothing and class weights.

Both follow TF-Slim's `tf.losses` (what `train_image_classifier.py --label_smoothing`
uses) and Keras' `class_weight`:
  softmax   targets one_hot * (1 - s) + s / K over the K classes;
  sigmoid   targets y * (1 - s) + s / 2 for each output;
  weights   each example's loss times the weight of its class; the batch loss stays the
            sum over examples divided by the batch size (Keras' `class_weight` convention),
            so weights of mean 1 over the training examples keep the loss's scale.
Evaluation never sees them: the tasks score probabilities, and their `loss` metric is the
plain cross-entropy.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def softmax_loss(
    num_classes: int, label_smoothing: float = 0.0, class_weights: Sequence[float] | None = None
) -> tf.keras.losses.Loss:
    """Softmax cross-entropy for integer labels (`losses.SoftmaxCrossentropy`).

    Without smoothing or weights it is Keras' own SparseCategoricalCrossentropy, the loss
    runs trained with before these options existed.
    """
    if not label_smoothing and class_weights is None:
        return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return SoftmaxCrossentropy(
        num_classes, label_smoothing=label_smoothing, class_weights=class_weights
    )


class SoftmaxCrossentropy(tf.keras.losses.Loss):
    """Softmax cross-entropy from logits for integer labels, smoothed and class-weighted.

    Args:
      num_classes: K, the width of the logits.
      label_smoothing: s in [0, 1): the target puts 1 - s + s / K on the label and s / K on
        every other class.
      class_weights: K weights, the loss of an example of class c times `class_weights[c]`;
        None weighs every class 1.

    `call(y_true, y_pred)`: y_true (batch,) or (batch, 1) integer labels, y_pred
    (batch, K) logits; returns the (batch,) per-example losses.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        label_smoothing: float = 0.0,
        class_weights: Sequence[float] | None = None,
        name: str = "softmax_crossentropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"{len(class_weights)} class weights for {num_classes} classes")
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self.class_weights = None if class_weights is None else tuple(map(float, class_weights))

    def call(self, y_true, y_pred):
        logits = tf.convert_to_tensor(y_pred)
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        target = tf.one_hot(labels, self.num_classes, dtype=logits.dtype)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        loss = -tf.reduce_sum(target * tf.nn.log_softmax(logits, axis=-1), axis=-1)
        if self.class_weights is not None:
            loss *= tf.gather(tf.constant(self.class_weights, logits.dtype), labels)
        return loss

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "label_smoothing": self.label_smoothing,
            "class_weights": self.class_weights,
        }


class MaskedBinaryCrossentropy(tf.keras.losses.Loss):
    """Sigmoid cross-entropy from logits, with masked labels contributing zero.

    y_true is (batch, 2, k): labels, then the mask. The per-example loss is
    sum_k(mask * bce) / k, so the batch loss is the mean over all batch x k entries with
    masked entries counting zero (the usual sample-weight convention; an image with fewer
    known labels weighs less).

    Args:
      label_smoothing: s in [0, 1): each counted label y becomes y * (1 - s) + s / 2
        (masked entries still count zero).
    """

    def __init__(
        self, name: str = "masked_binary_crossentropy", *, label_smoothing: float = 0.0, **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(y_true, y_pred.dtype)
        labels, mask = y_true[:, 0], y_true[:, 1]
        if self.label_smoothing:
            labels = labels * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=y_pred)
        return tf.reduce_sum(mask * bce, axis=-1) / tf.cast(tf.shape(y_pred)[-1], y_pred.dtype)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
