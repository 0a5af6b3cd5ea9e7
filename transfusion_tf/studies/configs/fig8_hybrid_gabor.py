r"""Fig 8: a slim random top on pretrained lower blocks, and synthetic Gabor filters in conv1.

Reproduces the paper's hybrid experiments: ResNet-50 and CBR-LargeW on RETINA from random
init, Gabor conv1 (a synthetic Gabor bank scaled to the pretrained conv1's std, the rest
random), the slim hybrid (pretrained up to block2, blocks 3-4 at half width and random;
ResNet-50 only) and full transfer, 3 seeds; validation AUC every 1,000 steps and steps to
AUC 0.91. Paper (the authors' figure), steps to AUC > 0.91: ResNet-50 random 69,069, Gabor
conv1 25,425, slim 8,208, transfer 8,008; CBR-LargeW random 104,104, Gabor 82,082,
transfer 19,419.

Commands:
  python -m transfusion_tf.study --study=fig8 --workdir=studies/fig8 \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
Runtime: 21 runs at 587 px plus one CBR-LargeW pretraining; about 9 GPU-hours per
ResNet-50 run on one V100 (assumed). Demo (`--study=fig8:demo`: CBR-Small at half width
instead of both models, random / gabor_conv1 / hybrid_slim / imagenet, 48 px, 2 seeds):
about 10 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import Study

PAPER_STEPS = {"resnet_v1_50/random": 69_069, "resnet_v1_50/gabor_conv1": 25_425,
               "resnet_v1_50/hybrid_slim": 8_208, "resnet_v1_50/imagenet": 8_008,
               "cbr_large_w/random": 104_104, "cbr_large_w/gabor_conv1": 82_082,
               "cbr_large_w/imagenet": 19_419}  # fmt: skip


def get_study(arg: str = "") -> Study:
    panels = grids.variant(
        arg,
        study="fig8",
        paper=[("resnet_v1_50", ("random", "gabor_conv1", "hybrid_slim", "imagenet")),
               ("cbr_large_w", ("random", "gabor_conv1", "imagenet"))],
        demo=[("cbr_small", ("random", "gabor_conv1", "hybrid_slim", "imagenet"))],
    )  # fmt: skip
    runs = [run for model, kinds in panels for run in grids.study_grid(arg, [model], kinds)]
    return grids.shipped_study(
        "fig8",
        arg,
        runs,
        [m for m, _ in panels],
        title="Fig 8: slim hybrid and Gabor conv1 vs random and transfer, steps to AUC",
        thresholds=grids.steps_thresholds(arg),
        paper={"steps": PAPER_STEPS},
        notes="Hybrid: pretrained up to block2, blocks above at init.width_factor 0.5, "
        "random. Gabor: conv1 a synthetic Gabor bank scaled to the pretrained conv1 std.",
    )
