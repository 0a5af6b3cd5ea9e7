"""Building blocks shared by the shipped studies: data, run configs, pretraining runs, grids.

Pretrained weights come from two places (the paper's Table 1): ResNet-50 and Inception-v3
from the released TF-Slim checkpoints (the study downloads them as a "dataset" with
`slim_weights.download`, or takes `--data_root=slim_<model>=<dir>`), the CBRs from a
pretraining run on the source task (`source`: ImageNet TFRecords, or the synthetic
stand-in) registered in the study's own registry.

Every shipped study has a paper-scale variant (`''`) and a `demo` variant sized for a
laptop CPU; `variant(arg, paper=..., demo=...)` picks between them in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from transfusion_tf.studies.spec import DataSpec, RunSpec, Study, UnknownStudy

CBRS = ("cbr_large_t", "cbr_large_w", "cbr_small", "cbr_tiny")
RELEASED = ("resnet_v1_50", "inception_v3")
PAPER_MODELS = ("resnet_v1_50", "inception_v3", *CBRS)
VARIANTS = ("", "demo")

# The single-run config of every run, per study variant (paper scale, demo scale).
RETINA_CONFIG = {
    "": "transfusion_tf/configs/retina.py",
    "demo": "transfusion_tf/configs/demo.py:retina",
}
CHEXPERT_CONFIG = {
    "": "transfusion_tf/configs/chexpert.py",
    "demo": "transfusion_tf/configs/demo.py:chexpert",
}
SOURCE_CONFIG = {
    "": "transfusion_tf/configs/source_pretrain.py",
    "demo": "transfusion_tf/configs/demo.py:source",
}
SEEDS = {"": (0, 1, 2), "demo": (0, 1)}

# Table 1 test AUCs (secondary copies, approximate), as fractions.
PAPER_TABLE1_AUC = {"resnet_v1_50/random": 0.964, "resnet_v1_50/imagenet": 0.967,
                    "inception_v3/random": 0.966, "inception_v3/imagenet": 0.967,
                    "cbr_large_t/random": 0.962, "cbr_large_t/imagenet": 0.962}  # fmt: skip

# Synthetic stand-ins at demo scale (the generators' flags).
DEMO_RETINA = DataSpec(
    "pipelines.generate",
    {"dataset": "eyepacs", "num_patients": 700, "image_size": 64, "seed": 0, "workers": 2},
    "synthetic retina in the EyePACS layout (real: EyePACS/Kaggle DR, 587 px)",
)
DEMO_CHEXPERT = DataSpec(
    "pipelines.generate",
    {"dataset": "chexpert", "num_patients": 500, "image_size": 64, "seed": 0, "workers": 2},
    "synthetic chest x-rays in the CheXpert-v1.0-small layout (real: CheXpert)",
)
DEMO_SOURCE = DataSpec(
    "pipelines.generate_source",
    {"num_classes": 12, "train_per_class": 100, "validation_per_class": 25, "image_size": 48,
     "train_shards": 4, "validation_shards": 1, "seed": 0},
    "synthetic source task in the ImageNet TFRecord layout (real: ImageNet)",
)  # fmt: skip
PAPER_RETINA = DataSpec(
    "pipelines.generate",
    {"dataset": "eyepacs", "num_patients": 20_000, "image_size": 587, "seed": 0, "workers": 2},
    "EyePACS/Kaggle DR as distributed (give --data_root=retina=<dir>; the synthetic "
    "stand-in is generated otherwise)",
)
PAPER_CHEXPERT = DataSpec(
    "pipelines.generate",
    {"dataset": "chexpert", "num_patients": 20_000, "image_size": 320, "seed": 0, "workers": 2},
    "CheXpert-v1.0-small as distributed (give --data_root=chexpert=<dir>; the synthetic "
    "stand-in is generated otherwise)",
)
PAPER_SOURCE = DataSpec(
    "pipelines.generate_source",
    {"num_classes": 24, "train_per_class": 2_000, "validation_per_class": 100,
     "image_size": 224, "seed": 0},
    "ImageNet in the TF-Slim TFRecord layout (give --data_root=source=<dir>)",
)  # fmt: skip


# Dataset key -> its synthetic stand-in per variant (used when no --data_root is given).
DATA = {
    "retina": {"": PAPER_RETINA, "demo": DEMO_RETINA},
    "chexpert": {"": PAPER_CHEXPERT, "demo": DEMO_CHEXPERT},
    "source": {"": PAPER_SOURCE, "demo": DEMO_SOURCE},
}
RUN_CONFIG = {"retina": RETINA_CONFIG, "chexpert": CHEXPERT_CONFIG}


def variant(arg: str, *, study: str, paper, demo):
    """`paper` for the paper-scale variant `''`, `demo` for `demo`.

    Raises:
      StudyError: any other variant, naming the study and the valid ones.
    """
    if arg not in VARIANTS:
        raise UnknownStudy(f"unknown {study} variant {arg!r}; valid: '', 'demo'")
    return paper if arg == "" else demo


def slim_data(models: Iterable[str]) -> dict[str, DataSpec]:
    """A download "dataset" per released checkpoint the grid needs."""
    return {
        f"slim_{m}": DataSpec(
            "slim_weights.download",
            {"model": m},
            f"the released TF-Slim {m} checkpoint (or --data_root=slim_{m}=<extracted dir>)",
        )
        for m in models
        if m in RELEASED
    }


def init_overrides(model: str, kind: str, **init) -> dict:
    """`init.*` overrides for `kind`: released checkpoints for ResNet/Inception, else the
    study's registry (the CBRs' source-task pretraining)."""
    if kind == "random":
        return {}
    overrides = {"init.kind": kind} | {f"init.{k}": v for k, v in init.items()}
    if model in RELEASED:
        return overrides | {"init.checkpoint": f"{{data:slim_{model}}}/{model}.ckpt"}
    return overrides | {"init.registry": "{registry}"}


def pretraining_runs(
    models: Iterable[str], config: str, per_model: Mapping[str, Mapping] | None = None
) -> list[RunSpec]:
    """One registered source-task pretraining run per CBR among `models`."""
    return [
        RunSpec(
            name=f"source_{m}",
            config=config,
            overrides={
                "model.name": m,
                "data.root": "{data:source}",
                **(per_model or {}).get(m, {}),
            },  # fmt: skip
            group=f"source/{m}",
            register=True,
        )
        for m in models
        if m in CBRS
    ]


def grid(
    config: str,
    models: Sequence[str],
    kinds: Sequence[str],
    seeds: Sequence[int],
    *,
    data: str = "retina",
    overrides: Mapping[str, object] | None = None,
    per_model: Mapping[str, Mapping[str, object]] | None = None,
    kind_options: Mapping[str, Mapping[str, object]] | None = None,
    prefix: str = "",
) -> list[RunSpec]:
    """models x kinds x seeds, named `<prefix><model>_<kind>_s<seed>`, grouped by
    `<prefix><model>/<kind>`.

    `per_model[model]` adds overrides for one model (e.g. demo widths, which its
    pretraining run must share).

    `kinds` entries may be `name=kind`, with `kind_options[name]` the `init.*` fields
    (e.g. `transfusion_block1=transfusion` with {'up_to': 'block1'}).
    """
    runs = []
    for model in models:
        for entry in kinds:
            label, _, kind = entry.partition("=")
            kind = kind or label
            init = dict((kind_options or {}).get(label, {}))
            for seed in seeds:
                runs.append(
                    RunSpec(
                        name=f"{prefix}{model}_{label}_s{seed}",
                        config=config,
                        overrides={"model.name": model, "data.root": f"{{data:{data}}}",
                                   "seed": seed, **(overrides or {}),
                                   **(per_model or {}).get(model, {}),
                                   **init_overrides(model, kind, **init)},
                        group=f"{prefix}{model}/{label}",
                        depends_on=(f"source_{model}",)
                        if model in CBRS and kind != "random" else (),
                    )
                )  # fmt: skip
    return runs


def demo_widths(models: Iterable[str]) -> dict[str, dict[str, tuple[int, ...]]]:
    """Per-model overrides: half of each CBR's widths, what a demo trains on a laptop CPU."""
    full = {"cbr_large_t": (32, 64, 128, 256, 512), "cbr_large_w": (64, 128, 256, 512)}
    return {
        m: {"model.options.widths": tuple(w // 2 for w in full.get(m, (32, 64, 128, 256)))}
        for m in models
        if m in CBRS
    }


def used_data(data: Mapping[str, DataSpec], runs: Iterable[RunSpec]) -> dict[str, DataSpec]:
    """The datasets some run reads (so nothing unused is generated or downloaded)."""
    text = " ".join(str(v) for run in runs for v in run.overrides.values())
    return {key: spec for key, spec in data.items() if f"{{data:{key}}}" in text}


def study_grid(
    arg: str,
    models: Sequence[str],
    kinds: Sequence[str],
    *,
    data: str = "retina",
    seeds: Sequence[int] | None = None,
    kind_options: Mapping[str, Mapping[str, object]] | None = None,
    overrides: Mapping[str, object] | None = None,
    prefix: str = "",
) -> list[RunSpec]:
    """A shipped study's grid at variant `arg`: source pretraining runs first, then the grid.

    The demo variant trains every CBR at half width (its pretraining run too).
    """
    per_model = demo_widths(models) if arg else {}
    runs = []
    if any(kind != "random" for kind in kinds):  # Someone needs the pretrained weights.
        runs = pretraining_runs(models, SOURCE_CONFIG[arg], per_model)
    return runs + grid(
        RUN_CONFIG[data][arg],
        models,
        kinds,
        SEEDS[arg] if seeds is None else seeds,
        data=data,
        overrides=overrides,
        per_model=per_model,
        kind_options=kind_options,
        prefix=prefix,
    )


def unique_runs(runs: Iterable[RunSpec]) -> list[RunSpec]:
    """`runs` without repeats of a name (grids of two datasets share a pretraining run)."""
    seen: dict[str, RunSpec] = {}
    for run in runs:
        seen.setdefault(run.name, run)
    return list(seen.values())


def study_data(arg: str, runs: Iterable[RunSpec], models: Iterable[str]) -> dict[str, DataSpec]:
    """The synthetic stand-ins and released checkpoints the runs read, at variant `arg`."""
    everything = {key: specs[arg] for key, specs in DATA.items()} | slim_data(models)
    return used_data(everything, list(runs))


def steps_thresholds(arg: str) -> tuple[float, ...]:
    """AUC targets of the steps-to-threshold table: the paper's 0.91 (and 0.85) at paper
    scale; 0.8 and 0.9 for the demo's small, short runs."""
    return (0.8, 0.9) if arg else (0.85, 0.91)


def shipped_study(
    study: str, arg: str, runs: Iterable[RunSpec], models: Iterable[str], **fields
) -> Study:
    """A shipped study at variant `arg`: named `<study>[:<arg>]`, its runs without repeats
    (grids of several panels share pretraining runs), and the data those runs read.

    Args:
      study: the registry name without the variant.
      arg: the variant, '' or 'demo'.
      runs: the grid, in an order that respects `depends_on`.
      models: the models whose released checkpoints the runs may read.
      **fields: the other `Study` fields (title, analyses, thresholds, paper, notes).
    """
    runs = unique_runs(runs)
    return Study(
        name=study + (f":{arg}" if arg else ""),
        runs=runs,
        data=study_data(arg, runs, models),
        **fields,
    )
