"""Representation and weight analyses of training runs; writes JSON/CSV/NPZ into --out.

  python -m analysis.run_analysis --out=analysis/cbr_tiny
      --random_runs=runs/seed0,runs/seed1 --pretrained_runs=runs/imagenet0
      [--analyses=fig2,fig3,fig4,fig5,weights] [--measures=mean_cca,svcca,pwcca,cka]

fig2/fig3/fig4 share one pass over the images (`analysis.representation_studies`); fig5
and weights read checkpoints only (`analysis.weights`). Draw the results with
`analysis.plot_cca` and `analysis.plot_filters`.

Datapoints (subsample mode): each compared endpoint pair takes
max(--datapoints, --datapoints_per_channel x the larger layer's channels) datapoints, the
same number of positions from every image (all positions where the images hold fewer,
recorded as supply_limited). Every similarity is saved with its null floor: the same
measure with the images paired at random (seeded by --floor_seed), and value - floor.
"""

from absl import app, flags, logging

import errors
from analysis import representation_studies, weights
from analysis.activations import SAMPLING_MODES, SpatialSampling
from analysis.capture import STREAMING_MEASURES

ANALYSES = (*representation_studies.STUDIES, "fig5", "weights")

_OUT = flags.DEFINE_string("out", None, "Analysis directory to write into (created).")
_RANDOM = flags.DEFINE_list("random_runs", [], "Workdirs of random-init runs (seeds differ).")
_PRETRAINED = flags.DEFINE_list(
    "pretrained_runs", [], "Workdirs of pretrained-start runs (ImageNet, transfusion, ...)."
)
_ANALYSES = flags.DEFINE_list(
    "analyses", list(ANALYSES), f"Which analyses, comma-separated: {', '.join(ANALYSES)}."
)
flags.register_validator(
    "analyses",
    lambda names: set(names) <= set(ANALYSES),
    message=f"--analyses takes names from {', '.join(ANALYSES)}",
)
_LABEL = flags.DEFINE_string("label", None, "Names the fig2-4 files; default the model name.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "latest", "The 'final' checkpoint of every run: latest or a step number."
)
_TOP = flags.DEFINE_list(
    "top_endpoints", None, "fig2 endpoints; default the model's top two stages."
)
_ENDPOINTS = flags.DEFINE_list("endpoints", None, "fig3/fig4 endpoints; default all of them.")
_SPLIT = flags.DEFINE_string(
    "split", "test", "Split of the first run's dataset (random runs first)."
)
_NUM_IMAGES = flags.DEFINE_integer("num_images", 256, "Images in the seeded subset.")
_IMAGE_SEED = flags.DEFINE_integer("image_seed", 0, "Seeds the image subset.")
_SAMPLING = flags.DEFINE_enum(
    "sampling", "subsample", SAMPLING_MODES, "Conv positions: seeded subsample or area pool."
)
_DATAPOINTS = flags.DEFINE_integer(
    "datapoints",
    10_000,
    "subsample: the minimum datapoints per compared endpoint pair, over all images.",
)
_PER_CHANNEL = flags.DEFINE_integer(
    "datapoints_per_channel",
    10,
    "subsample: datapoints per channel of the larger layer of a pair; the count used is "
    "max(--datapoints, this x channels), capped by what the images hold (0: --datapoints).",
)
_POOL_GRID = flags.DEFINE_integer("pool_grid", 1, "pool: side of the pooled grid (1: global).")
_POSITION_SEED = flags.DEFINE_integer("position_seed", 0, "Seeds the subsampled positions.")
_MEASURES = flags.DEFINE_list(
    "measures", list(STREAMING_MEASURES), f"Similarity measures: {', '.join(STREAMING_MEASURES)}."
)
_BATCH = flags.DEFINE_integer("batch_size", 16, "Images per forward pass.")
_FLOOR_SEED = flags.DEFINE_integer(
    "floor_seed", 0, "Seeds the random image pairing of the null floors."
)
_FILTER_LAYER = flags.DEFINE_string(
    "filter_layer", None, "fig5: Conv2D layer to save; default the model's first conv."
)
flags.mark_flags_as_required(["out"])


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    runs = [*_RANDOM.value, *_PRETRAINED.value]
    if not runs:
        raise app.UsageError("give runs with --random_runs and/or --pretrained_runs")
    chosen = list(dict.fromkeys(_ANALYSES.value))
    studies = [a for a in chosen if a in representation_studies.STUDIES]
    if studies:
        options = representation_studies.StudyOptions(
            checkpoint=_CHECKPOINT.value,
            split=_SPLIT.value,
            num_images=_NUM_IMAGES.value,
            image_seed=_IMAGE_SEED.value,
            sampling=SpatialSampling(
                mode=_SAMPLING.value,
                datapoints=_DATAPOINTS.value,
                pool_grid=_POOL_GRID.value,
                seed=_POSITION_SEED.value,
                per_channel=_PER_CHANNEL.value,
            ),
            measures=tuple(_MEASURES.value),
            batch_size=_BATCH.value,
            floor_seed=_FLOOR_SEED.value,
        )
        tables = representation_studies.representation_studies(
            _OUT.value,
            random_runs=_RANDOM.value,
            pretrained_runs=_PRETRAINED.value,
            studies=studies,
            top_endpoints=_TOP.value,
            endpoints=_ENDPOINTS.value,
            label=_LABEL.value,
            options=options,
        )
        for study, table in tables.items():
            print(f"{study}: {len(table)} rows -> {_OUT.value}/{study}_{table['label'][0]}.csv")
    if "fig5" in chosen:
        for path in weights.save_filters(
            _OUT.value, runs, layer=_FILTER_LAYER.value, end=_CHECKPOINT.value
        ):
            print(f"fig5: {path}")
    if "weights" in chosen:
        _, per_endpoint = weights.save_weight_movement(_OUT.value, runs, end=_CHECKPOINT.value)
        print(per_endpoint.to_string(index=False))
        print(f"weights: {_OUT.value}/weight_movement.csv, weight_movement_endpoints.csv")
    logging.info("done: %s", ", ".join(chosen))


if __name__ == "__main__":
    errors.run(main)
