"""Five CheXpert pathologies, one model from random init (the paper's Table 2).

Reproduces one cell of the paper's Table 2 (CheXpert, random init): ROC AUC on the
official valid.csv for Atelectasis, Cardiomegaly, Consolidation, Edema and Pleural
Effusion, and their mean. The paper's CheXpert AUCs are not recovered; reports print ours
alone. Images 224 px, about 100k steps (paper). The finished run evaluates valid.csv into
metrics.json.

Command:
  python -m transfusion_tf.train --config=transfusion_tf/configs/chexpert.py \\
      --config.data.root=/data --config.model.name=cbr_small --workdir=runs/chexpert
  python -m transfusion_tf.evaluate --workdir=runs/chexpert --split=valid

`data.root` is the directory holding `CheXpert-v1.0-small/` (or `CheXpert-v1.0/`), or
that folder itself. Splits: `train` and `valid_internal` are patients of train.csv
(`data.split_fractions`); `valid` is the official valid.csv, evaluated during training.

Label policies (`data.options`): `uncertainty.<pathology>` is `ones`, `zeros` or `ignore`
(masked) for -1.0 cells, default U-Ones for Atelectasis and Edema and U-Zeros for the
rest (the CheXpert paper's best); `blank` is `zero` (default) or `mask`; `views` is
`frontal` (default), `lateral` or `all`; `ap_pa` keeps only 'AP' or 'PA' frontal images
('' keeps both). `data.channels=1` feeds the grayscale images to a 1-channel conv1,
`3` replicates them. `eval.aggregate=mean|max` scores studies instead of images.

Variants (the part after the colon):
  (none)  paper scale: 224 px, 100k steps, batch 32, evaluated every 1,000 steps; days on
          one GPU.
  gpu     between demo and paper scale: 320 px (CheXpert-v1.0-small's size), 30k steps of
          batch 32, evaluated every 300 steps. Estimate (untested here, no GPU): about 1.5
          hours for ResNet-50 on one V100 in float32 (assuming ~170 images/s at 320 px).
  demo    synthetic set on a 2-core laptop CPU: CBR-Small at 96 px, float32, 400 steps of
          32 (11.5 minutes wall on 2 cores shared at load ~8; 2,885 training images).
          Measured on valid (200 frontal images): mean AUC 0.970 (95% CI 0.953-0.985);
          Atelectasis 0.929, Cardiomegaly 0.988, Consolidation 0.937, Edema 1.000,
          Pleural Effusion 0.998. Expected: mean >= 0.80, every pathology >= 0.70.
          Data first (about 1 minute):
            python -m pipelines.generate --dataset=chexpert --root=demo_out/data \\
                --num_patients=1500 --image_size=128 --workers=2
          then --config=transfusion_tf/configs/chexpert.py:demo
          --config.data.root=demo_out/data.
  test    a few steps on tiny images, for the test suite.
"""

from __future__ import annotations

import ml_collections

from pipelines.readers import chexpert
from transfusion_tf.configs import variants
from transfusion_tf.configs.base import base_config


def get_config(arg: str = ""):
    variants.check("chexpert", arg, ("", "gpu", "demo", "test"))
    c = base_config()
    c.task = "chexpert5"
    c.data.name = "chexpert"
    c.data.options = ml_collections.ConfigDict(
        {
            "views": "frontal",
            "ap_pa": "",
            "blank": "zero",
            "uncertainty": {
                chexpert.task_key(name): policy
                for name, policy in chexpert.DEFAULT_UNCERTAINTY.items()
            },
        }
    )
    c.data.split_fractions = ml_collections.ConfigDict({"train": 0.9, "valid_internal": 0.1})
    c.data.train_split = "train"
    c.data.eval_split = "valid"
    c.data.image_size = 224
    c.data.channels = 3
    c.data.resize_mode = "squash"  # Real CheXpert images are not square.
    # The heart's side is anatomy: no left-right flips.
    c.augment.flip_left_right = False
    c.augment.rotate_degrees = 5.0
    c.augment.brightness = 10.0
    c.augment.contrast = 0.1
    c.train.batch_size = 32
    variants.steps(c, total=100_000, eval_every=1_000, checkpoint_every=5_000, log_every=100)
    c.schedule.warmup_steps = 1_000
    c.eval.thresholds = (0.8, 0.85, 0.9)
    c.eval.final_splits = ("valid",)  # The official valid.csv.
    if arg == "gpu":
        c.data.image_size = 320
        variants.steps(c, total=30_000, eval_every=300, checkpoint_every=1_500, warmup=500)
    elif arg == "demo":
        c.data.image_size = 96
        variants.no_photometric_augment(c)
        variants.steps(c, total=400, eval_every=100, checkpoint_every=50, log_every=25, warmup=0)
        c.eval.thresholds = (0.8,)
    elif arg == "test":
        variants.tiny_test(c)
        c.eval.final_splits = ()
    return c
