"""The one compatibility shim of this project: tf-slim 1.1.0 on TensorFlow 2.15.

tf-slim 1.1.0 (the last release) still refers to `tensorflow.python.framework.ops.Tensor`,
which TF 2.15 moved to `tensorflow.python.framework.tensor.Tensor`. We alias the old name
before importing tf_slim. Nothing else in the project monkeypatches anything; tf_slim is
only used to build the reference slim graphs that our Keras models are checked against.

The reference builders below must be called inside a `tf.Graph().as_default()` block: they
build the released architectures (`tf_slim.nets.resnet_v1.resnet_v1_50`,
`tf_slim.nets.inception_v3.inception_v3`) in inference mode under slim's own arg scopes.
"""

from __future__ import annotations

import types

import tensorflow as tf


def import_tf_slim() -> types.ModuleType:
    """Returns the `tf_slim` module, importable on TF 2.15."""
    from tensorflow.python.framework import ops, tensor

    if not hasattr(ops, "Tensor"):
        ops.Tensor = tensor.Tensor
    import tf_slim

    return tf_slim


def slim_normalizer_params(arg_scope: dict) -> dict:
    """The batch-norm parameters slim's arg scope gives `slim.conv2d`, fit for graph mode here.

    Args:
      arg_scope: an arg-scope dict as returned by `resnet_v1.resnet_arg_scope()` or
        `inception_v3.inception_v3_arg_scope()`.

    Returns:
      That scope's `normalizer_params` for `slim.conv2d` (decay, epsilon, scale, ... exactly
      as slim sets them), with `updates_collections=None`.
    """
    slim = import_tf_slim()
    params = arg_scope[slim.arg_scope_func_key(slim.conv2d)]["normalizer_params"]
    # slim's arg scopes put batch-norm updates into UPDATE_OPS, which routes slim.batch_norm
    # through the Keras BatchNormalization layer and so imports the missing `tf_keras`.
    # `updates_collections=None` selects slim's own fused kernel instead; at inference both
    # compute the same thing, and the variable names are unchanged. Every other value comes
    # from slim, so the reference shares no batch-norm constant with our Keras models.
    return {**params, "updates_collections": None}


def build_slim_resnet_v1_50(
    images: tf.Tensor, *, num_classes: int | None = 1000, arg_scope: dict | None = None
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds slim's ResNet-50 v1 in inference mode in the current graph.

    Args:
      images: float32 (batch, height, width, 3) tensor.
      num_classes: width of slim's 1x1-conv logits; None builds the body only.
      arg_scope: the arg scope to build under; None is slim's `resnet_arg_scope()`.

    Returns:
      (logits, end_points): logits (batch, 1, 1, num_classes) (slim does not squeeze them),
      and slim's end-point dict, extended with `resnet_v1_50/pool5` (the global average
      pool, (batch, 1, 1, 2048)), which slim computes but does not record.
    """
    slim = import_tf_slim()
    from tf_slim.nets import resnet_v1

    outer = resnet_v1.resnet_arg_scope() if arg_scope is None else arg_scope
    with (
        slim.arg_scope(outer),
        slim.arg_scope([slim.conv2d], normalizer_params=slim_normalizer_params(outer)),
    ):
        net, end_points = resnet_v1.resnet_v1_50(images, num_classes=num_classes, is_training=False)
    pool5 = tf.compat.v1.get_default_graph().get_tensor_by_name("resnet_v1_50/pool5:0")
    end_points = {**end_points, "resnet_v1_50/pool5": pool5}
    return net, end_points


def build_slim_inception_v3(
    images: tf.Tensor,
    *,
    num_classes: int = 1001,
    aux_logits: bool = True,
    global_pool: bool = False,
    arg_scope: dict | None = None,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Builds slim's Inception-v3 in inference mode in the current graph.

    Args:
      images: float32 (batch, height, width, 3) tensor.
      num_classes: width of the logits (the released checkpoint has 1001).
      aux_logits: whether slim builds its AuxLogits head (meaningful at 299 px only).
      global_pool: False builds `inception_v3` itself, whose head is an 8x8/2 average pool
        (global only while Mixed_7c is at most 8x8, i.e. inputs up to ~330 px). True builds
        slim's body (`inception_v3_base`) under the same scopes followed by a global mean and
        slim's `Logits/Conv2d_1c_1x1`: the head our Keras model has at every input size.
        Requires `aux_logits=False`.
      arg_scope: the arg scope to build under; None is slim's `inception_v3_arg_scope()`.

    Returns:
      (logits, end_points): logits (batch, num_classes), and slim's end-point dict
      (`Conv2d_1a_3x3` ... `Mixed_7c`, `PreLogits`, `Logits`, and `AuxLogits` if built).
    """
    slim = import_tf_slim()
    from tf_slim.nets import inception_v3

    if global_pool and aux_logits:
        raise ValueError("global_pool=True builds no AuxLogits head")
    outer = inception_v3.inception_v3_arg_scope() if arg_scope is None else arg_scope
    with (
        slim.arg_scope(outer),
        slim.arg_scope([slim.conv2d], normalizer_params=slim_normalizer_params(outer)),
    ):
        if not global_pool:
            return inception_v3.inception_v3(
                images, num_classes=num_classes, is_training=False, create_aux_logits=aux_logits
            )
        with (
            # inception_v3() sets this itself; its body alone would use batch statistics.
            slim.arg_scope([slim.batch_norm], is_training=False),
            tf.compat.v1.variable_scope("InceptionV3") as scope,
        ):
            net, end_points = inception_v3.inception_v3_base(images, scope=scope)
            with tf.compat.v1.variable_scope("Logits"):
                net = tf.reduce_mean(net, [1, 2], keepdims=True, name="GlobalPool")
                end_points["PreLogits"] = net
                net = slim.conv2d(
                    net,
                    num_classes,
                    [1, 1],
                    activation_fn=None,
                    normalizer_fn=None,
                    scope="Conv2d_1c_1x1",
                )
                end_points["Logits"] = tf.squeeze(net, [1, 2], name="SpatialSqueeze")
        return end_points["Logits"], end_points


def slim_inventory(model: str) -> dict[str, tuple[int, ...]]:
    """Variable names and shapes of the full slim graph behind a released checkpoint.

    Args:
      model: `resnet_v1_50` (1000-way logits) or `inception_v3` (1001-way logits and the
        AuxLogits head, as in `inception_v3_2016_08_28`).

    Returns:
      {variable name without ':0': shape}, in graph creation order.

    Raises:
      ValueError: for any other model name; the message lists the valid ones.
    """
    builders = {
        "resnet_v1_50": lambda x: build_slim_resnet_v1_50(x, num_classes=1000),
        "inception_v3": lambda x: build_slim_inception_v3(x, num_classes=1001),
    }
    if model not in builders:
        raise ValueError(f"no slim graph for {model!r}; valid names: {', '.join(builders)}")
    size = {"resnet_v1_50": 224, "inception_v3": 299}[model]
    with tf.Graph().as_default():
        # Slim's initializers are random ops, which need a seed under op determinism.
        tf.compat.v1.set_random_seed(0)
        builders[model](tf.compat.v1.placeholder(tf.float32, (1, size, size, 3)))
        return {v.op.name: tuple(v.shape.as_list()) for v in tf.compat.v1.global_variables()}
