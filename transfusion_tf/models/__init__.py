"""Model registry: `get_model(name, ...)`, `endpoints(model)`, `variable_endpoints(model)`.

Registered names:
  cbr_large_t, cbr_large_w, cbr_small, cbr_tiny   (the paper's CBR family)
  resnet_v1_50, inception_v3                      (TF-Slim's ImageNet networks)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import tensorflow as tf

from transfusion_tf.models import cbr, inception_v3, resnet_v1
from transfusion_tf.models.layout import get_endpoint_layers
from transfusion_tf.models.layout import variable_endpoints as variable_endpoints

_MODELS: dict[str, Callable[..., tf.keras.Model]] = {
    **{name: functools.partial(cbr.build_cbr, name) for name in cbr.CBR_ARCHITECTURES},
    "resnet_v1_50": resnet_v1.build_resnet_v1_50,
    "inception_v3": inception_v3.build_inception_v3,
}
# The smallest input side each family's pooling and strides keep valid.
_MIN_INPUT_SIZE = {
    **dict.fromkeys(cbr.CBR_ARCHITECTURES, cbr.MIN_INPUT_SIZE),
    "resnet_v1_50": resnet_v1.MIN_INPUT_SIZE,
    "inception_v3": inception_v3.MIN_INPUT_SIZE,
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
        inception_v3; `weight_decay` for every model, None being its slim default: see
        `models.initializers`).

    Returns:
      A functional Keras model from float images to logits, with recorded endpoints.

    Raises:
      ValueError: if `name` is not registered (the message lists the valid names), or an
        input shape that is not (height, width, 1 or 3) with sides of at least the
        family's minimum.
    """
    try:
        builder = _MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names: {', '.join(list_models())}"
        ) from None
    _check_input_shape(name, tuple(input_shape))
    return builder(num_classes=num_classes, input_shape=tuple(input_shape), **options)


def _check_input_shape(name: str, input_shape: tuple) -> None:
    if len(input_shape) != 3:
        raise ValueError(
            f"{name}: input_shape must be (height, width, channels), got {input_shape}"
        )
    height, width, channels = input_shape
    if channels not in (1, 3):
        raise ValueError(f"{name}: input must have 1 or 3 channels, got {channels}")
    if min(height, width) < _MIN_INPUT_SIZE[name]:
        raise ValueError(
            f"{name}: input sides must be >= {_MIN_INPUT_SIZE[name]} px, got {height}x{width}"
        )


def slim_top_options(name: str, options: dict, *, up_to: str, width_factor: float) -> dict:
    """Builder options for the hybrid model: blocks above `up_to` `width_factor` times as wide.

    The paper's hybrid (the paper's Fig 8) keeps ResNet-50's blocks up to block2 and gives
    blocks 3-4 half the channels. CBRs are narrowed the same way, block by block.

    Args:
      name: a registered model with block endpoints (`resnet_v1_50` or a CBR).
      options: the builder options otherwise used (e.g. explicit CBR `widths`).
      up_to: the last block kept at full width (`conv1`, `block1`, ...).
      width_factor: factor on the channels of every later block (> 0).

    Returns:
      A new options dict.

    Raises:
      ValueError: for a model without such blocks, an unknown `up_to` (the message lists
        the valid ones) or a non-positive factor.
    """
    if width_factor <= 0:
        raise ValueError(f"width_factor must be > 0, got {width_factor}")
    options = dict(options)
    if name in cbr.CBR_ARCHITECTURES:
        widths = list(options.get("widths") or cbr.CBR_ARCHITECTURES[name].widths)
        blocks = [f"block{i}" for i in range(1, len(widths) + 1)]
        keep = _blocks_kept(name, blocks, up_to)
        options["widths"] = tuple(
            w if i < keep else max(1, round(w * width_factor)) for i, w in enumerate(widths)
        )
    elif name == "resnet_v1_50":
        blocks = ["conv1"] + [b[0] for b in resnet_v1.BLOCKS]
        keep = _blocks_kept(name, blocks, up_to) - 1  # conv1 has no width factor.
        factors = list(options.get("width_factors", (1.0,) * len(resnet_v1.BLOCKS)))
        options["width_factors"] = tuple(
            f if i < keep else f * width_factor for i, f in enumerate(factors)
        )
    else:
        valid = ["resnet_v1_50", *sorted(cbr.CBR_ARCHITECTURES)]
        raise ValueError(f"no slim-top variant of {name!r}; defined for {', '.join(valid)}")
    return options


def _blocks_kept(name: str, blocks: list[str], up_to: str) -> int:
    if up_to not in blocks:
        raise ValueError(f"{name}: up_to={up_to!r} is not one of {', '.join(blocks)}")
    return blocks.index(up_to) + 1


def endpoint_names(model: tf.keras.Model) -> list[str]:
    """The model's endpoint names, bottom to top (e.g. block1..block4, pre_logits, logits)."""
    return [name for name, _ in get_endpoint_layers(model)]


def endpoints(model: tf.keras.Model) -> tf.keras.Model:
    """A model mapping the same input to `{endpoint_name: tensor}`.

    It shares layers (and so weights) with `model`.
    """
    outputs = {name: model.get_layer(layer).output for name, layer in get_endpoint_layers(model)}
    return tf.keras.Model(model.inputs, outputs, name=f"{model.name}_endpoints")
