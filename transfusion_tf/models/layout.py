"""Endpoint layout: which layer of a model produces each named endpoint.

Every builder in the registry records its endpoints bottom to top, so transfusion, CCA,
filter plots and weight movement address layers by endpoint name, never by index.
"""

from __future__ import annotations

from collections.abc import Sequence

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
