r"""Table 2: CheXpert, six models from random init and from ImageNet weights, 3 seeds.

Reproduces the paper's Table 2: the same models and starts as Table 1 on the five CheXpert
pathologies (Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion) at 224 px,
~100k steps; per-pathology ROC AUC on the official valid.csv and their mean. Paper: the
CheXpert AUCs are not published in a form recovered here (not recovered); the finding is
that transfer barely changes them.

Commands:
  python -m transfusion_tf.study --study=table2 --workdir=studies/table2 \
      --data_root=chexpert=/data --data_root=source=/data/imagenet
Runtime: 36 runs at 224 px + 4 CBR pretrainings (about 4 GPU-hours per ResNet-50 run on
one V100, assumed). Demo (`--study=table2:demo`: CBR-Tiny and CBR-Small at half width on
the synthetic chest set, 64 px, 2 seeds): about 8 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import Study


def get_study(arg: str = "") -> Study:
    models = grids.variant(
        arg, study="table2", paper=grids.PAPER_MODELS, demo=("cbr_tiny", "cbr_small")
    )
    runs = grids.study_grid(arg, models, ("random", "imagenet"), data="chexpert")
    return grids.shipped_study(
        "table2",
        arg,
        runs,
        models,
        title="Table 2: CheXpert mean AUC over 5 pathologies, random init vs ImageNet transfer",
        thresholds=(0.8,),
        notes="Mean of the five per-pathology AUCs on the official valid.csv (metrics.json "
        "holds each pathology with its CI).",
    )
