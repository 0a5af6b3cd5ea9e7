"""Learning-rate schedules and optimizers as small pure functions of the config.

`learning_rate(step, ...)` is written once with TF ops so the same code gives the value
the optimizer uses in-graph and the value a test checks at a boundary step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf

SCHEDULES = ("constant", "cosine", "step")
OPTIMIZERS = ("adam", "adamw", "sgd")


def learning_rate(
    step,
    *,
    base: float,
    schedule: str,
    total_steps: int,
    warmup_steps: int = 0,
    end_factor: float = 0.0,
    boundaries: Sequence[int] = (),
    gamma: float = 0.1,
) -> tf.Tensor:
    """The learning rate after `step` optimizer updates.

    Linear warmup from 0 to `base` over `warmup_steps` (step 0 gets base / warmup_steps so
    the first update is not wasted), then:
      constant: `base`;
      cosine: half-cosine from `base` at the end of warmup to `base * end_factor` at
        `total_steps` (held there after);
      step: `base * gamma ** (number of boundaries <= step)`.

    Returns:
      float32 scalar tensor.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    step = tf.cast(step, tf.float32)
    base = tf.constant(base, tf.float32)
    if schedule == "constant":
        value = base
    elif schedule == "cosine":
        span = max(total_steps - warmup_steps, 1)
        progress = tf.clip_by_value((step - warmup_steps) / span, 0.0, 1.0)
        cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
        value = base * (end_factor + (1.0 - end_factor) * cosine)
    else:
        passed = tf.reduce_sum(
            tf.cast(step >= tf.constant(list(boundaries) or [math.inf], tf.float32), tf.float32)
        )
        value = base * tf.pow(tf.constant(gamma, tf.float32), passed)
    if warmup_steps > 0:
        value = tf.where(step < warmup_steps, base * (step + 1.0) / warmup_steps, value)
    return value


class Schedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    """`learning_rate` as a Keras schedule (serialisable through `get_config`)."""

    def __init__(self, **kwargs):
        super().__init__()
        learning_rate(0, **kwargs)  # Validates the arguments now, not at the first step.
        self.kwargs = kwargs

    def __call__(self, step):
        return learning_rate(step, **self.kwargs)

    def get_config(self):
        return dict(self.kwargs)


def make_schedule(schedule_config, *, base: float, total_steps: int) -> Schedule:
    """Builds the schedule from the `schedule` config block."""
    return Schedule(
        base=float(base),
        schedule=schedule_config.name,
        total_steps=int(total_steps),
        warmup_steps=int(schedule_config.warmup_steps),
        end_factor=float(schedule_config.end_factor),
        boundaries=tuple(int(b) for b in schedule_config.boundaries),
        gamma=float(schedule_config.gamma),
    )


def make_optimizer(optimizer_config, lr) -> tf.keras.optimizers.Optimizer:
    """Builds the optimizer from the `optimizer` config block and a learning rate/schedule.

    Weight decay: `adamw` uses decoupled decay; for `sgd` and `adam` it is Keras' decoupled
    `weight_decay` as well (0 disables). `clipnorm` > 0 clips each gradient's norm.
    """
    name = optimizer_config.name
    common = {"learning_rate": lr}
    if optimizer_config.weight_decay:
        common["weight_decay"] = float(optimizer_config.weight_decay)
    if optimizer_config.clipnorm:
        common["clipnorm"] = float(optimizer_config.clipnorm)
    if name == "adam":
        return tf.keras.optimizers.Adam(**common)
    if name == "adamw":
        common.setdefault("weight_decay", 0.0)
        return tf.keras.optimizers.AdamW(**common)
    if name == "sgd":
        return tf.keras.optimizers.SGD(
            momentum=float(optimizer_config.momentum),
            nesterov=bool(optimizer_config.nesterov),
            **common,
        )
    raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
