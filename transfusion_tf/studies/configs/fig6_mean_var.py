r"""Fig 6: Mean Var Init converges faster than random init and slower than transfer.

Reproduces the paper's feature-independent benefit of pretraining: ResNet-50 and
Inception-v3, on RETINA and on CheXpert (the paper's four panels), from random init (slim's
own initialisers), ImageNet weights and Mean Var Init (each tensor drawn iid from
N(mean, var) of the pretrained tensor; batch norm identity), 3 seeds; on RETINA ResNet-50
also the batch-norm ablations (`bn_mode` resample and copy). Validation AUC vs step,
evaluated every 1,000 steps, and steps to AUC 0.91 (RETINA) / 0.85 (CheXpert mean AUC).
Paper: not published as a table (the figure shows Mean Var between random and transfer);
none recovered.

Commands:
  python -m transfusion_tf.study --study=fig6 --workdir=studies/fig6 \
      --data_root=retina=/data/eyepacs --data_root=chexpert=/data
Runtime: 42 runs (ResNet-50 at 587 px about 9 GPU-hours each on one V100, assumed).
Demo (`--study=fig6:demo`: CBR-Small at half width on synthetic retina, 48 px, 2 seeds,
random / imagenet / mean_var and the two BN ablations): about 10 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import Study

KINDS = ("random", "imagenet", "mean_var")
ABLATIONS = ("mean_var_bn_resample=mean_var", "mean_var_bn_copy=mean_var")
OPTIONS = {"mean_var_bn_resample": {"bn_mode": "resample"}, "mean_var_bn_copy": {"bn_mode": "copy"}}


def get_study(arg: str = "") -> Study:
    panels = grids.variant(
        arg,
        study="fig6",
        paper=[("retina", "resnet_v1_50", KINDS + ABLATIONS), ("retina", "inception_v3", KINDS),
               ("chexpert", "resnet_v1_50", KINDS), ("chexpert", "inception_v3", KINDS)],
        demo=[("retina", "cbr_small", KINDS + ABLATIONS)],
    )  # fmt: skip
    runs = []
    for data, model, kinds in panels:
        prefix = "" if data == "retina" else f"{data}_"
        runs += grids.study_grid(
            arg, [model], kinds, data=data, kind_options=OPTIONS, prefix=prefix
        )
    models = sorted({model for _, model, _ in panels})
    return grids.shipped_study(
        "fig6",
        arg,
        runs,
        models,
        title="Fig 6: Mean Var Init vs random init vs transfer, convergence",
        thresholds=grids.steps_thresholds(arg),
        notes="Mean Var: every kernel drawn iid from N(mean, var) of its pretrained tensor, "
        "batch norm identity (the paper's); resample and copy are the BN ablations.",
    )
