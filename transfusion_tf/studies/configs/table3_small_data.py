r"""Table 3: RETINA with only 5,000 training images, random init vs ImageNet transfer.

Reproduces the paper's small-data regime: Table 1's models and starts trained on a
5,000-image subset of the training split (patients whole, grades stratified, seeded; the
validation and test splits whole), 3 seeds. Paper (secondary copies, approximate), random /
transfer: ResNet-50 92.2 / 94.6, CBR-LargeT 93.6 / 93.9, CBR-LargeW 93.6 / 93.7. Transfer
helps the large model more with little data.

Commands:
  python -m transfusion_tf.study --study=table3 --workdir=studies/table3 \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
Runtime: as Table 1 (the steps are the same; only the data differ). Demo
(`--study=table3:demo`: CBR-LargeW and CBR-Small at half width, 300 training images,
64 px, 2 seeds): about 8 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import Study

PAPER_AUC = {"resnet_v1_50/random": 0.922, "resnet_v1_50/imagenet": 0.946,
             "cbr_large_t/random": 0.936, "cbr_large_t/imagenet": 0.939,
             "cbr_large_w/random": 0.936, "cbr_large_w/imagenet": 0.937}  # fmt: skip
SUBSET = {"": 5_000, "demo": 300}


def get_study(arg: str = "") -> Study:
    models = grids.variant(
        arg, study="table3", paper=grids.PAPER_MODELS, demo=("cbr_large_w", "cbr_small")
    )
    overrides = {"data.train_subset": SUBSET[arg]}
    runs = grids.study_grid(arg, models, ("random", "imagenet"), overrides=overrides)
    return grids.shipped_study(
        "table3",
        arg,
        runs,
        models,
        title=f"Table 3: RETINA with {SUBSET[arg]:,} training images, random vs transfer",
        thresholds=(0.85, 0.91),
        paper={"auc": PAPER_AUC},
        notes=f"Training subset: {SUBSET[arg]:,} images (data.train_subset, seeded, "
        "patient-aware, grade-stratified); validation and test splits are whole.",
    )
