r"""Figs 2-5: representation similarity (CCA), movement from initialisation, conv1 filters.

Reproduces the paper's representation analyses (SPEC §1 items 3-4, §6) over Table-1-style
runs of ResNet-50 and CBR-Small (random init and ImageNet start, 3 seeds each): Fig 2,
similarity of the top two stages between random-init networks of different seeds vs
between random-init and pretrained networks; Fig 3, per layer, each network at init vs
after training; Fig 4, similarity at init vs at convergence over pairs; Fig 5, conv1
filters before and after training; and weight movement ||W_T - W_0|| / ||W_0||; with
mean CCA, SVCCA, PWCCA and CKA. Paper: Fig 2 CCA for ResNet-50 about 0.27 (random vs
random) vs 0.24 (random vs pretrained) (secondary copy, approximate; the measure is taken
as mean CCA); everything else is figures only (not published as numbers).

Commands:
  python -m transfusion_tf.study --study=fig2_5 --workdir=studies/fig2_5 \
      --data_root=retina=/data/eyepacs --data_root=source=/data/imagenet
Runtime: 12 runs as in Table 1 plus the analyses (minutes on a GPU over 256 test images).
Demo (`--study=fig2_5:demo`: CBR-Tiny and CBR-Small at half width, 64 px, 2 seeds):
about 9 minutes on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.configs import study_parts as parts
from transfusion_tf.configs import table1_retina
from transfusion_tf.studies import AnalysisSpec, Study

PAPER_FIG2 = {"resnet_v1_50/mean_cca/random_vs_random": 0.27,
              "resnet_v1_50/mean_cca/random_vs_pretrained": 0.24}  # fmt: skip
MEASURES = "mean_cca,svcca,pwcca,cka"


def get_config(arg: str = ""):
    """One run: the Table 1 run."""
    return table1_retina.get_config(arg)


def get_study(arg: str = "") -> Study:
    base = table1_retina.get_study(arg)
    models = ("resnet_v1_50", "cbr_small") if arg == "" else ("cbr_tiny", "cbr_small")
    seeds = (0, 1, 2) if not arg else (0, 1)
    per_model = parts.demo_widths(models) if arg else {}
    config = "transfusion_tf/configs/table1_retina.py" + (f":{arg}" if arg else "")
    runs = [r for r in base.runs if r.name in {f"source_{m}" for m in models}]
    runs += parts.grid(config, models, ("random", "imagenet"), seeds, per_model=per_model)
    flags = {"measures": MEASURES} | ({"num_images": 64, "datapoints": 2_000} if arg else {})
    analyses = [
        AnalysisSpec(
            name=m,
            random_runs=[f"{m}_random_s{s}" for s in seeds],
            pretrained_runs=[f"{m}_imagenet_s{s}" for s in seeds],
            analyses=("fig2", "fig3", "fig4", "fig5", "weights"),
            flags=flags,
        )
        for m in models
    ]
    return Study(
        name="fig2_5" + (f":{arg}" if arg else ""),
        title="Figs 2-5: CCA similarity, movement from initialisation, conv1 filters",
        runs=runs,
        data=parts.used_data(base.data | parts.slim_data(models), runs),
        analyses=analyses,
        thresholds=(0.85, 0.91) if not arg else (0.8, 0.9),
        paper={"auc": table1_retina.PAPER_AUC, "fig2": PAPER_FIG2},
        notes="Activations of the test split's seeded image subset; conv endpoints use "
        "(image, h, w) positions as datapoints, subsampled with a seed.",
    )
