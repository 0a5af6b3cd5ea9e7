r"""The per-run configs of every study's `demo` variant and of `make demo`'s mini-study.

Demo-scale runs train half-width CBRs on small synthetic images on a laptop CPU; the study
that launches them (`transfusion_tf/studies/configs/demo.py` for `make demo`, the `demo`
variant of each paper study) passes the model, data root, seed and init as overrides.

Parts (`--config=transfusion_tf/configs/demo.py:<part>`):
  retina    referable DR on the synthetic EyePACS set: 40 px, 120 steps of batch 24,
            validation AUC every 12 steps, held-out test split at the end.
  chexpert  the five CheXpert pathologies on the synthetic set: 40 px, 300 steps,
            every 25 steps, valid.csv at the end.
  source    source-task pretraining on the synthetic ImageNet-layout records: 12 classes,
            40 px, 120 steps of batch 64, validation top-1 at the end.
  test:<part>  the same with a few steps of tiny models, for the test suite.
TensorBoard gets the metric scalars only (`eval.tensorboard_details=False`).
"""

from __future__ import annotations

from transfusion_tf.configs import chexpert, retina, source_pretrain, variants

SIZES = {
    "": {"patients": 700, "retina_px": 40, "classes": 12, "per_class": 100, "source_px": 40,
         "widths": (16, 32, 64, 128), "pretrain_steps": 120, "steps": 120, "batch": 24,
         "eval_every": 12,
         "chexpert_steps": 300, "chexpert_eval_every": 25, "images": 128,
         "datapoints": 2560},
    "test": {"patients": 40, "retina_px": 32, "classes": 4, "per_class": 8, "source_px": 40,
             "widths": (4, 8, 8, 8), "pretrain_steps": 4, "steps": 4, "batch": 4, "eval_every": 2,
             "chexpert_steps": 4, "chexpert_eval_every": 2, "images": 8,
         "datapoints": 400},
}  # fmt: skip
PARTS = ("retina", "chexpert", "source")


def get_config(arg: str = ""):
    """`<part>` or `test:<part>`, part one of `PARTS`."""
    size_name, _, part = arg.rpartition(":")
    if size_name not in SIZES or part not in PARTS:
        raise ValueError(
            f"unknown demo config variant {arg!r}; valid: {', '.join(PARTS)}, or test:<part>"
        )
    sizes = SIZES[size_name]
    c = {"retina": _retina, "chexpert": _chexpert, "source": _source}[part](sizes)
    c.model.options.widths = sizes["widths"]
    # The per-evaluation histograms, curves and confusion images measurably lengthen a demo
    # run's evaluations (benchmarks/bench_run.py with --set=eval.tensorboard_details=false).
    c.eval.tensorboard_details = False
    if size_name == "test":
        c.train.batch_size = 4
        c.eval.batch_size = 8
        c.eval.bootstrap_samples = 10
    return c


def _retina(sizes: dict):
    c = retina.get_config("demo")
    c.precision = "float32"
    c.data.image_size = sizes["retina_px"]
    c.train.batch_size = sizes["batch"]
    variants.steps(
        c,
        total=sizes["steps"],
        eval_every=sizes["eval_every"],
        log_every=sizes["eval_every"],
        warmup=sizes["steps"] // 20,
    )
    c.eval.log_bootstrap_samples = 0
    c.eval.bootstrap_samples = 200
    c.eval.thresholds = (0.8, 0.9)
    c.eval.final_splits = ("test",)
    return c


def _chexpert(sizes: dict):
    c = chexpert.get_config("demo")
    c.data.image_size = sizes["retina_px"]
    variants.steps(c, total=sizes["chexpert_steps"], eval_every=sizes["chexpert_eval_every"])
    c.eval.log_bootstrap_samples = 0
    c.eval.bootstrap_samples = 200
    c.eval.final_splits = ("valid",)
    return c


def _source(sizes: dict):
    c = source_pretrain.get_config("demo")
    c.task_options.num_classes = sizes["classes"]
    c.data.image_size = sizes["source_px"]
    c.data.shuffle_buffer = 2_000
    steps = sizes["pretrain_steps"]
    variants.steps(
        c, total=steps, eval_every=steps // 2, log_every=max(steps // 6, 1), warmup=steps // 10
    )
    c.optimizer.learning_rate = 3e-3
    c.eval.final_splits = ("validation",)
    return c
