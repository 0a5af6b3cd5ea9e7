r"""Initialisations on RETINA: random, transfer, Mean Var, transfusion to block1; steps to AUC.

Reproduces the paper's convergence comparison of starts (Figs 6-7 in one grid): random
init, ImageNet transfer, Mean Var Init and weight transfusion up to block1, the same model,
data, steps and evaluation schedule for each, 3 seeds; validation AUC every 1,000 steps
(demo: every 25) and the steps to each threshold, with the Fig 2/3/5 analyses of the random
and transfer runs. The paper's numbers (steps to AUC > 0.91, ResNet-50, the authors' Fig 8
figure): random 69,069, transfer 8,008; transfusion's speed-up comes mostly from conv1
and block1.

Commands:
  python -m transfusion_tf.study --study=init --workdir=studies/init \
      --data_root=retina=/data/eyepacs
  python -m transfusion_tf.study --study=init:demo --workdir=studies/init_demo --jobs=2 \
      --threads_per_job=1
`init` is ResNet-50 at paper scale from the released checkpoint; `init:demo` pretrains
CBR-Small on the 24-class synthetic source task (64 px, 2,400 steps, the
`source_pretrain.py:demo` run), then trains CBR-Small from each start, 3 seeds, on a
synthetic EyePACS set of 1,800 patients at 96 px.
Runtime: `init` 12 ResNet-50 runs at 587 px (about 9 GPU-hours each on one V100,
assumed); `init:demo` about 2 hours on a 2-core CPU.
"""

from __future__ import annotations

from transfusion_tf.configs import retina_init, source_pretrain
from transfusion_tf.studies import grids
from transfusion_tf.studies.spec import AnalysisSpec, DataSpec, Study

KINDS = ("random", "imagenet", "mean_var", "transfusion_block1=transfusion")
OPTIONS = {"transfusion_block1": {"up_to": "block1"}}
PAPER_STEPS = {"resnet_v1_50/random": 69_069, "resnet_v1_50/imagenet": 8_008}
SEEDS = (0, 1, 2)


def get_study(arg: str = "") -> Study:
    model = grids.variant(arg, study="init", paper="resnet_v1_50", demo="cbr_small")
    config = "transfusion_tf/configs/retina_init.py" + (f":{arg}" if arg else "")
    runs = []
    if arg == "demo":
        runs = grids.pretraining_runs([model], "transfusion_tf/configs/source_pretrain.py:demo")
    runs += grids.grid(config, [model], KINDS, SEEDS, kind_options=OPTIONS)
    analyses = [
        AnalysisSpec(
            name=model,
            random_runs=[f"{model}_random_s{s}" for s in SEEDS],
            pretrained_runs=[f"{model}_imagenet_s{s}" for s in SEEDS],
            analyses=("fig2", "fig3", "fig5", "weights"),
            flags={"num_images": 128, "batch_size": 32, "measures": "mean_cca,svcca,pwcca,cka",
                   "endpoints": "block1,block2,block3,block4"},
        )
    ]  # fmt: skip
    if arg == "demo":  # The pretrained conv1 itself: before and after source pretraining.
        analyses.append(AnalysisSpec(name="source", random_runs=["source_cbr_small"],
                                     analyses=("fig5",)))  # fmt: skip
    c = retina_init.get_config(arg)
    return Study(
        name="init" + (f":{arg}" if arg else ""),
        title="Initialisations: random, transfer, Mean Var, transfusion to block1; steps to AUC",
        runs=runs,
        data=_data(arg, model),
        analyses=analyses,
        thresholds=tuple(c.eval.thresholds),
        paper={"steps": PAPER_STEPS},
        notes=(
            f"{model} at {c.data.image_size} px, {c.train.total_steps:,} steps of batch "
            f"{c.train.batch_size}, validation AUC every {c.train.eval_every} steps, "
            f"{c.precision}; only init.* differs between groups. The paper's steps are to AUC "
            "0.91 for ResNet-50 at 587 px."
        ),
    )


def _data(arg: str, model: str) -> dict[str, DataSpec]:
    if arg == "":
        return {"retina": grids.PAPER_RETINA, **grids.slim_data([model])}
    source = source_pretrain.get_config("demo")
    return {
        "retina": DataSpec(
            "pipelines.generate",
            {"dataset": "eyepacs", "num_patients": 1_800, "image_size": 128, "seed": 0,
             "workers": 2},
            "synthetic retina in the EyePACS layout (real: EyePACS/Kaggle DR, 587 px)",
        ),
        "source": DataSpec(
            "pipelines.generate_source",
            {"num_classes": source.task_options.num_classes, "train_per_class": 600,
             "validation_per_class": 50, "image_size": source.data.image_size, "seed": 0},
            "synthetic source task in the ImageNet TFRecord layout (real: ImageNet)",
        ),
    }  # fmt: skip
