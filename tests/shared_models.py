"""Full-size slim networks built once per test process, for every test file that needs one.

Building ResNet-50 or Inception-v3 takes seconds of graph construction whatever the input
size, and several files need the same configuration. A shared model's weights are whatever
its last user left: a test reads only its structure (names, shapes, counts, initialiser
configs), or loads every one of its variables before reading values, or reads the values
the model was built with (`initial_values`: seeded, kept aside at the build), or sets them
back first (`reinitialized_model`).
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from analysis.capture import float32_policy
from transfusion_tf.models import get_model

# The configurations shared between files: (model, classes, input side, aux_logits).
INCEPTION_AUX = ("inception_v3", 1001, 299, True)  # The checkpoint's own configuration.
INCEPTION_SMALLEST = ("inception_v3", 1001, 75, False)  # Its smallest input.
RESNET = ("resnet_v1_50", 1000, 224, False)  # The checkpoint's own configuration.
SEED = 4321  # `tf.keras.utils.set_random_seed` before each build.


def shared_model(config: tuple[str, int, int, bool]) -> tf.keras.Model:
    """The process's model of `config` (one of the tuples above), built on first use.

    Returns:
      get_model(name, num_classes=classes, input_shape=(side, side, 3)[, aux_logits]),
      float32, slim's default weight decay, built right after
      `tf.keras.utils.set_random_seed(SEED)`. Weights: see the module docstring.
    """
    return _build(*config)[0]


def initial_values(config: tuple[str, int, int, bool]) -> dict[str, np.ndarray]:
    """{Keras variable name: value} of `shared_model(config)` as built, whatever was loaded
    into it since."""
    return _build(*config)[1]


def reinitialized_model(config: tuple[str, int, int, bool]) -> tf.keras.Model:
    """`shared_model(config)` with every variable set back to `initial_values(config)`: the
    seeded model as built, for a fraction of a build's time."""
    model, initial = _build(*config)
    for variable in model.variables:
        variable.assign(initial[variable.name])
    return model


@functools.cache
def _build(name: str, num_classes: int, side: int, aux_logits: bool):
    options = {"aux_logits": True} if aux_logits else {}
    # The float32 policy whatever a test left set: the model outlives the test.
    with float32_policy():
        tf.keras.utils.set_random_seed(SEED)
        model = get_model(name, num_classes=num_classes, input_shape=(side, side, 3), **options)
    initial = {v.name: v.numpy() for v in model.variables}
    assert len(initial) == len(model.variables)  # Names are unique: slim's scopes.
    return model, initial
