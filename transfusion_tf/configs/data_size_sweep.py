r"""Data-size sweep (beyond the paper): how does transfer's benefit change with data size?

Not in the paper, which has two points (all data, Table 1; 5,000 images, Table 3): here
ResNet-50 and CBR-Small on RETINA with 1,000 / 5,000 / 20,000 / all training images
(`data.train_subset`, nested subsets: each smaller set inside the larger), random init vs
ImageNet weights, 3 seeds; test referable-DR AUC per size. Paper numbers: not published
(at 5,000 see Table 3: ResNet-50 92.2 / 94.6).

Commands:
  python -m transfusion_tf.study --study=data_size --workdir=studies/data_size \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
Runtime: 48 runs at 587 px (about 9 GPU-hours per ResNet-50 run, assumed). Demo
(`--study=data_size:demo`: CBR-Small at half width, 100 / 300 / 600 / all 1,120 training
images at 64 px, 2 seeds): about 14 minutes on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses

from transfusion_tf.configs import study_parts as parts
from transfusion_tf.configs import table1_retina
from transfusion_tf.studies import Study

SIZES = {"": (1_000, 5_000, 20_000, 0), "demo": (100, 300, 600, 0)}  # 0: all.


def get_config(arg: str = ""):
    """One run: the Table 1 run; set --config.data.train_subset=<images>."""
    return table1_retina.get_config(arg)


def get_study(arg: str = "") -> Study:
    base = table1_retina.get_study(arg)
    models = ("resnet_v1_50", "cbr_small") if arg == "" else ("cbr_small",)
    seeds = (0, 1, 2) if not arg else (0, 1)
    per_model = parts.demo_widths(models) if arg else {}
    config = "transfusion_tf/configs/table1_retina.py" + (f":{arg}" if arg else "")
    runs = [r for r in base.runs if r.name in {f"source_{m}" for m in models}]
    for size in SIZES[arg]:
        label = f"n{size}" if size else "all"
        runs += parts.grid(
            config, models, ("random", "imagenet"), seeds, per_model=per_model,
            overrides={"data.train_subset": size}, prefix=f"{label}_",
        )  # fmt: skip
    runs = [r if r.name.startswith("source_") else _regroup(r) for r in runs]
    return Study(
        name="data_size" + (f":{arg}" if arg else ""),
        title="Data-size sweep: random init vs transfer at 4 training-set sizes",
        runs=runs,
        data=parts.used_data(base.data | parts.slim_data(models), runs),
        thresholds=(0.85, 0.91) if not arg else (0.8, 0.9),
        paper={},
        notes="Groups are <size>_<model>/<init>; nested, seeded, patient-aware subsets.",
    )


def _regroup(run):
    """`n1000_cbr_small_random_s0` -> group `n1000_cbr_small/random`."""
    size = run.name.split("_", 1)[0]
    return dataclasses.replace(run, group=f"{size}_{run.group}")
