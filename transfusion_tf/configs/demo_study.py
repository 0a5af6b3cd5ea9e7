r"""The mini-study of `make demo`: does source pretraining help, and why? (all of SPEC §1, small)

Reproduces, on the synthetic data and at laptop scale, the paper's core comparison: CBR-Tiny
and CBR-Small trained on the synthetic retina set from random init, from "ImageNet"
(here: synthetic source-task) weights and with Mean Var Init, 2 seeds each; final AUC
(Table 1 style), steps to AUC (Fig 6 style), the Fig 2 CCA comparison, per-layer CCA to
the initialisation (Fig 3), conv1 filters (Fig 5, also of the source network before and
after pretraining) and weight movement. The paper's numbers are at 587 px and ~150k steps
with full-width models; none are published for this scale, so the report lists the
Table 1 values for context only.

Command (also `make demo`; about 7 minutes on an idle 2-core CPU after install):
  python -m transfusion_tf.study --study=demo --workdir=demo_out --jobs=2 --threads_per_job=1

Sizes (chosen to fit 10 minutes with install on 2 cores; stated in the report):
  retina   synthetic EyePACS layout, 700 patients (1,400 images), 64 px, split 80/10/10
  source   synthetic source task, 12 classes x 100 training images, 48 px, 4 shards
  models   CBR-Tiny and CBR-Small at half width (16-32-64-128), float32
  pretrain 200 steps, batch 64, Adam 3e-3; registered in <workdir>/weights.json
  retina   200 steps, batch 32, Adam 1e-3, evaluated every 20 steps on 140 images

Variants: `` (the demo), `test` (a few steps of tiny models, for the test suite).
"""

from __future__ import annotations

import dataclasses

from transfusion_tf.configs import retina, source_pretrain
from transfusion_tf.configs import study_parts as parts
from transfusion_tf.studies import AnalysisSpec, Study

_SIZES = {
    "": {"patients": 700, "retina_px": 64, "classes": 12, "per_class": 100, "source_px": 48,
         "widths": (16, 32, 64, 128), "pretrain_steps": 200, "steps": 200, "eval_every": 20,
         "seeds": (0, 1), "images": 64},
    "test": {"patients": 40, "retina_px": 32, "classes": 4, "per_class": 8, "source_px": 32,
             "widths": (4, 8, 8, 8), "pretrain_steps": 4, "steps": 4, "eval_every": 2,
             "seeds": (0, 1), "images": 8},
}  # fmt: skip
MODELS = ("cbr_tiny", "cbr_small")
INITS = ("random", "imagenet", "mean_var")


def get_config(arg: str = ""):
    """`retina` / `source` (the demo's per-run configs) or `test:retina` / `test:source`."""
    size_name, _, part = arg.rpartition(":") if ":" in arg else ("", "", arg)
    sizes = _sizes(size_name)
    if part == "source":
        c = source_pretrain.get_config("demo")
        c.task_options.num_classes = sizes["classes"]
        c.data.image_size = sizes["source_px"]
        c.data.shuffle_buffer = 2_000
        c.train.total_steps = sizes["pretrain_steps"]
        c.train.eval_every = c.train.checkpoint_every = sizes["pretrain_steps"] // 2
        c.train.log_every = max(sizes["pretrain_steps"] // 6, 1)
        c.optimizer.learning_rate = 3e-3
        c.schedule.warmup_steps = sizes["pretrain_steps"] // 10
        c.eval.final_splits = ("validation",)
    elif part == "retina":
        c = retina.get_config("demo")
        c.precision = "float32"
        c.data.image_size = sizes["retina_px"]
        c.train.total_steps = sizes["steps"]
        c.train.eval_every = c.train.checkpoint_every = sizes["eval_every"]
        c.train.log_every = sizes["eval_every"]
        c.schedule.warmup_steps = sizes["steps"] // 20
        c.eval.log_bootstrap_samples = 0
        c.eval.bootstrap_samples = 200
        c.eval.thresholds = (0.8, 0.9)
        c.eval.final_splits = ("test",)
    else:
        raise ValueError(f"demo_study config {arg!r}: give 'retina', 'source' or 'test:<part>'")
    c.model.options.widths = sizes["widths"]
    if size_name == "test":
        c.train.batch_size = 4
        c.eval.batch_size = 8
        c.eval.bootstrap_samples = 10
    return c


def get_study(arg: str = "") -> Study:
    sizes = _sizes(arg)
    config = "transfusion_tf/configs/demo_study.py:" + (f"{arg}:" if arg else "")
    runs = parts.pretraining_runs(MODELS, config + "source")
    runs += parts.grid(config + "retina", MODELS, INITS, sizes["seeds"])
    flags = {
        "num_images": sizes["images"],
        "datapoints": 2_000,
        "batch_size": 32,
        "endpoints": "block1,block2,block3,block4",  # pre_logits has more units than images.
        "measures": "mean_cca,svcca,pwcca,cka",
    }
    analyses = [
        AnalysisSpec(
            name=model,
            random_runs=[f"{model}_random_s{s}" for s in sizes["seeds"]],
            pretrained_runs=[f"{model}_imagenet_s{s}" for s in sizes["seeds"]],
            analyses=("fig2", "fig3", "fig5", "weights"),
            flags=flags,
        )
        for model in MODELS
    ]
    # The source-pretrained conv1 itself, before and after pretraining.
    analyses.append(AnalysisSpec(name="source", random_runs=["source_cbr_small"],
                                 analyses=("fig5",)))  # fmt: skip
    retina = dict(
        parts.DEMO_RETINA.args, num_patients=sizes["patients"], image_size=sizes["retina_px"]
    )
    source = dict(parts.DEMO_SOURCE.args, num_classes=sizes["classes"],
                  train_per_class=sizes["per_class"],
                  validation_per_class=max(sizes["per_class"] // 4, 2),
                  image_size=sizes["source_px"])  # fmt: skip
    return Study(
        name="demo" + (f":{arg}" if arg else ""),
        title="Mini-study: CBR-Tiny and CBR-Small, random vs transfer vs Mean Var",
        runs=runs,
        data={
            "retina": dataclasses.replace(parts.DEMO_RETINA, args=retina),
            "source": dataclasses.replace(parts.DEMO_SOURCE, args=source),
        },
        analyses=analyses,
        thresholds=(0.8, 0.9),
        paper={"auc": parts.PAPER_TABLE1_AUC},
        notes=(
            f"Sizes: retina {sizes['patients']} patients ({2 * sizes['patients']:,} images) at "
            f"{sizes['retina_px']} px, {sizes['steps']} steps of batch 32; source task "
            f"{sizes['classes']} classes x {sizes['per_class']} images at "
            f"{sizes['source_px']} px, {sizes['pretrain_steps']} steps of batch 64; CBR "
            f"widths {sizes['widths']} (half of the paper's); float32 on CPU. The paper's "
            "scale is 587 px, ~150k steps, full widths: compare trends, not values; the "
            "paper column is Table 1 at that scale, for context."
        ),
    )


def _sizes(name: str) -> dict:
    if name not in _SIZES:
        raise ValueError(f"unknown demo_study variant {name!r}; valid: '', 'test'")
    return _SIZES[name]
