r"""Fig 7: weight transfusion up to conv1 ... block4: where does the speed-up come from?

Reproduces the paper's weight-transfusion experiment: ResNet-50 on RETINA with pretrained
weights copied up to conv1, block1, block2, block3 or block4 and the rest random, against
random init and full transfer, 3 seeds; validation AUC every 1,000 steps and steps to AUC
0.91. Paper: the per-block steps are not published as a table (none recovered); the
finding is that most of the speed-up comes from conv1 and block1, conv1 alone giving the
largest marginal gain. Full transfer needs 8,008 steps and random init 69,069 (the
authors' Fig 8 figure).

Commands:
  python -m transfusion_tf.study --study=fig7 --workdir=studies/fig7 \
      --data_root=retina=/data/eyepacs
Runtime: 21 ResNet-50 runs at 587 px (about 9 GPU-hours each on one V100, assumed).
Demo (`--study=fig7:demo`: CBR-Small at half width, 48 px, up to block1 ... block4,
2 seeds): about 12 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import Study

PAPER_STEPS = {"resnet_v1_50/random": 69_069, "resnet_v1_50/imagenet": 8_008}
ENDPOINTS = {"resnet_v1_50": ("conv1", "block1", "block2", "block3", "block4"),
             "cbr_small": ("block1", "block2", "block3", "block4")}  # fmt: skip


def get_study(arg: str = "") -> Study:
    model = grids.variant(arg, study="fig7", paper="resnet_v1_50", demo="cbr_small")
    kinds = ("random", "imagenet", *(f"up_to_{e}=transfusion" for e in ENDPOINTS[model]))
    options = {f"up_to_{e}": {"up_to": e} for e in ENDPOINTS[model]}
    runs = grids.study_grid(arg, [model], kinds, kind_options=options)
    return grids.shipped_study(
        "fig7",
        arg,
        runs,
        [model],
        title="Fig 7: weight transfusion up to each block, steps to AUC",
        thresholds=grids.steps_thresholds(arg),
        paper={"steps": PAPER_STEPS},
        notes="Transfusion up to X copies every variable at or below endpoint X; the rest "
        "keeps its random init. The paper's steps are to AUC 0.91 for ResNet-50.",
    )
