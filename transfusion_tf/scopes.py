"""Naming parts of a model: `train.trainable_scopes` and `init.exclude_scopes`.

Both fields take a comma-separated string (`'block4,logits'`, as TF-Slim's flags) or a
sequence of names. Each name is either
  - an endpoint of the model (`block1` ... `logits`, `models.endpoint_names`): the
    variables that endpoint owns (`models.variable_endpoints`), or
  - a scope of variable names, matched on whole path components (`resnet_v1_50/block4`
    covers `resnet_v1_50/block4/unit_1/...` but not `resnet_v1_50/block40/...`; TF-Slim
    matches a prefix of the string), or one variable's name without `:0`.
A name that selects no variable is an error listing the endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from errors import UsageError
from slim_weights.loading import in_scopes
from transfusion_tf.models import endpoint_names, variable_endpoints


class ScopeError(UsageError):
    """A scope of `train.trainable_scopes` or `init.exclude_scopes` the model does not have,
    or one that splits a layer."""


def scope_names(value) -> tuple[str, ...]:
    """`'a, b'` or `('a', 'b')` -> `('a', 'b')`; `''` and `()` -> `()`.

    Raises:
      ValueError: a value that is neither a string nor a sequence of non-empty strings.
    """
    if isinstance(value, str):
        names = [name.strip() for name in value.split(",")]
        return tuple(name for name in names if name)
    if isinstance(value, Sequence) and all(isinstance(n, str) and n.strip() for n in value):
        return tuple(n.strip() for n in value)
    raise ValueError(f"expected 'scope,scope' or a sequence of scope names, got {value!r}")


def select(model: tf.keras.Model, scopes: Sequence[str], field: str) -> dict[str, list[str]]:
    """The model variables each scope selects.

    Args:
      model: a registered model (it records its endpoints).
      scopes: endpoint names or variable scopes (see the module docstring).
      field: the config field, for the error message.

    Returns:
      {scope: [variable names]}, each list in `model.variables` order.

    Raises:
      ScopeError: scopes that select nothing (all listed, with the model's endpoints).
    """
    endpoint_of = variable_endpoints(model)
    endpoints = endpoint_names(model)
    selected, unknown = {}, []
    for scope in scopes:
        if scope in endpoints:
            names = [n for n, e in endpoint_of.items() if e == scope]
        else:
            names = [n for n in endpoint_of if in_scopes(n.split(":")[0], [scope])]
        if names:
            selected[scope] = names
        else:
            unknown.append(scope)
    if unknown:
        tops = sorted({n.split("/")[0] for n in endpoint_of})
        raise ScopeError(
            f"{field}: {unknown} select no variable of {model.name}; give endpoints "
            f"({', '.join(endpoints)}) or variable scopes (top-level: {', '.join(tops)})"
        )
    return selected
