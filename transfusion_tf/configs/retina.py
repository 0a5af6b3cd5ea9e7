"""Referable DR on EyePACS-layout data, one model from random init (SPEC §1, Table 1).

Reproduces one cell of the paper's Table 1 (RETINA, random init). Paper AUCs (secondary
copies, approximate): ResNet-50 96.4, Inception-v3 96.6, CBR-LargeT 96.2; images 587 px,
about 150k steps.

Command:
  python -m transfusion_tf.train --config=transfusion_tf/configs/retina.py \
      --config.data.root=/data/eyepacs --config.model.name=cbr_small --workdir=runs/retina

Variants (the part after the colon):
  (none)  paper scale: 587 px, 150k steps; days on one GPU.
  demo    the single-run demo on synthetic data for a 2-core laptop CPU: 96 px, ~4 minutes
          of training, expected held-out referable AUC >= 0.85. (`make demo` runs the
          mini-study instead: `python -m transfusion_tf.study --study=demo`.)
  test    a few steps on tiny images, for the test suite.
"""

from __future__ import annotations

from transfusion_tf.configs.base import base_config


def get_config(arg: str = ""):
    c = base_config()
    c.data.image_size = 587
    c.train.batch_size = 32
    c.train.total_steps = 150_000
    c.train.checkpoint_every = 5_000
    c.train.eval_every = 5_000
    c.train.log_every = 100
    c.augment.flip_up_down = True
    c.augment.rotate_degrees = 15.0
    c.augment.brightness = 20.0
    c.augment.contrast = 0.2
    c.schedule.warmup_steps = 1_000
    c.eval.thresholds = (0.85, 0.91)
    if arg == "demo":
        c.precision = "auto"
        c.data.image_size = 96
        c.train.total_steps = 400
        c.train.checkpoint_every = 50
        c.train.eval_every = 100
        c.train.log_every = 25
        c.schedule.warmup_steps = 20
        c.augment.rotate_degrees = 0.0
        c.augment.brightness = 0.0
        c.augment.contrast = 0.0
        c.eval.thresholds = (0.85,)
    elif arg == "test":
        c.model.name = "cbr_tiny"
        c.model.options.widths = (4, 8, 8, 8)
        c.data.image_size = 32
        c.train.batch_size = 4
        c.train.total_steps = 6
        c.train.checkpoint_every = 2
        c.train.eval_every = 2
        c.train.log_every = 1
        c.schedule.warmup_steps = 0
        c.eval.batch_size = 8
        c.eval.bootstrap_samples = 20
        c.eval.log_bootstrap_samples = 10
    elif arg:
        raise ValueError(f"unknown retina config variant {arg!r}; valid: '', 'demo', 'test'")
    return c
