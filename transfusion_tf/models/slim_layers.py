"""The layers TF-Slim's arg scopes build, shared by ResNet-50 v1 and Inception-v3.

`conv_bn` is slim's `conv2d` under `resnet_arg_scope` or `inception_v3_arg_scope`: a conv
without bias, batch norm (gamma only where the arg scope says `scale`), then ReLU. `logits`
is slim's final 1x1 conv on pooled features, as a Dense layer. Layer names are slim's
variable scopes: the conv `scope` holds the checkpoint's `<scope>/weights` as its kernel and
its batch norm is `<scope>/BatchNorm`.
"""

from __future__ import annotations

import tensorflow as tf

from transfusion_tf.models import initializers


def conv_bn(
    x: tf.Tensor,
    filters: int,
    kernel_size: int | tuple[int, int],
    scope: str,
    arg_scope: initializers.ArgScope,
    *,
    strides: int = 1,
    padding: str = "same",
    relu: bool = True,
    kernel_initializer: tf.keras.initializers.Initializer | None = None,
) -> tf.Tensor:
    """Conv (no bias) -> BatchNorm [-> ReLU] named `scope`, `scope/BatchNorm`, `scope/Relu`.

    Args:
      x: (batch, h, w, c) input.
      filters, kernel_size, strides, padding: the conv's.
      scope: slim's variable scope of the conv.
      arg_scope: batch-norm momentum, epsilon and scale, and the kernel regulariser.
      relu: end with ReLU (slim's default activation); False for a linear conv.
      kernel_initializer: overrides the arg scope's `SlimVarianceScaling()`, as slim's
        Inception aux head does.

    Returns:
      (batch, h', w', filters).
    """
    x = tf.keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=kernel_initializer or initializers.SlimVarianceScaling(),
        kernel_regularizer=arg_scope.regularizer,
        name=scope,
    )(x)
    x = tf.keras.layers.BatchNormalization(
        momentum=arg_scope.bn_momentum,
        epsilon=arg_scope.bn_epsilon,
        scale=arg_scope.bn_scale,
        name=f"{scope}/BatchNorm",
        **initializers.BATCH_NORM_INITIALIZERS,
    )(x)
    if relu:
        x = tf.keras.layers.ReLU(name=f"{scope}/Relu")(x)
    return x


def logits(
    x: tf.Tensor, num_classes: int, arg_scope: initializers.ArgScope, *, dtype: str, name: str
) -> tf.Tensor:
    """slim's logits conv on (batch, channels) pooled features, as a Dense layer `name`.

    Its (channels, num_classes) kernel is the checkpoint's (1, 1, channels, num_classes) one
    without the singleton axes, drawn as slim draws it; biases start at zero. `dtype` is the
    layer's (float32 keeps the head exact under mixed precision).
    """
    return tf.keras.layers.Dense(
        num_classes,
        kernel_initializer=initializers.SlimVarianceScaling(),
        bias_initializer="zeros",
        kernel_regularizer=arg_scope.regularizer,
        dtype=dtype,
        name=name,
    )(x)
