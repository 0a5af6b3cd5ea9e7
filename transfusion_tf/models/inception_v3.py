"""Inception-v3 exactly as TF-Slim builds it (`tf_slim.nets.inception_v3.inception_v3`).

Layer names are slim's variable scopes verbatim, so the Keras variable
`InceptionV3/Mixed_5b/Branch_1/Conv2d_0a_1x1/kernel:0` is the checkpoint's
`InceptionV3/Mixed_5b/Branch_1/Conv2d_0a_1x1/weights` (see `slim_weights.loading`). Every
conv has no bias and is followed by BatchNorm without gamma (`scale=False`), epsilon 0.001,
then ReLU. The stem is VALID-padded, the mixed blocks SAME except their stride-2 convs.

Head: global average pool -> dropout -> linear logits. At 299 px this equals slim's head
(an 8x8 average pool over the 8x8 Mixed_7c map); above ~330 px slim's fixed 8x8/2 pool would
no longer be global, while ours stays a global average pool at every input size.

The optional AuxLogits head exists only at 299 px: its 5x5 conv kernel is sized for the 5x5
map that 299 px yields, which is what the checkpoint's variables hold.

Initialisation and weight decay are `inception_v3_arg_scope`'s: every kernel, the logits'
included, from `variance_scaling_initializer()` with `l2_regularizer(4e-5)`, except the
AuxLogits' `Conv2d_2a_5x5` (`trunc_normal(0.01)`) and `Conv2d_2b_1x1` (`trunc_normal(0.001)`),
which slim's `inception_v3` sets explicitly; zero biases; batch norm beta 0, moving mean 0,
moving variance 1 (see `initializers`).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from transfusion_tf.models import initializers, slim_layers
from transfusion_tf.models.layout import set_endpoint_layers

SCOPE = "InceptionV3"
MIN_INPUT_SIZE = 75
AUX_INPUT_SIZE = 299
SLIM_WEIGHT_DECAY = 4e-5  # inception_v3_arg_scope(weight_decay=0.00004).

# (name, kind, filters, kernel, strides, padding) of the stem; kind 'conv' or 'max'.
_STEM = (
    ("Conv2d_1a_3x3", "conv", 32, (3, 3), 2, "valid"),
    ("Conv2d_2a_3x3", "conv", 32, (3, 3), 1, "valid"),
    ("Conv2d_2b_3x3", "conv", 64, (3, 3), 1, "same"),
    ("MaxPool_3a_3x3", "max", None, (3, 3), 2, "valid"),
    ("Conv2d_3b_1x1", "conv", 80, (1, 1), 1, "valid"),
    ("Conv2d_4a_3x3", "conv", 192, (3, 3), 1, "valid"),
    ("MaxPool_5a_3x3", "max", None, (3, 3), 2, "valid"),
)


def build_inception_v3(
    *,
    num_classes: int,
    input_shape: Sequence[int],
    aux_logits: bool = False,
    dropout_rate: float = 0.2,
    bn_momentum: float = 0.9997,
    bn_epsilon: float = 0.001,
    head_dtype: str = "float32",
    weight_decay: float | None = None,
) -> tf.keras.Model:
    """Builds Inception-v3 with slim's structure and variable names.

    Args:
      num_classes: width of the logits (the released checkpoint has 1001: class 0 is
        background).
      input_shape: (height, width, channels); channels 1 or 3, sides >= 75 px.
      aux_logits: also build slim's AuxLogits head on Mixed_6e; only at 299x299 input.
      dropout_rate: dropout before the logits (slim's keep_prob 0.8).
      bn_momentum: BatchNormalization moving-average momentum (slim's decay, 0.9997).
      bn_epsilon: BatchNormalization epsilon (slim's 0.001; the checkpoint expects it).
      head_dtype: dtype of the logits layers; float32 keeps the heads exact under mixed
        precision.
      weight_decay: slim's L2 weight decay on every kernel (loss term weight_decay *
        sum(w**2) / 2 in `model.losses`); None is `inception_v3_arg_scope`'s 4e-5, 0 adds
        none.

    Returns:
      A functional Keras model mapping float images (batch, h, w, c), preprocessed the
      `inception` way ([-1, 1]), to logits (batch, num_classes); with `aux_logits`, to a
      dict {'logits': (batch, num_classes), 'aux_logits': (batch, num_classes)}.
      Endpoints, bottom to top: slim's `Conv2d_1a_3x3` ... `Mixed_7c`, then `pre_logits`
      (batch, 2048) and `logits`.

    Raises:
      ValueError: on a bad input shape, `aux_logits` at an input other than 299x299, or a
        negative weight_decay.
    """
    if aux_logits and tuple(input_shape[:2]) != (AUX_INPUT_SIZE, AUX_INPUT_SIZE):
        raise ValueError(
            f"{SCOPE}: aux_logits=True needs {AUX_INPUT_SIZE}x{AUX_INPUT_SIZE} input (its 5x5 "
            f"conv matches the checkpoint only there), got {input_shape[0]}x{input_shape[1]}; "
            "build with aux_logits=False"
        )
    regularizer = initializers.weight_decay_regularizer(
        weight_decay, default=SLIM_WEIGHT_DECAY, model=SCOPE
    )
    arg_scope = initializers.ArgScope(
        bn_momentum, bn_epsilon, bn_scale=False, regularizer=regularizer
    )
    inputs = tf.keras.Input(shape=tuple(input_shape), name="images")
    x, endpoints = _stem(inputs, arg_scope)
    for name, block in _BLOCKS:
        x = block(x, f"{SCOPE}/{name}", arg_scope)
        endpoints.append((name, f"{SCOPE}/{name}/concat"))
        if name == "Mixed_6e":
            mixed_6e = x
    x = tf.keras.layers.GlobalAveragePooling2D(name=f"{SCOPE}/Logits/GlobalPool")(x)
    x = tf.keras.layers.Dropout(dropout_rate, name=f"{SCOPE}/Logits/Dropout_1b")(x)
    logits = slim_layers.logits(
        x, num_classes, arg_scope, dtype=head_dtype, name=f"{SCOPE}/Logits/Conv2d_1c_1x1"
    )
    outputs = logits
    if aux_logits:
        outputs = {
            "logits": logits,
            "aux_logits": _aux_head(mixed_6e, num_classes, arg_scope, head_dtype),
        }
    model = tf.keras.Model(inputs, outputs, name=SCOPE)
    endpoints += [
        ("pre_logits", f"{SCOPE}/Logits/GlobalPool"),
        ("logits", f"{SCOPE}/Logits/Conv2d_1c_1x1"),
    ]
    set_endpoint_layers(model, endpoints)
    return model


def _stem(x: tf.Tensor, arg_scope: initializers.ArgScope) -> tuple[tf.Tensor, list]:
    """Conv2d_1a_3x3 ... MaxPool_5a_3x3; (output, endpoints as (name, layer))."""
    endpoints = []
    for name, kind, filters, kernel, strides, padding in _STEM:
        scope = f"{SCOPE}/{name}"
        if kind == "conv":
            x = _conv_bn(x, filters, kernel, scope, arg_scope, strides=strides, padding=padding)
            endpoints.append((name, f"{scope}/Relu"))
        else:
            x = tf.keras.layers.MaxPool2D(kernel, strides=strides, padding=padding, name=scope)(x)
            endpoints.append((name, scope))
    return x, endpoints


def _mixed_5b(x: tf.Tensor, scope: str, arg_scope: initializers.ArgScope) -> tf.Tensor:
    return _mixed_35x35(
        x, scope, arg_scope, pool_filters=32, branch_1=("Conv2d_0a_1x1", "Conv2d_0b_5x5")
    )


def _mixed_5c(x: tf.Tensor, scope: str, arg_scope: initializers.ArgScope) -> tf.Tensor:
    # Branch_1 is named Conv2d_0b_1x1 then Conv_1_0c_5x5 (not Conv2d_0a_1x1 / Conv2d_0b_5x5
    # as in Mixed_5b and Mixed_5d): slim's code and the released checkpoint spell it so.
    return _mixed_35x35(
        x, scope, arg_scope, pool_filters=64, branch_1=("Conv2d_0b_1x1", "Conv_1_0c_5x5")
    )


def _mixed_5d(x: tf.Tensor, scope: str, arg_scope: initializers.ArgScope) -> tf.Tensor:
    return _mixed_35x35(
        x, scope, arg_scope, pool_filters=64, branch_1=("Conv2d_0a_1x1", "Conv2d_0b_5x5")
    )


def _mixed_35x35(
    x: tf.Tensor,
    scope: str,
    arg_scope: initializers.ArgScope,
    *,
    pool_filters: int,
    branch_1: tuple,
) -> tf.Tensor:
    b0 = _conv_bn(x, 64, (1, 1), f"{scope}/Branch_0/Conv2d_0a_1x1", arg_scope)
    b1 = _conv_bn(x, 48, (1, 1), f"{scope}/Branch_1/{branch_1[0]}", arg_scope)
    b1 = _conv_bn(b1, 64, (5, 5), f"{scope}/Branch_1/{branch_1[1]}", arg_scope)
    b2 = _conv_bn(x, 64, (1, 1), f"{scope}/Branch_2/Conv2d_0a_1x1", arg_scope)
    b2 = _conv_bn(b2, 96, (3, 3), f"{scope}/Branch_2/Conv2d_0b_3x3", arg_scope)
    b2 = _conv_bn(b2, 96, (3, 3), f"{scope}/Branch_2/Conv2d_0c_3x3", arg_scope)
    b3 = _avg_pool_3x3(x, f"{scope}/Branch_3/AvgPool_0a_3x3")
    b3 = _conv_bn(b3, pool_filters, (1, 1), f"{scope}/Branch_3/Conv2d_0b_1x1", arg_scope)
    return _concat([b0, b1, b2, b3], f"{scope}/concat")


def _mixed_6a(x: tf.Tensor, scope: str, arg_scope: initializers.ArgScope) -> tf.Tensor:
    # Both stride-2 convs are 3x3 but named Conv2d_1a_1x1: slim's code and the released
    # checkpoint spell them so.
    branches = (
        [(384, (3, 3), "Conv2d_1a_1x1")],
        [(64, (1, 1), "Conv2d_0a_1x1"), (96, (3, 3), "Conv2d_0b_3x3"),
         (96, (3, 3), "Conv2d_1a_1x1")],
    )  # fmt: skip
    return _reduction(x, scope, arg_scope, branches)


def _mixed_6bcde(
    x: tf.Tensor, scope: str, arg_scope: initializers.ArgScope, width: int
) -> tf.Tensor:
    b0 = _conv_bn(x, 192, (1, 1), f"{scope}/Branch_0/Conv2d_0a_1x1", arg_scope)
    b1 = _conv_bn(x, width, (1, 1), f"{scope}/Branch_1/Conv2d_0a_1x1", arg_scope)
    b1 = _conv_bn(b1, width, (1, 7), f"{scope}/Branch_1/Conv2d_0b_1x7", arg_scope)
    b1 = _conv_bn(b1, 192, (7, 1), f"{scope}/Branch_1/Conv2d_0c_7x1", arg_scope)
    b2 = _conv_bn(x, width, (1, 1), f"{scope}/Branch_2/Conv2d_0a_1x1", arg_scope)
    b2 = _conv_bn(b2, width, (7, 1), f"{scope}/Branch_2/Conv2d_0b_7x1", arg_scope)
    b2 = _conv_bn(b2, width, (1, 7), f"{scope}/Branch_2/Conv2d_0c_1x7", arg_scope)
    b2 = _conv_bn(b2, width, (7, 1), f"{scope}/Branch_2/Conv2d_0d_7x1", arg_scope)
    b2 = _conv_bn(b2, 192, (1, 7), f"{scope}/Branch_2/Conv2d_0e_1x7", arg_scope)
    b3 = _avg_pool_3x3(x, f"{scope}/Branch_3/AvgPool_0a_3x3")
    b3 = _conv_bn(b3, 192, (1, 1), f"{scope}/Branch_3/Conv2d_0b_1x1", arg_scope)
    return _concat([b0, b1, b2, b3], f"{scope}/concat")


def _mixed_7a(x: tf.Tensor, scope: str, arg_scope: initializers.ArgScope) -> tf.Tensor:
    branches = (
        [(192, (1, 1), "Conv2d_0a_1x1"), (320, (3, 3), "Conv2d_1a_3x3")],
        [(192, (1, 1), "Conv2d_0a_1x1"), (192, (1, 7), "Conv2d_0b_1x7"),
         (192, (7, 1), "Conv2d_0c_7x1"), (192, (3, 3), "Conv2d_1a_3x3")],
    )  # fmt: skip
    return _reduction(x, scope, arg_scope, branches)


def _reduction(
    x: tf.Tensor,
    scope: str,
    arg_scope: initializers.ArgScope,
    branches: Sequence[Sequence[tuple[int, tuple[int, int], str]]],
) -> tf.Tensor:
    """A grid reduction (Mixed_6a, Mixed_7a): conv branches, then a 3x3/2 max-pool branch.

    Each branch is (filters, kernel, name) convs in order, the last one stride 2 and VALID
    (the others stride 1, SAME); branch i is `Branch_i`, the max-pool the last branch.
    """
    outputs = []
    for i, convs in enumerate(branches):
        y = x
        for j, (filters, kernel, name) in enumerate(convs):
            reduces = {"strides": 2, "padding": "valid"} if j == len(convs) - 1 else {}
            y = _conv_bn(y, filters, kernel, f"{scope}/Branch_{i}/{name}", arg_scope, **reduces)
        outputs.append(y)
    pool = f"{scope}/Branch_{len(branches)}/MaxPool_1a_3x3"
    outputs.append(tf.keras.layers.MaxPool2D(3, strides=2, name=pool)(x))
    return _concat(outputs, f"{scope}/concat")


def _mixed_7bc(
    x: tf.Tensor, scope: str, arg_scope: initializers.ArgScope, branch_1_3x1: str
) -> tf.Tensor:
    b0 = _conv_bn(x, 320, (1, 1), f"{scope}/Branch_0/Conv2d_0a_1x1", arg_scope)
    b1 = _conv_bn(x, 384, (1, 1), f"{scope}/Branch_1/Conv2d_0a_1x1", arg_scope)
    b1 = _split_1x3_3x1(b1, f"{scope}/Branch_1", arg_scope, ("Conv2d_0b_1x3", branch_1_3x1))
    b2 = _conv_bn(x, 448, (1, 1), f"{scope}/Branch_2/Conv2d_0a_1x1", arg_scope)
    b2 = _conv_bn(b2, 384, (3, 3), f"{scope}/Branch_2/Conv2d_0b_3x3", arg_scope)
    b2 = _split_1x3_3x1(b2, f"{scope}/Branch_2", arg_scope, ("Conv2d_0c_1x3", "Conv2d_0d_3x1"))
    b3 = _avg_pool_3x3(x, f"{scope}/Branch_3/AvgPool_0a_3x3")
    b3 = _conv_bn(b3, 192, (1, 1), f"{scope}/Branch_3/Conv2d_0b_1x1", arg_scope)
    return _concat([b0, b1, b2, b3], f"{scope}/concat")


def _split_1x3_3x1(
    x: tf.Tensor, branch: str, arg_scope: initializers.ArgScope, names: tuple[str, str]
) -> tf.Tensor:
    """A 384-filter 1x3 conv and a 384-filter 3x1 conv side by side, concatenated."""
    return _concat(
        [
            _conv_bn(x, 384, (1, 3), f"{branch}/{names[0]}", arg_scope),
            _conv_bn(x, 384, (3, 1), f"{branch}/{names[1]}", arg_scope),
        ],
        f"{branch}/concat",
    )


def _aux_head(
    x: tf.Tensor, num_classes: int, arg_scope: initializers.ArgScope, head_dtype: str
) -> tf.Tensor:
    """slim's AuxLogits on Mixed_6e (17x17 at 299 px): (batch, num_classes)."""
    scope = f"{SCOPE}/AuxLogits"
    x = tf.keras.layers.AveragePooling2D(5, strides=3, name=f"{scope}/AvgPool_1a_5x5")(x)
    x = _conv_bn(x, 128, (1, 1), f"{scope}/Conv2d_1b_1x1", arg_scope)
    # A VALID 5x5 conv over the 5x5 map: the aux logits are 1x1 (hence 299 px only).
    x = _conv_bn(
        x,
        768,
        (5, 5),
        f"{scope}/Conv2d_2a_5x5",
        arg_scope,
        padding="valid",
        kernel_initializer=tf.keras.initializers.TruncatedNormal(0.0, 0.01),
    )
    x = tf.keras.layers.Conv2D(
        num_classes,
        1,
        kernel_initializer=tf.keras.initializers.TruncatedNormal(0.0, 0.001),
        bias_initializer="zeros",
        kernel_regularizer=arg_scope.regularizer,
        dtype=head_dtype,
        name=f"{scope}/Conv2d_2b_1x1",
    )(x)
    return tf.keras.layers.Flatten(dtype=head_dtype, name=f"{scope}/SpatialSqueeze")(x)


# slim's conv2d in inception_v3_arg_scope (SAME unless a caller asks VALID).
_conv_bn = slim_layers.conv_bn


def _avg_pool_3x3(x: tf.Tensor, name: str) -> tf.Tensor:
    # SAME average pooling excludes the padding from the count, as slim's avg_pool2d does.
    return tf.keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)


def _concat(tensors: list[tf.Tensor], name: str) -> tf.Tensor:
    return tf.keras.layers.Concatenate(axis=-1, name=name)(tensors)


_BLOCKS = (
    ("Mixed_5b", _mixed_5b),
    ("Mixed_5c", _mixed_5c),
    ("Mixed_5d", _mixed_5d),
    ("Mixed_6a", _mixed_6a),
    ("Mixed_6b", lambda x, s, arg_scope: _mixed_6bcde(x, s, arg_scope, 128)),
    ("Mixed_6c", lambda x, s, arg_scope: _mixed_6bcde(x, s, arg_scope, 160)),
    ("Mixed_6d", lambda x, s, arg_scope: _mixed_6bcde(x, s, arg_scope, 160)),
    ("Mixed_6e", lambda x, s, arg_scope: _mixed_6bcde(x, s, arg_scope, 192)),
    ("Mixed_7a", _mixed_7a),
    ("Mixed_7b", lambda x, s, arg_scope: _mixed_7bc(x, s, arg_scope, "Conv2d_0b_3x1")),
    # Mixed_7c names this conv Conv2d_0c_3x1 where Mixed_7b says Conv2d_0b_3x1: slim's code
    # and the released checkpoint both spell it so.
    ("Mixed_7c", lambda x, s, arg_scope: _mixed_7bc(x, s, arg_scope, "Conv2d_0c_3x1")),
)
