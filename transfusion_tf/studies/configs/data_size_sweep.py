r"""Data-size sweep (beyond the paper): how does transfer's benefit change with data size?

Not in the paper, which has two points (all data, Table 1; 5,000 images, Table 3): here
ResNet-50 and CBR-Small on RETINA with 1,000 / 5,000 / 20,000 / all training images
(`data.train_subset`, nested subsets: each smaller set inside the larger), random init vs
ImageNet weights, 3 seeds; test referable-DR AUC per size. Paper: not in the paper
(at 5,000 see Table 3: ResNet-50 92.2 / 94.6).

Commands:
  python -m transfusion_tf.study --study=data_size --workdir=studies/data_size \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
Runtime: 48 runs at 587 px (about 9 GPU-hours per ResNet-50 run, assumed). Demo
(`--study=data_size:demo`: CBR-Small at half width, 100 / 300 / 600 / all 1,120 training
images at 48 px, 2 seeds): about 14 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import Study

SIZES = {"": (1_000, 5_000, 20_000, 0), "demo": (100, 300, 600, 0)}  # 0: all.


def get_study(arg: str = "") -> Study:
    models = grids.variant(
        arg, study="data_size", paper=("resnet_v1_50", "cbr_small"), demo=("cbr_small",)
    )
    runs = []
    for size in SIZES[arg]:
        runs += grids.study_grid(
            arg,
            models,
            ("random", "imagenet"),
            overrides={"data.train_subset": size},
            prefix=f"n{size}_" if size else "all_",
        )
    return grids.shipped_study(
        "data_size",
        arg,
        runs,
        models,
        title="Data-size sweep: random init vs transfer at 4 training-set sizes",
        thresholds=grids.steps_thresholds(arg),
        notes="Groups are <size>_<model>/<init>; nested, seeded, patient-aware subsets.",
    )
