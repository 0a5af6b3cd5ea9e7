"""Changes shared by the config variants (`test`, demo sizes, training length), in one place.

Config files call these instead of repeating the same block of field assignments.
"""

from __future__ import annotations

import ml_collections


def tiny_test(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A few steps of a tiny CBR on tiny images: what the test suite trains."""
    c.model.name = "cbr_tiny"
    c.model.options.widths = (4, 8, 8, 8)
    c.data.image_size = 32
    c.train.batch_size = 4
    steps(c, total=6, eval_every=2, checkpoint_every=2, log_every=1, warmup=0)
    c.eval.batch_size = 8
    c.eval.bootstrap_samples = 20
    c.eval.log_bootstrap_samples = 10
    c.eval.tensorboard_details = False  # Tested on its own (test_tensorboard_summaries.py).
    return c


def steps(
    c: ml_collections.ConfigDict,
    *,
    total: int,
    eval_every: int,
    checkpoint_every: int | None = None,
    log_every: int | None = None,
    warmup: int | None = None,
) -> ml_collections.ConfigDict:
    """Training length and its intervals (checkpoints default to the evaluations')."""
    c.train.total_steps = total
    c.train.eval_every = eval_every
    c.train.checkpoint_every = checkpoint_every or eval_every
    if log_every is not None:
        c.train.log_every = log_every
    if warmup is not None:
        c.schedule.warmup_steps = warmup
    return c


def no_photometric_augment(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Only flips: what short CPU runs use (rotations and colour jitter slow them down)."""
    c.augment.rotate_degrees = 0.0
    c.augment.brightness = 0.0
    c.augment.contrast = 0.0
    return c


def check(name: str, arg: str, valid: tuple[str, ...]) -> None:
    """Raises ValueError for an unknown variant, listing the valid ones."""
    if arg not in valid:
        shown = ", ".join(repr(v) for v in valid)
        raise ValueError(f"unknown {name} config variant {arg!r}; valid: {shown}")
