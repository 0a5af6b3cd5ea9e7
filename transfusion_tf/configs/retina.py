"""Referable DR on EyePACS-layout data, one model from random init (the paper's Table 1).

Reproduces one cell of the paper's Table 1 (RETINA, random init). Paper AUCs (secondary
copies, approximate): ResNet-50 96.4, Inception-v3 96.6, CBR-LargeT 96.2; images 587 px,
about 150k steps. The finished run evaluates the held-out test split into metrics.json.

Command:
  python -m transfusion_tf.train --config=transfusion_tf/configs/retina.py \
      --config.data.root=/data/eyepacs --config.model.name=cbr_small --workdir=runs/retina

Variants (the part after the colon):
  (none)  paper scale: 587 px, 150k steps of batch 32, validation AUC every 1,000 steps
          (steps-to-AUC resolved to 1,000); days on one GPU.
  gpu     between demo and paper scale: 299 px, 30k steps of batch 32, evaluated every
          300 steps. Estimate (untested here, no GPU): about 1.5 hours for ResNet-50 on one
          V100 in float32 (assuming ~200 images/s at 299 px), under an hour with
          precision=mixed_float16.
  demo    the single-run demo on synthetic data for a 2-core laptop CPU: 96 px, 400 steps;
          expected held-out referable AUC >= 0.85. (`make demo` runs the mini-study
          instead: `python -m transfusion_tf.study --study=demo`.)
  test    a few steps on tiny images, for the test suite.
"""

from __future__ import annotations

from transfusion_tf.configs import variants
from transfusion_tf.configs.base import base_config


def get_config(arg: str = ""):
    variants.check("retina", arg, ("", "gpu", "demo", "test"))
    c = base_config()
    c.data.image_size = 587
    c.train.batch_size = 32
    variants.steps(c, total=150_000, eval_every=1_000, checkpoint_every=5_000, log_every=100)
    c.augment.flip_up_down = True
    c.augment.rotate_degrees = 15.0
    c.augment.brightness = 20.0
    c.augment.contrast = 0.2
    c.schedule.warmup_steps = 1_000
    c.eval.thresholds = (0.85, 0.91)
    c.eval.final_splits = ("test",)
    if arg == "gpu":
        c.data.image_size = 299
        variants.steps(c, total=30_000, eval_every=300, checkpoint_every=1_500, warmup=500)
    elif arg == "demo":
        c.precision = "auto"
        c.data.image_size = 96
        variants.steps(c, total=400, eval_every=100, checkpoint_every=50, log_every=25, warmup=20)
        variants.no_photometric_augment(c)
        c.eval.thresholds = (0.85,)
    elif arg == "test":
        variants.tiny_test(c)
        c.eval.final_splits = ()
    return c
