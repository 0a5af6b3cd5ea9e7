"""ResNet-50 v1 exactly as TF-Slim builds it (`tf_slim.nets.resnet_v1.resnet_v1_50`).

The released checkpoint `resnet_v1_50_2016_08_28` was converted from Caffe and trained
under slim's graph, so every detail below follows slim, not `keras.applications`:

- convolutions have no bias; each is followed by BatchNorm with gamma, epsilon 1e-5;
- conv1 is 7x7/2 with explicit symmetric zero padding of 3 then VALID (slim's
  `conv2d_same`); pool1 is a 3x3/2 max-pool with SAME padding, which pads bottom/right
  only (keras.applications pads symmetrically);
- the stride-2 of blocks 1-3 sits in the 3x3 conv (conv2) of the block's *last* unit,
  again with explicit symmetric padding; that unit's identity shortcut is subsampled
  (a 1x1/2 max-pool, i.e. every other pixel);
- unit 1 of every block has a projection shortcut (1x1 conv + BN, stride 1);
- head: global average pool (slim's `pool5`) then a linear layer;
- initialisation and weight decay are `resnet_arg_scope`'s: every kernel, the logits'
  included, from `variance_scaling_initializer()` with `l2_regularizer(1e-4)`; zero logits
  biases; batch norm beta 0, gamma 1, moving mean 0, variance 1 (see `initializers`).

Layer names reproduce slim's variable scopes, so the Keras variable
`resnet_v1_50/block1/unit_1/bottleneck_v1/conv1/kernel:0` is the checkpoint's
`resnet_v1_50/block1/unit_1/bottleneck_v1/conv1/weights` (see `slim_weights.loading`).
The logits are a Dense layer; the checkpoint's (1, 1, 2048, C) 1x1-conv kernel loads into
its (2048, C) kernel unchanged in value.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import tensorflow as tf

from transfusion_tf.models import initializers, slim_layers
from transfusion_tf.models.layout import set_endpoint_layers

SCOPE = "resnet_v1_50"
MIN_INPUT_SIZE = 32
SLIM_WEIGHT_DECAY = 1e-4  # resnet_arg_scope(weight_decay=0.0001).

# (block name, bottleneck depth, units, stride of the last unit): slim's resnet_v1_50.
BLOCKS = (
    ("block1", 64, 3, 2),
    ("block2", 128, 4, 2),
    ("block3", 256, 6, 2),
    ("block4", 512, 3, 1),
)


def build_resnet_v1_50(
    *,
    num_classes: int,
    input_shape: Sequence[int],
    bn_momentum: float = 0.997,
    bn_epsilon: float = 1e-5,
    head_dtype: str = "float32",
    width_factors: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    weight_decay: float | None = None,
) -> tf.keras.Model:
    """Builds ResNet-50 v1 with slim's structure and variable names.

    Args:
      num_classes: width of the logits (the released checkpoint has 1000).
      input_shape: (height, width, channels); channels 1 or 3, sides >= 32 px.
      bn_momentum: BatchNormalization moving-average momentum (slim's decay, 0.997).
      bn_epsilon: BatchNormalization epsilon (slim's 1e-5; the checkpoint expects it).
      head_dtype: dtype of the logits layer; float32 keeps the head exact under mixed
        precision.
      width_factors: per block (block1..block4), a factor on its bottleneck and output
        depths (rounded; depth = 4 x bottleneck depth). The paper's hybrid keeps blocks 1-2
        and halves blocks 3-4: (1, 1, 0.5, 0.5). Where a block's input depth then equals its
        output depth, unit_1 gets slim's identity shortcut instead of a projection, exactly
        as slim's `bottleneck` decides.
      weight_decay: slim's L2 weight decay on every kernel (loss term weight_decay *
        sum(w**2) / 2 in `model.losses`); None is `resnet_arg_scope`'s 1e-4, 0 adds none.

    Returns:
      A functional Keras model mapping float images (batch, h, w, c), preprocessed the
      `vgg` way, to logits (batch, num_classes). Endpoints, bottom to top: `conv1`
      (after ReLU, stride 2), `block1` (stride 8), `block2` (16), `block3` (32), `block4`
      (32), `pre_logits` (batch, 2048), `logits`.

    Raises:
      ValueError: on a bad input shape, a width_factors of the wrong length or sign, or a
        negative weight_decay.
    """
    if len(width_factors) != len(BLOCKS) or min(width_factors) <= 0:
        raise ValueError(
            f"{SCOPE}: width_factors needs {len(BLOCKS)} positive factors, got {width_factors}"
        )
    regularizer = initializers.weight_decay_regularizer(
        weight_decay, default=SLIM_WEIGHT_DECAY, model=SCOPE
    )
    arg_scope = initializers.ArgScope(
        bn_momentum, bn_epsilon, bn_scale=True, regularizer=regularizer
    )
    inputs = tf.keras.Input(shape=tuple(input_shape), name="images")
    # slim's conv2d_same for stride 2: pad (k-1)//2 before and the rest after, then VALID.
    x = tf.keras.layers.ZeroPadding2D(3, name=f"{SCOPE}/conv1/pad")(inputs)
    x = _conv_bn(x, 64, 7, f"{SCOPE}/conv1", arg_scope, strides=2, relu=True)
    endpoints = [("conv1", f"{SCOPE}/conv1/Relu")]
    # SAME max-pooling pads only at the bottom/right for even sizes, as slim does.
    x = tf.keras.layers.MaxPool2D(3, strides=2, padding="same", name=f"{SCOPE}/pool1")(x)
    for (block, base_depth, units, stride), factor in zip(BLOCKS, width_factors, strict=True):
        depth_bottleneck = max(1, round(base_depth * factor))
        for unit in range(1, units + 1):
            scope = f"{SCOPE}/{block}/unit_{unit}/bottleneck_v1"
            x = _bottleneck(
                x,
                depth=4 * depth_bottleneck,
                depth_bottleneck=depth_bottleneck,
                stride=stride if unit == units else 1,
                scope=scope,
                arg_scope=arg_scope,
            )
        endpoints.append((block, f"{scope}/Relu"))
    x = tf.keras.layers.GlobalAveragePooling2D(name=f"{SCOPE}/pool5")(x)
    logits = slim_layers.logits(x, num_classes, arg_scope, dtype=head_dtype, name=f"{SCOPE}/logits")
    model = tf.keras.Model(inputs, logits, name=SCOPE)
    endpoints += [("pre_logits", f"{SCOPE}/pool5"), ("logits", f"{SCOPE}/logits")]
    set_endpoint_layers(model, endpoints)
    return model


def _bottleneck(
    x: tf.Tensor,
    *,
    depth: int,
    depth_bottleneck: int,
    stride: int,
    scope: str,
    arg_scope: initializers.ArgScope,
) -> tf.Tensor:
    """slim's `bottleneck` unit: relu(shortcut + conv3(conv2(conv1(x))))."""
    if x.shape[-1] == depth:
        # Identity shortcut; when the unit strides, slim subsamples it with a 1x1 max-pool.
        shortcut = x
        if stride > 1:
            shortcut = tf.keras.layers.MaxPool2D(
                1, strides=stride, padding="same", name=f"{scope}/shortcut"
            )(x)
    else:
        shortcut = _conv_bn(x, depth, 1, f"{scope}/shortcut", arg_scope, strides=stride, relu=False)
    residual = _conv_bn(x, depth_bottleneck, 1, f"{scope}/conv1", arg_scope, relu=True)
    if stride > 1:
        # conv2d_same again: symmetric explicit padding, unlike Keras' SAME for stride 2.
        residual = tf.keras.layers.ZeroPadding2D(1, name=f"{scope}/conv2/pad")(residual)
        residual = _conv_bn(
            residual, depth_bottleneck, 3, f"{scope}/conv2", arg_scope, strides=stride, relu=True
        )
    else:
        residual = _conv_bn(
            residual, depth_bottleneck, 3, f"{scope}/conv2", arg_scope, padding="same", relu=True
        )
    residual = _conv_bn(residual, depth, 1, f"{scope}/conv3", arg_scope, relu=False)
    x = tf.keras.layers.Add(name=f"{scope}/add")([shortcut, residual])
    return tf.keras.layers.ReLU(name=f"{scope}/Relu")(x)


# slim's conv2d in resnet_arg_scope: VALID unless a caller pads explicitly or asks SAME.
_conv_bn = functools.partial(slim_layers.conv_bn, padding="valid")
