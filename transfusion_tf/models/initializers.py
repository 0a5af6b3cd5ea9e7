"""tf_slim's initialisers and L2 weight decay, as Keras objects the builders attach to layers.

A model's `random` start is the initialisation of the framework its architecture comes from:

- ResNet-50 v1 and Inception-v3 use their slim arg scopes (`resnet_utils.resnet_arg_scope`,
  `inception_v3.inception_v3_arg_scope`): every conv kernel, the logits included, draws from
  `variance_scaling_initializer()` (factor 2.0, FAN_IN, truncated normal; `SlimVarianceScaling`)
  and carries `l2_regularizer(weight_decay)` (1e-4 and 4e-5; `SlimL2`). Inception's AuxLogits
  convs override the kernel initialiser with `trunc_normal(0.01)` (`Conv2d_2a_5x5`) and
  `trunc_normal(0.001)` (`Conv2d_2b_1x1`), keeping the regulariser. Biases start at zero and
  are not regularised.
- The CBRs are not slim networks and the paper gives no initialiser: they use `slim.conv2d`'s
  and `slim.fully_connected`'s own defaults, `xavier_initializer()` (= Keras GlorotUniform),
  zero biases and no regulariser.
- Batch norm starts as slim's `batch_norm` does: beta 0, gamma 1, moving mean 0, moving
  variance 1 (`BATCH_NORM_INITIALIZERS`).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import tensorflow as tf

# The standard deviation of a standard normal truncated to [-2, 2]; Keras' VarianceScaling
# divides its truncated-normal parameter by exactly this constant.
TRUNCATED_STD = 0.87962566103423978

BATCH_NORM_INITIALIZERS = {
    "beta_initializer": "zeros",
    "gamma_initializer": "ones",
    "moving_mean_initializer": "zeros",
    "moving_variance_initializer": "ones",
}


class ArgScope(NamedTuple):
    """What a slim arg scope gives every conv -> batch norm of a network."""

    bn_momentum: float  # slim's batch-norm `decay`.
    bn_epsilon: float
    bn_scale: bool  # Batch norm with gamma (ResNet) or without (Inception).
    regularizer: tf.keras.regularizers.Regularizer | None  # On every conv kernel.


@tf.keras.utils.register_keras_serializable(package="transfusion_tf")
class SlimVarianceScaling(tf.keras.initializers.VarianceScaling):
    """tf_slim's `variance_scaling_initializer(factor, mode='FAN_IN', uniform=False)`.

    slim draws `truncated_normal(0, sqrt(1.3 * factor / fan_in))` (cut at two of that
    parameter), so its kernels have standard deviation sqrt(1.3 * factor / fan_in) * 0.8796...
    = sqrt(2.0117 / fan_in) for factor 2: 0.3% above He's sqrt(2 / fan_in), which Keras'
    own `VarianceScaling(2.0, 'fan_in', 'truncated_normal')` would give. Keras draws with
    parameter sqrt(scale / fan_in) / TRUNCATED_STD, so scale = 1.3 * factor * TRUNCATED_STD**2
    gives slim's parameter, the same op and the same truncation. Fans are computed alike
    (fan_in = prod(shape[:-1]) for a kernel), so a Dense (2048, C) kernel draws as slim's
    (1, 1, 2048, C) logits conv.
    """

    def __init__(self, factor: float = 2.0, seed: int | None = None):
        super().__init__(
            scale=1.3 * factor * TRUNCATED_STD**2,
            mode="fan_in",
            distribution="truncated_normal",
            seed=seed,
        )
        self.factor = factor

    def get_config(self) -> dict:
        return {"factor": self.factor, "seed": self.seed}


@tf.keras.utils.register_keras_serializable(package="transfusion_tf")
class SlimL2(tf.keras.regularizers.Regularizer):
    """tf_slim's `l2_regularizer(weight_decay)`: weight_decay * tf.nn.l2_loss(w).

    That is weight_decay * sum(w**2) / 2, half of what `tf.keras.regularizers.L2(weight_decay)`
    adds; computed with slim's own ops, in the variable's dtype (float32 under every precision
    policy: the loss reads the float32 variable outside the autocast scope).
    """

    def __init__(self, weight_decay: float):
        if not weight_decay > 0:
            raise ValueError(f"SlimL2 needs weight_decay > 0, got {weight_decay}")
        self.weight_decay = float(weight_decay)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.weight_decay, x.dtype) * tf.nn.l2_loss(x)

    def get_config(self) -> dict:
        return {"weight_decay": self.weight_decay}


def weight_decay_regularizer(
    weight_decay: float | None, *, default: float, model: str
) -> SlimL2 | None:
    """slim's L2 regulariser for a builder's `weight_decay` argument.

    Args:
      weight_decay: None (the model's slim default), or a number >= 0.
      default: the model's slim default (its arg scope's `weight_decay`; 0 for the CBRs).
      model: the model's name, for the error message.

    Returns:
      `SlimL2(decay)`, or None (no loss term at all) for a decay of 0.

    Raises:
      ValueError: a negative, non-finite or non-numeric value, naming the model.
    """
    if weight_decay is None:
        weight_decay = default
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise ValueError(f"{model}: weight_decay must be None or a number, got {weight_decay!r}")
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"{model}: weight_decay must be finite and >= 0, got {weight_decay}")
    return SlimL2(weight_decay) if weight_decay > 0 else None


def describe(initializer: tf.keras.initializers.Initializer) -> str:
    """An initialiser's class and arguments, e.g. `TruncatedNormal(mean=0.0, stddev=0.01)`."""
    config = {k: v for k, v in initializer.get_config().items() if v is not None}
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(config.items()))
    return f"{type(initializer).__name__}({args})"


def init_summary(model: tf.keras.Model) -> dict:
    """Which initialiser and regulariser each of a model's variables has, counted.

    Returns:
      {"initializers": {describe(initializer): number of variables},
       "weight_decay": the decay of the regularised kernels (0.0 if none),
       "regularized_variables": how many variables carry it}.

    Raises:
      ValueError: a variable without a `<leaf>_initializer` on its layer, or several decays.
    """
    counts: dict[str, int] = {}
    decays = []
    for layer in model.layers:
        for var in layer.weights:
            leaf = var.name.split(":")[0].rsplit("/", 1)[-1]
            initializer = getattr(layer, f"{leaf}_initializer", None)
            if initializer is None:
                raise ValueError(f"{var.name}: layer {layer.name!r} has no {leaf}_initializer")
            key = describe(initializer)
            counts[key] = counts.get(key, 0) + 1
            regularizer = getattr(layer, f"{leaf}_regularizer", None)
            if regularizer is not None:
                decays.append(regularizer.weight_decay)
    if len(set(decays)) > 1:
        raise ValueError(f"{model.name}: several weight decays {sorted(set(decays))}")
    return {
        "initializers": dict(sorted(counts.items())),
        "weight_decay": decays[0] if decays else 0.0,
        "regularized_variables": len(decays),
    }
