"""The paper's representation analyses (Figs 2-4) over training workdirs.

- Fig 2 (`fig2`): on the top two stages of a model, similarity between random-init runs of
  different seeds vs similarity between random-init and pretrained-start runs, at their
  final checkpoints; per pair, the mean over those endpoints.
- Fig 3 (`fig3`): per endpoint, similarity of a run at its init checkpoint with the same run
  at its final checkpoint, for random and pretrained starts.
- Fig 4 (`fig4`): per endpoint and pair of runs, x = similarity of the two runs' initial
  weights' representations, y = their similarity at convergence.

Every similarity is saved with its null floor (`analysis.null_floor`: the same measure with
the images paired at random, same datapoints) and the difference, value - floor: columns
`value, floor, minus_floor` (fig2, fig3) and `init_value, final_value, init_floor,
final_floor, init_minus_floor, final_minus_floor` (fig4). The datapoints actually used per
endpoint pair (`datapoints, images, positions_per_image, target_datapoints,
supply_limited`, channels in `neurons_a, neurons_b`) are columns too.

Runs come in two groups, "random" and "pretrained" (any non-random start: ImageNet,
transfusion, ...); the analyses read only checkpoints, so how a run was initialised does
not matter. All studies asked for in one call share one pass over the images: every
network runs once per batch. Outputs, in `out_dir`: `<study>_<label>.csv` (long format,
one row per measure) and `<study>_<label>.json` (inputs, images, sampling, null floor,
datapoints per endpoint, provenance and a `summary`; see `study_tables.fig2_summary` and
`study_tables.endpoint_summary`).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Sequence

import pandas as pd

from analysis import capture, study_tables
from analysis.activations import SpatialSampling
from transfusion_tf import checkpointing, experiment, provenance

STUDIES = ("fig2", "fig3", "fig4")
GROUPS = ("random", "pretrained")

# The top two stages per registered model, by endpoint name (Fig 2). Inception's stages
# end at Mixed_5d, Mixed_6e and Mixed_7c.
TOP_STAGES = {
    "cbr_large_t": ("block4", "block5"),
    "cbr_large_w": ("block3", "block4"),
    "cbr_small": ("block3", "block4"),
    "cbr_tiny": ("block3", "block4"),
    "resnet_v1_50": ("block3", "block4"),
    "inception_v3": ("Mixed_6e", "Mixed_7c"),
}


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """What every representation study shares.

    Attributes:
      checkpoint: the "final" checkpoint of each run: "latest" or a step number.
      split: the split the images come from, of the first run's dataset (random runs
        come first).
      num_images: images in the seeded subset (the whole split if smaller).
      image_seed: seeds the subset.
      sampling: conv positions to datapoints (see `analysis.activations.SpatialSampling`).
      measures: names from `analysis.capture.STREAMING_MEASURES`.
      batch_size: images per forward pass.
      floor_seed: seeds the image pairing of the null floors.
    """

    checkpoint: str = checkpointing.LATEST
    split: str = "test"
    num_images: int = 256
    image_seed: int = 0
    sampling: SpatialSampling = dataclasses.field(default_factory=SpatialSampling)
    measures: tuple[str, ...] = capture.STREAMING_MEASURES
    batch_size: int = 16
    floor_seed: int = 0


def top_stages(model_name: str) -> tuple[str, str]:
    """The Fig-2 endpoints of a registered model.

    Raises:
      ValueError: a model without an entry (the message lists those with one).
    """
    if model_name not in TOP_STAGES:
        raise ValueError(
            f"no top-stage endpoints recorded for model {model_name!r} (known: "
            f"{', '.join(TOP_STAGES)}); pass the endpoints explicitly"
        )
    return TOP_STAGES[model_name]


def representation_studies(
    out_dir: str,
    *,
    random_runs: Sequence[str],
    pretrained_runs: Sequence[str] = (),
    studies: Sequence[str] = STUDIES,
    top_endpoints: Sequence[str] | None = None,
    endpoints: Sequence[str] | None = None,
    label: str | None = None,
    options: StudyOptions | None = None,
) -> dict[str, pd.DataFrame]:
    """Runs Figs 2, 3 and/or 4 for the runs of one model and writes their files.

    Args:
      out_dir: the analysis directory (created).
      random_runs: workdirs of random-init runs (seeds differ).
      pretrained_runs: workdirs of pretrained-start runs.
      studies: names from `STUDIES`.
      top_endpoints: Fig-2 endpoints; default `top_stages(model name)`.
      endpoints: Fig-3/4 endpoints; default every endpoint of the model.
      label: names the files (`fig2_<label>.csv`); default the model name.
      options: shared settings; default `StudyOptions()`.

    Returns:
      study -> its long-format table (as written to `<study>_<label>.csv`).

    Raises:
      ValueError: unknown study, too few runs for a study, runs of different models, two
        runs with the same name, unknown endpoints or measures, too few datapoints.
    """
    options = options or StudyOptions()
    unknown = [s for s in studies if s not in STUDIES]
    if unknown:
        raise ValueError(f"unknown studies {unknown}; valid: {', '.join(STUDIES)}")
    runs = _group_runs(random_runs, pretrained_runs)
    configs = {name: experiment.load_config(w) for name, (w, _) in runs.items()}
    model_names = sorted({c.model.name for c in configs.values()})
    if len(model_names) != 1:
        raise ValueError(f"the runs mix models {model_names}; compare one model per call")
    label = label or model_names[0]
    _check_counts(studies, runs)

    final = options.checkpoint
    needs_init = {"fig3", "fig4"} & set(studies)
    networks = {}
    for name, (workdir, _) in runs.items():
        for which in (checkpointing.INIT, final) if needs_init else (final,):
            net = capture.load_network(workdir, which, name=f"{name}@{which}")
            networks[net.name] = net
    first = networks[f"{next(iter(runs))}@{final}"]
    chosen = {s: tuple(endpoints or first.endpoint_names) for s in studies}
    if "fig2" in chosen:
        chosen["fig2"] = tuple(top_endpoints or top_stages(model_names[0]))
    plans = {s: _PLANNERS[s](runs, networks, final, chosen[s]) for s in studies}
    comparisons = list(dict.fromkeys(c for plan in plans.values() for cs, _ in plan for c in cs))
    rows = capture.select_images(
        first.config, split=options.split, num_images=options.num_images, seed=options.image_seed
    )
    results = capture.compare(
        networks,
        comparisons,
        rows,
        sampling=options.sampling,
        measures=options.measures,
        batch_size=options.batch_size,
        floor_seed=options.floor_seed,
    )
    by_key = {(r["a"], r["b"], r["endpoint_a"]): r for r in results}
    os.makedirs(out_dir, exist_ok=True)
    tables = {}
    for study, plan in plans.items():
        table = study_tables.long_table(plan, by_key, options.measures)
        table.insert(0, "label", label)
        stem = os.path.join(out_dir, f"{study}_{label}")
        table.to_csv(stem + ".csv", index=False)
        meta = study_tables.metadata(study, label, runs, networks, rows, options, plan, table)
        meta["summary"] = _SUMMARIES[study](table)
        provenance.write_json(stem + ".json", meta)
        tables[study] = table
    return tables


def _group_runs(random_runs, pretrained_runs) -> dict[str, tuple[str, str]]:
    """name -> (workdir, group), random runs first; names must be unique."""
    runs = {}
    for group, workdirs in zip(GROUPS, (random_runs, pretrained_runs), strict=True):
        for workdir in workdirs:
            name = capture.run_name(workdir)
            if name in runs:
                raise ValueError(
                    f"two runs are both named {name!r} ({runs[name][0]} and {workdir}); "
                    "results name runs by their workdir's last component"
                )
            runs[name] = (workdir, group)
    return runs


def _check_counts(studies, runs) -> None:
    count = {g: sum(1 for _, group in runs.values() if group == g) for g in GROUPS}
    needs = {
        "fig2": (count["random"] >= 2 and count["pretrained"] >= 1, "2 random and 1 pretrained"),
        "fig3": (len(runs) >= 1, "1 run"),
        "fig4": (len(runs) >= 2, "2 runs"),
    }
    for study in studies:
        ok, what = needs[study]
        if not ok:
            raise ValueError(
                f"{study} needs at least {what}; got {count['random']} random and "
                f"{count['pretrained']} pretrained"
            )


def _pair_kind(group_a: str, group_b: str) -> str:
    first, second = sorted((group_a, group_b), key=GROUPS.index)
    return f"{first}_vs_{second}"


# A plan is a list of (comparisons, columns): the table gets one row per endpoint and
# measure of each entry, holding `columns`, then `value` (one comparison) or `init_value`
# and `final_value` (two: at init, at the final checkpoint).


def _plan_fig2(runs, networks, final, endpoints):
    """Random pairs (different seeds), then every random x pretrained pair."""
    randoms = [n for n, (_, g) in runs.items() if g == "random"]
    pretrained = [n for n, (_, g) in runs.items() if g == "pretrained"]
    plan = []
    for a, b in [*itertools.combinations(randoms, 2), *itertools.product(randoms, pretrained)]:
        na, nb = networks[f"{a}@{final}"], networks[f"{b}@{final}"]
        columns = {"comparison": _pair_kind(runs[a][1], runs[b][1]), "run_a": a, "run_b": b}
        columns |= {"step_a": na.step, "step_b": nb.step}
        plan.append(((capture.same_endpoints(na.name, nb.name, endpoints),), columns))
    return plan


def _plan_fig3(runs, networks, final, endpoints):
    plan = []
    for name, (_, group) in runs.items():
        init, trained = networks[f"{name}@{checkpointing.INIT}"], networks[f"{name}@{final}"]
        columns = {"start": group, "run": name, "step_init": init.step, "step_final": trained.step}
        plan.append(((capture.same_endpoints(init.name, trained.name, endpoints),), columns))
    return plan


def _plan_fig4(runs, networks, final, endpoints):
    plan = []
    for a, b in itertools.combinations(runs, 2):
        pair = tuple(
            capture.same_endpoints(f"{a}@{which}", f"{b}@{which}", endpoints)
            for which in (checkpointing.INIT, final)
        )
        columns = {"comparison": _pair_kind(runs[a][1], runs[b][1]), "run_a": a, "run_b": b}
        columns |= {"step_a": networks[pair[1].a].step, "step_b": networks[pair[1].b].step}
        plan.append((pair, columns))
    return plan


_PLANNERS = {"fig2": _plan_fig2, "fig3": _plan_fig3, "fig4": _plan_fig4}
_SUMMARIES = {
    "fig2": study_tables.fig2_summary,
    "fig3": lambda table: study_tables.endpoint_summary(table, "start"),
    "fig4": lambda table: study_tables.endpoint_summary(table, "comparison"),
}
