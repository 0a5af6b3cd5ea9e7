r"""The paper's initialisation comparison on RETINA (SPEC §1 items 5-7, §3).

Reproduces the convergence comparison of random, ImageNet transfer, Mean Var, weight
transfusion up to a block, the slim hybrid and Gabor conv1: the same model, data, steps and
evaluation schedule, only `init.*` differs; `train_summary.json` gives the steps to each
`eval.thresholds` AUC and `analysis.plot_convergence` draws the curves. The paper's numbers
(steps to AUC > 0.91, ResNet-50): random 69,069, Gabor conv1 25,425, slim 8,208, transfer
8,008; transfusion's speed-up comes mostly from conv1 and block1.

The whole comparison is a study (pretraining, registration, the grid, the report):
  python -m transfusion_tf.study --study=init --workdir=studies/init \
      --data_root=retina=/data/eyepacs
  python -m transfusion_tf.study --study=init:demo --workdir=studies/init_demo --jobs=2 \
      --threads_per_job=1
`init` is ResNet-50 at paper scale from the released checkpoint; `init:demo` pretrains
CBR-Small on the 24-class synthetic source task (64 px, 2,400 steps, the
`source_pretrain.py:demo` run), then trains CBR-Small from random, imagenet (those weights),
mean_var and transfusion up to block1, 3 seeds each, on a synthetic EyePACS set of 1,800
patients; steps to AUC 0.8 / 0.85 / 0.9 in the report, with the Fig 2/3/5 analyses of the
random and imagenet runs and the conv1 filters before and after source pretraining.
Runtime: `init` 12 ResNet-50 runs at 587 px (about 9 GPU-hours each on one V100, assumed);
`init:demo` about 2 hours on a 2-core CPU (measured in BUILD.md, Initialisations).

Single runs (one per kind and seed; CBRs need source-pretrained weights registered first,
see transfusion_tf/configs/source_pretrain.py):
  for s in 0 1 2; do for kind in random imagenet mean_var transfusion; do
    python -m transfusion_tf.train --config=transfusion_tf/configs/retina_init.py:demo \
        --config.data.root=/data/eyepacs --config.init.kind=$kind --config.init.up_to=block1 \
        --config.seed=$s --workdir=runs/init_${kind}_$s
  done; done
(`init.up_to` is read by transfusion and hybrid_slim only.)

Variants (the part after the colon):
  (none)  paper scale: ResNet-50 at 587 px, 150k steps, evaluated every 1,000 steps.
  demo    CBR-Small at 96 px on the synthetic retina set, 400 steps, evaluated every 25;
          about 10 minutes per run on a busy 2-core CPU. Measured: BUILD.md, Initialisations.
  test    a tiny CBR for the test suite.
"""

from __future__ import annotations

from transfusion_tf.configs import retina, source_pretrain
from transfusion_tf.configs import study_parts as parts
from transfusion_tf.studies import AnalysisSpec, DataSpec, Study

KINDS = ("random", "imagenet", "mean_var", "transfusion_block1=transfusion")
OPTIONS = {"transfusion_block1": {"up_to": "block1"}}
PAPER_STEPS = {"resnet_v1_50/random": 69_069, "resnet_v1_50/imagenet": 8_008}


def get_config(arg: str = ""):
    if arg not in ("", "demo", "test"):
        raise ValueError(f"unknown retina_init config variant {arg!r}; valid: '', 'demo', 'test'")
    c = retina.get_config(arg)
    c.eval.thresholds = (0.85, 0.91)
    c.eval.final_splits = ("test",)
    if arg == "":
        c.model.name = "resnet_v1_50"
        c.train.eval_every = 1_000
        c.train.checkpoint_every = 5_000
    elif arg == "demo":
        c.precision = "float32"
        c.data.image_size = 96
        c.train.total_steps = 400
        c.train.eval_every = 25
        c.train.checkpoint_every = 100
        c.eval.log_bootstrap_samples = 0
        c.eval.thresholds = (0.8, 0.85, 0.9)
    return c


def get_study(arg: str = "") -> Study:
    """The issue-5 comparison: random, imagenet, mean_var, transfusion to block1; 3 seeds."""
    if arg not in ("", "demo"):
        raise ValueError(f"unknown init study variant {arg!r}; valid: '', 'demo'")
    config = "transfusion_tf/configs/retina_init.py" + (f":{arg}" if arg else "")
    if arg == "":
        model, runs = "resnet_v1_50", []
        data = {"retina": parts.PAPER_RETINA, **parts.slim_data([model])}
    else:
        model = "cbr_small"
        runs = parts.pretraining_runs([model], "transfusion_tf/configs/source_pretrain.py:demo")
        source = source_pretrain.get_config("demo")
        data = {
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
    seeds = (0, 1, 2)
    runs += parts.grid(config, [model], KINDS, seeds, kind_options=OPTIONS)
    analyses = [
        AnalysisSpec(
            name=model,
            random_runs=[f"{model}_random_s{s}" for s in seeds],
            pretrained_runs=[f"{model}_imagenet_s{s}" for s in seeds],
            analyses=("fig2", "fig3", "fig5", "weights"),
            flags={
                "num_images": 128,
                "datapoints": 4_000,
                "batch_size": 32,
                "endpoints": "block1,block2,block3,block4",
                "measures": "mean_cca,svcca,pwcca,cka",
            },
        )
    ]
    if arg == "demo":  # The pretrained conv1 itself: before and after source pretraining.
        analyses.append(AnalysisSpec(name="source", random_runs=["source_cbr_small"],
                                     analyses=("fig5",)))  # fmt: skip
    c = get_config(arg)
    return Study(
        name="init" + (f":{arg}" if arg else ""),
        title="Initialisations: random, transfer, Mean Var, transfusion to block1; steps to AUC",
        runs=runs,
        data=data,
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
