"""Endpoint layout: which layer produces each named endpoint, and which endpoint owns each
variable.

Every builder in the registry records its endpoints bottom to top, so transfusion, CCA,
filter plots and weight movement address layers by endpoint name, never by index.

A variable belongs to the lowest endpoint whose output depends on its layer (found by
walking the functional graph, so no naming convention is assumed). Layers that feed no
endpoint, i.e. auxiliary classifier heads such as Inception's `AuxLogits`, belong to the top
endpoint (`logits`): like the main classifier they are heads. Names that are not variables
of the model (a checkpoint's variables absent from a narrower model, say) are placed by
scope with `endpoints_by_scope`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import tensorflow as tf

_ENDPOINTS_ATTR = "_transfusion_endpoint_layers"


def set_endpoint_layers(model: tf.keras.Model, endpoints: Sequence[tuple[str, str]]) -> None:
    """Records (endpoint name, layer name) pairs, bottom to top, on a model."""
    # A tuple of str pairs under a private name: Keras does not track it as a dependency.
    setattr(model, _ENDPOINTS_ATTR, tuple((str(e), str(layer)) for e, layer in endpoints))


def get_endpoint_layers(model: tf.keras.Model) -> tuple[tuple[str, str], ...]:
    """The (endpoint name, layer name) pairs recorded by the model's builder, bottom to top."""
    try:
        return getattr(model, _ENDPOINTS_ATTR)
    except AttributeError:
        raise ValueError(
            f"model {model.name!r} records no endpoints; build it with "
            "transfusion_tf.models.get_model"
        ) from None


def variable_endpoints(model: tf.keras.Model) -> dict[str, str]:
    """The endpoint that owns each variable of a model.

    Args:
      model: a model from the registry (it records its endpoints).

    Returns:
      {variable name (e.g. `block1/conv/kernel:0`): endpoint name}, in the order of
      `model.variables`. Every variable appears; auxiliary heads map to the top endpoint.
    """
    layers = get_endpoint_layers(model)
    owner: dict[str, str] = {}
    for endpoint, layer_name in layers:
        for name in _ancestor_layers(model.get_layer(layer_name).output):
            owner.setdefault(name, endpoint)
    top = layers[-1][0]
    result = {}
    for layer in model.layers:
        for var in layer.weights:
            result[var.name] = owner.get(layer.name, top)
    # Keep the order of model.variables (the order checkpoints and reports use).
    return {v.name: result[v.name] for v in model.variables}


def _ancestor_layers(tensor) -> set[str]:
    """Names of the layers `tensor` depends on, its own producer included."""
    seen: set[str] = set()
    stack = [tensor]
    while stack:
        layer, node_index, _ = stack.pop()._keras_history
        if layer.name in seen:
            continue
        seen.add(layer.name)
        stack.extend(tf.nest.flatten(layer._inbound_nodes[node_index].keras_inputs))
    return seen


def _scope(name: str) -> tuple[str, ...]:
    """The path components of a variable name without its leaf (`a/b/kernel:0` -> (a, b))."""
    return tuple(name.split(":")[0].split("/")[:-1])


def endpoints_by_scope(names: Iterable[str], known: Mapping[str, str]) -> dict[str, str | None]:
    """Places names that are not model variables by the scopes of ones that are.

    A name joins the endpoint of the known variables sharing the longest scope prefix with
    it, if they all agree: `resnet_v1_50/block3/unit_1/bottleneck_v1/shortcut/weights`
    joins block3 through `resnet_v1_50/block3/unit_1/bottleneck_v1/conv1/kernel:0`.

    Args:
      names: variable names (Keras or slim style; leaves are ignored).
      known: {model variable name: endpoint}, e.g. `variable_endpoints(model)`.

    Returns:
      {name: endpoint, or None when the best-matching scopes span several endpoints or
      share nothing with the name}.
    """
    known_scopes = [(_scope(n), e) for n, e in known.items()]
    out: dict[str, str | None] = {}
    for name in names:
        scope = _scope(name)
        best, endpoints = 0, set()
        for other, endpoint in known_scopes:
            shared = 0
            for a, b in zip(scope, other, strict=False):
                if a != b:
                    break
                shared += 1
            if shared > best:
                best, endpoints = shared, {endpoint}
            elif shared == best and shared:
                endpoints.add(endpoint)
        out[name] = endpoints.pop() if len(endpoints) == 1 else None
    return out
