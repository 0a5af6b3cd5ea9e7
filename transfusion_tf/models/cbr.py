"""The CBR family of small conv nets from the Transfusion paper (its Table 1 and appendix).

Each block is Conv(stride 1, `same`, no bias) -> BatchNorm -> ReLU -> MaxPool(3x3, stride 2);
then global average pool -> Dense. Layer names are stable and scoped by endpoint
(`block1/conv`, `block1/bn`, ..., `pre_logits`, `logits`) so weight surgery, CCA and the
filter plots can address layers by endpoint rather than by index.

Initialisation: the paper does not say how the CBRs were initialised, so they start from
TF-Slim's own layer defaults, as a slim implementation would: `slim.conv2d` and
`slim.fully_connected` draw kernels from `xavier_initializer()` (Glorot uniform: U(-l, l),
l = sqrt(6 / (fan_in + fan_out))), start biases at zero and have no weight regulariser;
batch norm starts as slim's `batch_norm` (beta 0, gamma 1, moving mean 0, variance 1).
The initialisers are set explicitly, not left to Keras' defaults. `weight_decay` adds slim's
L2 term on every kernel if asked for.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import tensorflow as tf

from transfusion_tf.models import initializers
from transfusion_tf.models.layout import get_endpoint_layers, set_endpoint_layers


@dataclasses.dataclass(frozen=True)
class CBRSpec:
    """One member of the CBR family.

    Attributes:
      kernel_size: side of every square conv kernel.
      widths: output channels of blocks 1..N.
      pool_after: for each block, whether a 3x3/2 max-pool follows it.
    """

    kernel_size: int
    widths: tuple[int, ...]
    pool_after: tuple[bool, ...]


# Table 1 of the paper. CBR-Tiny's widths follow its parameter count (1,076,480), not the
# appendix text that lists 64-128-256-512 (the appendix); widths stay configurable.
CBR_ARCHITECTURES = {
    "cbr_large_t": CBRSpec(7, (32, 64, 128, 256, 512), (True, True, True, True, False)),
    "cbr_large_w": CBRSpec(7, (64, 128, 256, 512), (True,) * 4),
    "cbr_small": CBRSpec(7, (32, 64, 128, 256), (True,) * 4),
    "cbr_tiny": CBRSpec(5, (32, 64, 128, 256), (True,) * 4),
}

MIN_INPUT_SIZE = 32
SLIM_WEIGHT_DECAY = 0.0  # slim.conv2d's default: no weights_regularizer.


def build_cbr(
    name: str,
    *,
    num_classes: int,
    input_shape: Sequence[int],
    widths: Sequence[int] | None = None,
    kernel_size: int | None = None,
    bn_momentum: float = 0.99,
    bn_epsilon: float = 1e-3,
    head_dtype: str = "float32",
    weight_decay: float | None = None,
) -> tf.keras.Model:
    """Builds a CBR network.

    Args:
      name: one of `CBR_ARCHITECTURES`.
      num_classes: outputs of the Dense head (logits, no activation).
      input_shape: (height, width, channels); channels 1 or 3, sides >= 32.
      widths: overrides the block widths; its length must match the family member.
      kernel_size: overrides the conv kernel side.
      bn_momentum: BatchNormalization moving-average momentum.
      bn_epsilon: BatchNormalization epsilon.
      head_dtype: dtype of the logits layer; float32 keeps the head exact under mixed precision.
      weight_decay: slim's L2 weight decay on every kernel (loss term weight_decay *
        sum(w**2) / 2 in `model.losses`); None is slim.conv2d's default, none (0).

    Returns:
      A functional Keras model mapping float images (batch, h, w, c) to logits
      (batch, num_classes). `endpoint_layers(model)` names its endpoints.

    Raises:
      ValueError: on a bad input shape, a widths override of the wrong length or a negative
        weight_decay.
    """
    spec = CBR_ARCHITECTURES[name]
    widths = tuple(widths) if widths is not None else spec.widths
    if len(widths) != len(spec.widths):
        raise ValueError(
            f"{name} has {len(spec.widths)} blocks; widths={list(widths)} has {len(widths)}"
        )
    kernel_size = kernel_size or spec.kernel_size
    regularizer = initializers.weight_decay_regularizer(
        weight_decay, default=SLIM_WEIGHT_DECAY, model=name
    )

    inputs = tf.keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    endpoints = []
    for i, (width, pool) in enumerate(zip(widths, spec.pool_after, strict=True), start=1):
        x, last = _block(
            x, f"block{i}", width, kernel_size, pool, regularizer, (bn_momentum, bn_epsilon)
        )
        endpoints.append((f"block{i}", last))
    x = tf.keras.layers.GlobalAveragePooling2D(name="pre_logits")(x)
    logits = tf.keras.layers.Dense(
        num_classes,
        kernel_initializer=tf.keras.initializers.GlorotUniform(),  # slim's xavier
        bias_initializer="zeros",
        kernel_regularizer=regularizer,
        dtype=head_dtype,
        name="logits",
    )(x)
    model = tf.keras.Model(inputs, logits, name=name)
    endpoints += [("pre_logits", "pre_logits"), ("logits", "logits")]
    set_endpoint_layers(model, endpoints)
    return model


def _block(x, scope: str, width: int, kernel_size: int, pool: bool, regularizer, bn):
    """Conv (stride 1, no bias), BatchNorm, ReLU [, MaxPool 3x3/2]; (output, endpoint layer)."""
    x = tf.keras.layers.Conv2D(
        width,
        kernel_size,
        strides=1,
        padding="same",
        use_bias=False,
        kernel_initializer=tf.keras.initializers.GlorotUniform(),  # slim's xavier
        kernel_regularizer=regularizer,
        name=f"{scope}/conv",
    )(x)
    x = tf.keras.layers.BatchNormalization(
        momentum=bn[0], epsilon=bn[1], name=f"{scope}/bn", **initializers.BATCH_NORM_INITIALIZERS
    )(x)
    x = tf.keras.layers.ReLU(name=f"{scope}/relu")(x)
    if not pool:
        return x, f"{scope}/relu"
    x = tf.keras.layers.MaxPool2D(3, strides=2, padding="same", name=f"{scope}/pool")(x)
    return x, f"{scope}/pool"


def paper_param_count(model: tf.keras.Model) -> int:
    """The paper's Table-1 parameter count of a CBR model.

    Table 1 counts the conv kernels of blocks 2..N plus the classifier kernel without bias;
    every published CBR number reproduces exactly under this rule (Table 1).
    """
    blocks = [name for name, _ in get_endpoint_layers(model) if name.startswith("block")]
    total = 0
    for block in blocks[1:]:
        total += int(tf.size(model.get_layer(f"{block}/conv").kernel))
    total += int(tf.size(model.get_layer("logits").kernel))
    return total
