r"""The paper's initialisation comparison on RETINA (SPEC §1 items 5-7, §3).

Reproduces the convergence comparison of random, ImageNet transfer, Mean Var, weight
transfusion up to a block, the slim hybrid and Gabor conv1: the same model, data, steps and
evaluation schedule, only `init.*` differs; `train_summary.json` gives the steps to each
`eval.thresholds` AUC and `analysis.plot_convergence` draws the curves. The paper's numbers
(steps to AUC > 0.91, ResNet-50): random 69,069, Gabor conv1 25,425, slim 8,208, transfer
8,008; transfusion's speed-up comes mostly from conv1 and block1.

Commands (one run per kind and seed; CBRs need source-pretrained weights registered first,
see transfusion_tf/configs/source_pretrain.py):
  for s in 0 1 2; do for kind in random imagenet mean_var transfusion; do
    python -m transfusion_tf.train --config=transfusion_tf/configs/retina_init.py:demo \
        --config.data.root=/data/eyepacs --config.init.kind=$kind --config.init.up_to=block1 \
        --config.seed=$s --workdir=runs/init_${kind}_$s
  done; done
(`init.up_to` is read by transfusion and hybrid_slim only.)

Variants (the part after the colon):
  (none)  paper scale: ResNet-50 at 587 px, 150k steps, evaluated every 1,000 steps.
  demo    CBR-Small at 96 px on the synthetic retina set, 400 steps, evaluated every 25;
          about 10 minutes per run on a busy 2-core CPU. Measured: docs_initialization.md.
  test    a tiny CBR for the test suite.
"""

from __future__ import annotations

from transfusion_tf.configs import retina


def get_config(arg: str = ""):
    if arg not in ("", "demo", "test"):
        raise ValueError(f"unknown retina_init config variant {arg!r}; valid: '', 'demo', 'test'")
    c = retina.get_config(arg)
    c.eval.thresholds = (0.85, 0.91)
    if arg == "":
        c.model.name = "resnet_v1_50"
        c.train.eval_every = 1_000
        c.train.checkpoint_every = 5_000
    elif arg == "demo":
        c.precision = "float32"
        c.data.image_size = 96
        c.train.total_steps = 400
        c.train.eval_every = 25
        c.train.checkpoint_every = 100
        c.eval.log_bootstrap_samples = 0
        c.eval.thresholds = (0.8, 0.85, 0.9)
    return c
