r"""The mini-study of `make demo`: does source pretraining help, and why? (the paper, small)

Reproduces, on synthetic data and at laptop scale, the paper's core comparison: CBR-Tiny
and CBR-Small trained on the synthetic retina set from random init, from source-task
pretrained weights (a synthetic stand-in for ImageNet) and with Mean Var Init; final test
AUC with kappa and accuracy (Table 1 style), steps to AUC (Fig 6 style), the Fig 2 CCA
comparison against its null floor (3 random seeds: 3 random-vs-random pairs per box),
per-layer CCA to the initialisation (Fig 3), similarity at init vs after training (Fig 4),
conv1 filters (Fig 5, also of the source network before and after pretraining) and weight
movement; the report opens with the paper's claims and the verdict of these numbers on
each. The paper's numbers are at 587 px and ~150k steps with full-width models: compare
trends, not values.

Command (also `make demo`; about 6 minutes on a 2-core CPU, install included):
  python -m transfusion_tf.study --study=demo --workdir=demo_out --jobs=2 --threads_per_job=1

Sizes (transfusion_tf/configs/demo.py holds the per-run configs; stated in the report):
  retina   synthetic EyePACS layout, 700 patients (1,400 images), 40 px, split 80/10/10
  source   synthetic source task, 12 classes x 100 training images, 40 px, 4 shards
  models   CBR-Tiny and CBR-Small at half width (16-32-64-128), float32
  pretrain 120 steps, batch 64, Adam 3e-3; registered in <workdir>/weights.json
  retina   120 steps, batch 24, Adam 1e-3, evaluated every 12 steps on 140 images;
           random init 3 seeds, source-pretrained and Mean Var 2 seeds
  analyses 128 test images, 2,560 datapoints per compared pair of layers

Variants: `` (the demo), `test` (CBR-Tiny alone, a few steps of a tiny model and one seed
of the source-pretrained and Mean Var arms, for the test suite).
"""

from __future__ import annotations

import dataclasses

from transfusion_tf.configs import demo as demo_configs
from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import AnalysisSpec, Study, UnknownStudy

MODELS = ("cbr_tiny", "cbr_small")
TEST_MODELS = ("cbr_tiny",)  # The `test` variant: every arm and analysis of one model.
RANDOM_SEEDS = (0, 1, 2)  # Three random-vs-random pairs per Fig 2 box.
SEEDS = (0, 1)
TEST_SEEDS = (0,)  # The `test` variant: still 3 random-vs-pretrained pairs per Fig 2 box.
ENDPOINTS = "block1,block2,block3,block4"  # pre_logits has more units than images.
_MODEL_NAMES = {"cbr_tiny": "CBR-Tiny", "cbr_small": "CBR-Small"}


def get_study(arg: str = "") -> Study:
    if arg not in ("", "test"):
        raise UnknownStudy(f"unknown demo variant {arg!r}; valid: '', 'test'")
    sizes = demo_configs.SIZES[arg]
    config = "transfusion_tf/configs/demo.py:" + (f"{arg}:" if arg else "")
    models, seeds = (TEST_MODELS, TEST_SEEDS) if arg == "test" else (MODELS, SEEDS)
    runs = grids.pretraining_runs(models, config + "source")
    runs += grids.grid(config + "retina", models, ("random",), RANDOM_SEEDS)
    runs += grids.grid(config + "retina", models, ("imagenet", "mean_var"), seeds)
    names = " and ".join(_MODEL_NAMES[m] for m in models)
    return Study(
        name="demo" + (f":{arg}" if arg else ""),
        title=f"Mini-study: {names}, random vs transfer vs Mean Var",
        runs=runs,
        data=_data(sizes),
        analyses=[*(_analysis(m, sizes, seeds) for m in models), _source_filters(models[-1])],
        thresholds=(0.8, 0.9),
        paper={"auc": grids.PAPER_TABLE1_AUC},
        notes=(
            f"Sizes: retina {sizes['patients']} patients ({2 * sizes['patients']:,} images) at "
            f"{sizes['retina_px']} px, {sizes['steps']} steps of batch {sizes['batch']}; "
            f"source task {sizes['classes']} classes x {sizes['per_class']} images at "
            f"{sizes['source_px']} px, {sizes['pretrain_steps']} steps of batch 64; CBR "
            f"widths {sizes['widths']} (half of the paper's); float32 on CPU. The paper's "
            "scale is 587 px, ~150k steps, full widths."
        ),
    )


def _analysis(model: str, sizes: dict, seeds: tuple[int, ...]) -> AnalysisSpec:
    return AnalysisSpec(
        name=model,
        random_runs=[f"{model}_random_s{s}" for s in RANDOM_SEEDS],
        pretrained_runs=[f"{model}_imagenet_s{s}" for s in seeds],
        analyses=("fig2", "fig3", "fig4", "fig5", "weights"),
        # Datapoints per pair: 20 per channel of the widest layer (128), not the 10,000 of
        # paper-scale analyses: the streaming CCA's cost grows with them, and each value is
        # shown beside its null floor at the same count.
        flags={"num_images": sizes["images"], "batch_size": 32, "endpoints": ENDPOINTS,
               "measures": "mean_cca,svcca,pwcca,cka", "datapoints": sizes["datapoints"]},
    )  # fmt: skip


def _source_filters(model: str) -> AnalysisSpec:
    """The source-pretrained conv1 itself, before and after pretraining."""
    return AnalysisSpec(name="source", random_runs=[f"source_{model}"], analyses=("fig5",))


def _data(sizes: dict) -> dict:
    retina = dict(
        grids.DEMO_RETINA.args, num_patients=sizes["patients"], image_size=sizes["retina_px"]
    )
    source = dict(
        grids.DEMO_SOURCE.args,
        num_classes=sizes["classes"],
        train_per_class=sizes["per_class"],
        validation_per_class=max(sizes["per_class"] // 4, 2),
        image_size=sizes["source_px"],
    )
    return {
        "retina": dataclasses.replace(grids.DEMO_RETINA, args=retina),
        "source": dataclasses.replace(grids.DEMO_SOURCE, args=source),
    }
