"""An exponential moving average of a model's weights (`train.ema_decay`), as TF-Slim's
`train_image_classifier.py --moving_average_decay` keeps one.

After every training step each averaged variable's average moves towards it:

    average -= (1 - d) * (average - variable),   d = min(ema_decay, (1 + t) / (10 + t))

with t the number of updates so far (the step), `tf.train.ExponentialMovingAverage`'s
`num_updates` rule: early averages do not sit on the initial weights. The averages start
equal to the weights after initialisation (the step-0 checkpoint holds them).

What is averaged: every model variable training changes, i.e. the trainable weights and the
batch-norm moving statistics of trained layers (TF-Slim averages its model variables, moving
statistics included). Variables of frozen layers (`train.trainable_scopes`) never change
and are not averaged; scoring with the averages uses them as they are.

Run checkpoints hold `WeightAverage.averages` under `ema`: one variable per averaged model
variable, keyed by its name. A resumed run continues the same average to the bit, and
`checkpointing.restore_weights(model, path, ema=True)` puts the averages into a model.

Not tensorflow-addons' `MovingAverage`: it wraps only `tf.keras.optimizers.legacy`
optimizers (the runs use Keras 2.15's current ones, whose slots their checkpoints hold) and
averages only what the optimizer updates, not the batch-norm moving statistics.
"""

from __future__ import annotations

import contextlib

import ml_collections
import tensorflow as tf


class WeightAverage:
    """The moving averages of a model's trained variables.

    Args:
      model: the model whose variables are averaged; build it and set which layers train
        (`finetuning.freeze`) first. Create this under the same distribution strategy scope.
      decay: `train.ema_decay`, in (0, 1).

    Attributes:
      averages: {model variable name: its average (float, like the variable)}, in the
        order of `model.variables`: what checkpoints save under `ema`.
    """

    def __init__(self, model: tf.keras.Model, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self._variables = averaged_variables(model)
        self.averages = {
            v.name: tf.Variable(v, trainable=False, name=f"average/{v.name.split(':')[0]}")
            for v in self._variables
        }

    @tf.function
    def update(self, step) -> None:
        """Moves every average towards its variable (`step`: updates done, >= 1)."""
        step = tf.cast(step, tf.float32)
        decay = tf.minimum(tf.constant(self.decay, tf.float32), (1.0 + step) / (10.0 + step))
        for var in self._variables:
            average = self.averages[var.name]
            average.assign_sub((1.0 - tf.cast(decay, average.dtype)) * (average - var))

    def reset(self) -> None:
        """Sets every average to its variable (after the initialisation's surgery)."""
        for var in self._variables:
            self.averages[var.name].assign(var)

    @contextlib.contextmanager
    def applied(self):
        """Inside the block the model holds the averages; after it, its own weights again
        (copied back exactly)."""
        raw = [v.numpy() for v in self._variables]
        for var in self._variables:
            var.assign(self.averages[var.name])
        try:
            yield
        finally:
            for var, value in zip(self._variables, raw, strict=True):
                var.assign(value)


class UpdateAverage(tf.keras.callbacks.Callback):
    """Updates a `WeightAverage` after every training step (before any loop-end callback
    evaluates or saves)."""

    def __init__(self, average: WeightAverage):
        super().__init__()
        self._average = average

    def on_train_batch_end(self, batch, logs=None):
        self._average.update(self.model.optimizer.iterations)


def averaged_variables(model: tf.keras.Model) -> list[tf.Variable]:
    """The model variables training changes: all variables of layers that train.

    A layer's non-trainable variables (batch-norm moving statistics) change in training only
    while the layer trains; a frozen layer's variables never change.
    """
    changing = {id(v) for layer in model.layers if layer.trainable for v in layer.weights}
    return [v for v in model.variables if id(v) in changing and v.dtype.is_floating]


def scores_average(config: ml_collections.ConfigDict, ema: bool | None = None) -> bool:
    """Whether scoring a run uses its weight averages.

    Args:
      config: the run's config.
      ema: an explicit choice (the evaluate binary's --ema/--noema); None follows the
        config: `eval.use_ema` of a run with `train.ema_decay` > 0.

    Raises:
      ValueError: `ema=True` for a run that kept no average.
    """
    kept = float(config.train.get("ema_decay", 0.0)) > 0
    if ema is None:
        return kept and bool(config.eval.get("use_ema", True))
    if ema and not kept:
        raise ValueError("this run kept no weight average (train.ema_decay=0); score without it")
    return bool(ema)
