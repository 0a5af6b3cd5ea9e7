r"""Figs 2-5: representation similarity (CCA), movement from initialisation, conv1 filters.

Reproduces the paper's representation analyses over Table-1-style runs (random init and
ImageNet start, 3 seeds each) of all six models on RETINA (ResNet-50, Inception-v3,
CBR-LargeT, CBR-LargeW, CBR-Small, CBR-Tiny) and, as the paper's second panel, on CheXpert:
Fig 2, similarity of the top two stages between random-init networks of different seeds vs
between random-init and pretrained networks; Fig 3, per layer, each network at init vs
after training; Fig 4, similarity at init vs at convergence over pairs; Fig 5, conv1
filters before and after training; and weight movement ||W_T - W_0|| / ||W_0||; with mean
CCA, SVCCA, PWCCA and CKA, each beside its null floor. The paper's Fig 2 shows the six
models on RETINA and on CheXpert; its Figs 3-5 show ResNet-50 and the CBRs on RETINA.
Paper: Fig 2 CCA for ResNet-50 about 0.27 (random vs random) vs 0.24 (random vs
pretrained) (secondary copy, approximate; taken as mean CCA); everything else is figures
only. The paper's reviewers asked whether CBR-LargeT and CBR-LargeW, whose Fig 2 results
disagree, differ beyond the noise, and why similarity after training can be below
similarity at initialisation: the report answers both from the floors and the seed spread.

Commands:
  python -m transfusion_tf.study --study=fig2_5 --workdir=studies/fig2_5 \
      --data_root=retina=/data/eyepacs --data_root=chexpert=/data \
      --data_root=source=/data/imagenet
Runtime: Tables 1 and 2's 72 runs plus the analyses (minutes each on a GPU over 256 test
images). Demo (`--study=fig2_5:demo`: the four CBRs at half width on synthetic retina,
48 px, 3 seeds): roughly 25 minutes on a 2-core CPU (an estimate from the demo's run
times).
"""

from __future__ import annotations

from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import AnalysisSpec, Study

PAPER_FIG2 = {"resnet_v1_50/mean_cca/random_vs_random": 0.27,
              "resnet_v1_50/mean_cca/random_vs_pretrained": 0.24}  # fmt: skip
MEASURES = "mean_cca,svcca,pwcca,cka"
SEEDS = (0, 1, 2)  # Three seeds: three random-vs-random pairs per Fig 2 box.
# Figs 3-4 per stage; pre_logits has more units than the analysed images have datapoints.
ENDPOINTS = {
    "resnet_v1_50": "conv1,block1,block2,block3,block4",
    "inception_v3": "Conv2d_1a_3x3,Conv2d_2b_3x3,Conv2d_4a_3x3,Mixed_5d,Mixed_6e,Mixed_7c",
    "cbr_large_t": "block1,block2,block3,block4,block5",
    "cbr_large_w": "block1,block2,block3,block4",
    "cbr_small": "block1,block2,block3,block4",
    "cbr_tiny": "block1,block2,block3,block4",
}


def get_study(arg: str = "") -> Study:
    models = grids.variant(arg, study="fig2_5", paper=grids.PAPER_MODELS, demo=grids.CBRS)
    panels = grids.variant(arg, study="fig2_5", paper=("retina", "chexpert"), demo=("retina",))
    runs, analyses = [], []
    for data in panels:
        prefix = "" if data == "retina" else f"{data}_"
        runs += grids.study_grid(
            arg, models, ("random", "imagenet"), data=data, seeds=SEEDS, prefix=prefix
        )
        analyses += [_analysis(prefix, m, arg) for m in models]
    return grids.shipped_study(
        "fig2_5",
        arg,
        runs,
        models,
        title="Figs 2-5: CCA similarity, movement from initialisation, conv1 filters",
        analyses=analyses,
        thresholds=grids.steps_thresholds(arg),
        paper={"auc": grids.PAPER_TABLE1_AUC, "fig2": PAPER_FIG2},
        notes="Activations of the test split's seeded image subset; conv endpoints use "
        "(image, h, w) positions as datapoints, subsampled with a seed.",
    )


def _analysis(prefix: str, model: str, arg: str) -> AnalysisSpec:
    name = prefix + model
    flags = {"measures": MEASURES, "endpoints": ENDPOINTS[model]}
    flags |= {"num_images": 64} if arg else {}
    return AnalysisSpec(
        name=name,
        random_runs=[f"{name}_random_s{s}" for s in SEEDS],
        pretrained_runs=[f"{name}_imagenet_s{s}" for s in SEEDS],
        analyses=("fig2", "fig3", "fig4", "fig5", "weights"),
        flags=flags,
    )
