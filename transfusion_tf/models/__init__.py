"""Model registry: `get_model(name, ...)` and `endpoints(model)`.

Registered names:
  cbr_large_t, cbr_large_w, cbr_small, cbr_tiny   (SPEC §2, the paper's CBR family)
  resnet_v1_50, inception_v3                      (SPEC §2, TF-Slim's ImageNet networks)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import tensorflow as tf

from transfusion_tf.models import cbr, inception_v3, resnet_v1
from transfusion_tf.models.layout import get_endpoint_layers

_MODELS: dict[str, Callable[..., tf.keras.Model]] = {
    **{name: functools.partial(cbr.build_cbr, name) for name in cbr.CBR_SPECS},
    "resnet_v1_50": resnet_v1.build_resnet_v1_50,
    "inception_v3": inception_v3.build_inception_v3,
}


def list_models() -> list[str]:
    """Names accepted by `get_model`, sorted."""
    return sorted(_MODELS)


def get_model(
    name: str, *, num_classes: int, input_shape: Sequence[int], **options
) -> tf.keras.Model:
    """Builds a registered model.

    Args:
      name: a registered name (see `list_models()`).
      num_classes: width of the logits layer.
      input_shape: (height, width, channels).
      **options: builder-specific options (e.g. `widths` for the CBRs, `aux_logits` for
        inception_v3).

    Returns:
      A functional Keras model from float images to logits, with recorded endpoints.

    Raises:
      ValueError: if `name` is not registered; the message lists the valid names.
    """
    try:
        builder = _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names: {', '.join(list_models())}"
        ) from None
    return builder(num_classes=num_classes, input_shape=tuple(input_shape), **options)


def endpoint_names(model: tf.keras.Model) -> list[str]:
    """The model's endpoint names, bottom to top (e.g. block1..block4, pre_logits, logits)."""
    return [name for name, _ in get_endpoint_layers(model)]


def endpoints(model: tf.keras.Model) -> tf.keras.Model:
    """A model mapping the same input to `{endpoint_name: tensor}`.

    It shares layers (and so weights) with `model`.
    """
    outputs = {name: model.get_layer(layer).output for name, layer in get_endpoint_layers(model)}
    return tf.keras.Model(model.inputs, outputs, name=f"{model.name}_endpoints")
