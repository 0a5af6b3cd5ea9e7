r"""Table 1: RETINA, six models from random init and from ImageNet weights, 3 seeds.

Reproduces the paper's Table 1: ResNet-50, Inception-v3 and the four CBRs trained on
referable DR at 587 px, ~150k steps, each from random init and from ImageNet weights (the
TF-Slim checkpoints; the CBRs pretrained on the source task first), 3 seeds. Test
referable-DR AUC (with kappa and accuracy of the 5-grade head). Paper (secondary copies,
approximate), random / transfer: ResNet-50 96.4 / 96.7, Inception-v3 96.6 / 96.7,
CBR-LargeT 96.2 / 96.2; CBR-LargeW, CBR-Small, CBR-Tiny: not recovered. Transfer barely
changes the final AUC.

Commands:
  python -m transfusion_tf.study --study=table1 --workdir=studies/table1 \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
  python -m transfusion_tf.study --study=table1 --workdir=studies/table1 ... --print_commands
Runtime: 36 retina runs + 4 CBR ImageNet pretrainings; a ResNet-50 run at 587 px is about
9 GPU-hours on one V100 (assumed ~150 images/s; untested here): weeks on one GPU, so use
--print_commands with a cluster. Demo (`--study=table1:demo`, the four CBRs at half
width, 48 px, 2 seeds, no ResNet/Inception): about 12 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import Study


def get_study(arg: str = "") -> Study:
    models = grids.variant(arg, study="table1", paper=grids.PAPER_MODELS, demo=grids.CBRS)
    runs = grids.study_grid(arg, models, ("random", "imagenet"))
    return grids.shipped_study(
        "table1",
        arg,
        runs,
        models,
        title="Table 1: RETINA AUC, six models, random init vs ImageNet transfer",
        thresholds=(0.85, 0.91),
        paper={"auc": grids.PAPER_TABLE1_AUC},
        notes="Test referable-DR AUC; the paper's are at 587 px after ~150k steps.",
    )
