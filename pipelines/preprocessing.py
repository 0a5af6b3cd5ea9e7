"""Pixel preprocessing, chosen by the weights' manifest entry, never per dataset.

Every function maps a float32 image with values in [0, 255], shape (h, w, c), to the
model's input scale. Names match the `preprocessing` field of the weight manifest.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from errors import UsageError

# The Caffe-converted TF-Slim ResNet checkpoints expect RGB minus these means, unscaled.
VGG_RGB_MEANS = (123.68, 116.78, 103.94)


def inception(image: tf.Tensor) -> tf.Tensor:
    """Scales [0, 255] to [-1, 1] (TF-Slim Inception checkpoints; our default)."""
    return image / 127.5 - 1.0


def vgg(image: tf.Tensor) -> tf.Tensor:
    """Subtracts the RGB means (TF-Slim ResNet v1 checkpoints): no scaling, no BGR flip.

    A 1-channel image gets the mean of the three means. With a conv1 kernel summed over
    RGB this matches the replicated-gray 3-channel input up to a constant offset of
    sum_c k_c (m_c - mean(m)) per filter (k_c: the kernel's sum over channel c), which is
    zero only when the kernel weighs R, G and B alike; 3-channel replication is exact.
    """
    channels = image.shape[-1]
    if channels == 3:
        means = tf.constant(VGG_RGB_MEANS, image.dtype)
    elif channels == 1:
        means = tf.constant([sum(VGG_RGB_MEANS) / 3.0], image.dtype)
    else:
        raise ValueError(f"vgg preprocessing needs 1 or 3 channels, got shape {image.shape}")
    return image - means


def unit(image: tf.Tensor) -> tf.Tensor:
    """Scales [0, 255] to [0, 1]."""
    return image / 255.0


_PREPROCESSING: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "inception": inception,
    "vgg": vgg,
    "unit": unit,
}


def get_preprocessing(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """Returns the preprocessing function registered under `name`."""
    try:
        return _PREPROCESSING[name]
    except KeyError:
        raise UsageError(
            f"unknown preprocessing {name!r}; valid: {', '.join(sorted(_PREPROCESSING))}"
        ) from None
