"""Stateless, seeded data augmentation: the same seed gives the same image, always.

Every random draw comes from `tf.random.stateless_*` with a per-example seed, so an
interrupted run that resumes at example k augments example k exactly as the uninterrupted
run did.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import tensorflow as tf

with warnings.catch_warnings():
    # tensorflow-addons 0.23 announces its end of life on import; the stack pins it on purpose.
    warnings.simplefilter("ignore", UserWarning)
    import tensorflow_addons as tfa


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """What augmentation to apply (all off by default).

    Attributes:
      flip_left_right: random horizontal flips.
      flip_up_down: random vertical flips.
      rotate_degrees: rotation angle drawn uniformly from [-d, d]; 0 disables.
      brightness: additive delta drawn from [-b, b], in [0, 255] pixel units.
      contrast: contrast factor drawn from [1 - c, 1 + c].
    """

    flip_left_right: bool = False
    flip_up_down: bool = False
    rotate_degrees: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(
            self.flip_left_right
            or self.flip_up_down
            or self.rotate_degrees
            or self.brightness
            or self.contrast
        )


def augment(image: tf.Tensor, seed: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Augments one image.

    Args:
      image: float32 (h, w, c) with values in [0, 255].
      seed: int32/int64 shape-(2,) stateless seed, unique per example.
      config: what to apply.

    Returns:
      float32 (h, w, c) in [0, 255].
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)
    if config.flip_left_right:
        image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if config.flip_up_down:
        image = tf.image.stateless_random_flip_up_down(image, seeds[1])
    if config.rotate_degrees:
        limit = config.rotate_degrees * math.pi / 180.0
        angle = tf.random.stateless_uniform([], seeds[2], -limit, limit)
        # The fundus surround is black, so zero fill is the natural border.
        image = tfa.image.rotate(image, angle, interpolation="bilinear", fill_mode="constant")
    if config.brightness:
        delta = tf.random.stateless_uniform([], seeds[3], -config.brightness, config.brightness)
        image = image + delta
    if config.contrast:
        factor = tf.random.stateless_uniform(
            [], seeds[4], 1.0 - config.contrast, 1.0 + config.contrast
        )
        mean = tf.reduce_mean(image, axis=(0, 1), keepdims=True)
        image = (image - mean) * factor + mean
    return tf.clip_by_value(image, 0.0, 255.0)
