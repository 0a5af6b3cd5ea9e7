"""The one compatibility shim of this project: tf-slim 1.1.0 on TensorFlow 2.15.

tf-slim 1.1.0 (the last release) still refers to `tensorflow.python.framework.ops.Tensor`,
which TF 2.15 moved to `tensorflow.python.framework.tensor.Tensor`. We alias the old name
before importing tf_slim. Nothing else in the project monkeypatches anything; tf_slim is
only used to build the reference slim graphs that our Keras models are checked against.
"""

from __future__ import annotations

import types


def import_tf_slim() -> types.ModuleType:
    """Returns the `tf_slim` module, importable on TF 2.15."""
    from tensorflow.python.framework import ops, tensor

    if not hasattr(ops, "Tensor"):
        ops.Tensor = tensor.Tensor
    import tf_slim

    return tf_slim
