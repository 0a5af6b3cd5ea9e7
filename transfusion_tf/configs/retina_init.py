r"""One run of the initialisation comparison on RETINA (the paper's Figs 6-8 starts).

The same model, data, steps and evaluation schedule for every start; only `init.*` differs
between runs, so their convergence curves and steps to AUC compare the starts alone. The
comparison as a whole (pretraining, registration, the grid, the report) is the `init`
study: `python -m transfusion_tf.study --study=init[:demo] --workdir=...`.

Single runs (CBRs need source-pretrained weights registered first, see
transfusion_tf/configs/source_pretrain.py):
  for s in 0 1 2; do for kind in random imagenet mean_var transfusion; do
    python -m transfusion_tf.train --config=transfusion_tf/configs/retina_init.py:demo \
        --config.data.root=/data/eyepacs --config.init.kind=$kind --config.init.up_to=block1 \
        --config.seed=$s --workdir=runs/init_${kind}_$s
  done; done
(`init.up_to` is read by transfusion and hybrid_slim only.)

Variants (the part after the colon):
  (none)  paper scale: ResNet-50 at 587 px, 150k steps, evaluated every 1,000 steps.
  demo    CBR-Small at 96 px on the synthetic retina set, 400 steps, evaluated every 25.
  test    a tiny CBR for the test suite.
"""

from __future__ import annotations

from transfusion_tf.configs import retina, variants


def get_config(arg: str = ""):
    variants.check("retina_init", arg, ("", "demo", "test"))
    c = retina.get_config(arg)
    c.eval.thresholds = (0.85, 0.91)
    c.eval.final_splits = ("test",)
    if arg == "":
        c.model.name = "resnet_v1_50"
    elif arg == "demo":
        c.precision = "float32"
        c.data.image_size = 96
        variants.steps(c, total=400, eval_every=25, checkpoint_every=100)
        c.eval.log_bootstrap_samples = 0
        c.eval.thresholds = (0.8, 0.85, 0.9)
    return c
