r"""Pretrain a CBR on a source task stored as ImageNet TFRecords (the CBRs' `imagenet` weights).

Reproduces the paper's step of pretraining its CBR models on ImageNet, so they have
`imagenet` weights to transfer. Real ImageNet in the TF-Slim TFRecord layout works as is
(variant ''); here, without ImageNet, the `demo` variant pretrains CBR-Small on the
synthetic source task (`pipelines/synthetic/source.py`: 24 classes of textured shapes and
objects on clutter), read through the same ImageNet reader.

Commands (demo; about 25 minutes of training on a busy 2-core CPU):
  python -m pipelines.generate_source --root=/tmp/source --image_size=64
  python -m transfusion_tf.train --config=transfusion_tf/configs/source_pretrain.py:demo \
      --config.data.root=/tmp/source --workdir=runs/source_cbr_small
  python -m transfusion_tf.evaluate --workdir=runs/source_cbr_small --split=validation
  python -m transfusion_tf.register_weights --workdir=runs/source_cbr_small
Expected (demo): validation top-1 >= 0.60 (measured: benchmarks/RESULTS.md). After
registering, `--config.init.kind=imagenet` finds these weights for `cbr_small`.

Variants (the part after the colon):
  (none)  real ImageNet: 1000 classes, 224 px center crops, batch 256, SGD + Nesterov,
          ~90 epochs (450k steps); days on one GPU.
  demo    the synthetic source task: 24 classes, 64 px, batch 64, 2,400 steps.
  test    a few steps of a tiny CBR on tiny records, for the test suite.
"""

from __future__ import annotations

from transfusion_tf.configs import variants
from transfusion_tf.configs.base import base_config


def get_config(arg: str = ""):
    c = base_config()
    c.task = "classification"
    c.task_options.num_classes = 1000
    c.task_options.top_k = 5
    c.data.name = "imagenet"
    c.data.train_split = "train"
    c.data.eval_split = "validation"
    c.data.image_size = 224
    c.data.resize_mode = "center_crop"
    c.data.cache = "none"  # 1.28M images do not fit in memory.
    c.augment.flip_left_right = True
    c.train.batch_size = 256
    c.train.total_steps = 450_000
    c.train.checkpoint_every = 4_500
    c.train.eval_every = 4_500  # 1% of the budget: the curve resolves steps to 1%.
    c.train.log_every = 100
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.1
    c.optimizer.momentum = 0.9
    c.optimizer.nesterov = True
    c.optimizer.weight_decay = 1e-4
    c.schedule.name = "cosine"
    c.schedule.warmup_steps = 5_000
    c.eval.bootstrap_samples = 200
    c.eval.log_bootstrap_samples = 0
    c.eval.thresholds = (0.5, 0.6, 0.7)
    c.eval.final_splits = ("validation",)
    if arg == "demo":
        c.task_options.num_classes = 24
        c.data.image_size = 64
        _small_adam_run(c, learning_rate=2e-3)
        c.train.batch_size = 64
        variants.steps(
            c, total=2_400, eval_every=400, checkpoint_every=200, log_every=50, warmup=100
        )
    elif arg == "test":
        c.task_options.num_classes = 20
        c.model.name = "cbr_tiny"
        c.model.options.widths = (4, 8, 8, 8)
        c.data.image_size = 32
        _small_adam_run(c, learning_rate=1e-3)
        c.data.shuffle_buffer = 64
        c.train.batch_size = 8
        variants.steps(c, total=4, eval_every=2, log_every=1, warmup=0)
        c.eval.batch_size = 16
        c.eval.bootstrap_samples = 10
        c.eval.tensorboard_details = False  # As `variants.tiny_test`: tested on its own.
    elif arg:
        raise ValueError(f"unknown source_pretrain variant {arg!r}; valid: '', 'demo', 'test'")
    return c


def _small_adam_run(c, *, learning_rate: float) -> None:
    """The demo and test variants: small squashed images, Adam without weight decay."""
    c.data.resize_mode = "squash"
    c.data.cache = "memory"  # Only the validation split is cached (records stream).
    c.optimizer.name = "adam"
    c.optimizer.learning_rate = learning_rate
    c.optimizer.weight_decay = 0.0
