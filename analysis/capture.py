"""Endpoint activations of run checkpoints over the same images, streamed into CCA.

A `Network` is one checkpoint of one training workdir (`load_network`). `select_images`
draws a seeded subset of a split, in a seeded order; `compare` feeds those images through
every network (each with its own input size and preprocessing, from its own config), turns
each batch of endpoint activations into datapoints (`analysis.activations`: common grid,
same positions for both sides, 10 datapoints per channel of the larger layer by default)
and streams them into one `analysis.null_floor.FlooredAccumulator` per compared endpoint
pair: the similarity and its null floor (the same measure with the images paired at
random). Memory stays at one batch of activations, one floor group's datapoints and
2 (p+q+1)^2 numbers per pair, whatever the image size.

Nothing here cares how a run was initialised: random, pretrained or transfused runs are
all read from `checkpoints/init/ckpt-0` and the periodic checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Mapping, Sequence

import ml_collections
import numpy as np
import pandas as pd
import tensorflow as tf

from analysis.activations import SpatialSampling, common_grid, resize_to_grid, spatial_grid
from analysis.null_floor import FlooredAccumulator, FloorPairing, floor_pairing, image_datapoints
from pipelines.readers.file_split import FileSplit
from transfusion_tf import checkpointing, experiment, initialization, models

# Measures the streaming accumulator computes; debiased CKA needs every datapoint's norm,
# which the accumulated R factor does not keep.
STREAMING_MEASURES = ("mean_cca", "svcca", "pwcca", "cka")
# PWCCA is asymmetric (weights from one side); the analyses compare unordered pairs, so
# they average both sides' weightings.
_MEASURE_OPTIONS = {"pwcca": {"weights_from": "symmetric"}}


@dataclasses.dataclass
class Network:
    """One checkpoint of one training run, ready to produce endpoint activations.

    Attributes:
      name: unique label, e.g. "seed1@init".
      workdir: the run's directory.
      checkpoint: the checkpoint path restored.
      step: its training step (0 for the init checkpoint).
      config: the run's config.
      endpoint_model: maps images to `{endpoint: (batch, h, w, c) or (batch, c)}`.
      endpoint_names: bottom to top.
      endpoint_shapes: endpoint -> static shape with batch None.
      preprocessing: the run's pixel preprocessing (recorded when it started: it belongs to
        its weights).
    """

    name: str
    workdir: str
    checkpoint: str
    step: int
    config: ml_collections.ConfigDict
    endpoint_model: tf.keras.Model
    endpoint_names: tuple[str, ...]
    endpoint_shapes: dict[str, tuple]
    preprocessing: str

    def endpoint_shape(self, endpoint: str) -> tuple:
        """Static output shape of an endpoint, e.g. (None, 16, 16, 32).

        Raises:
          ValueError: unknown endpoint (the message lists the valid ones).
        """
        if endpoint not in self.endpoint_shapes:
            raise ValueError(
                f"{self.name}: unknown endpoint {endpoint!r}; valid: "
                f"{', '.join(self.endpoint_names)}"
            )
        return self.endpoint_shapes[endpoint]

    @property
    def input_key(self) -> tuple:
        """Networks with equal keys see identical input tensors and share one pipeline."""
        c = self.config
        return (
            c.data.image_size,
            c.data.channels,
            self.preprocessing,
            c.data.resize_mode,
        )


@contextlib.contextmanager
def float32_policy():
    """Builds models in float32 inside the block, restoring the global policy after."""
    # Mixed-precision runs keep float32 variables, so a float32 model restores them; CCA
    # on bfloat16 activations would lose most of its digits.
    old = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(old)


def load_network(workdir: str, checkpoint: str = "latest", *, name: str | None = None) -> Network:
    """Builds a run's model from its config.json and restores one checkpoint.

    Args:
      workdir: a training workdir.
      checkpoint: "init", "latest" or a step number (see `checkpointing.checkpoint_path`).
      name: label in results; default "<basename of workdir>@<checkpoint>".

    Raises:
      FileNotFoundError: no such run or checkpoint (the message lists what exists).
    """
    config = experiment.load_config(workdir)
    path = checkpointing.checkpoint_path(workdir, checkpoint)
    plan = initialization.resolve(config, workdir=workdir, read_weights=False)
    with float32_policy():
        model = experiment.build_model(config, plan)
    checkpointing.restore_weights(model, path)
    endpoint_model = models.endpoints(model)
    names = tuple(models.endpoint_names(model))
    shapes = {n: tuple(endpoint_model.output[n].shape) for n in names}
    label = name or f"{run_name(workdir)}@{checkpoint}"
    return Network(
        label,
        workdir,
        path,
        checkpoint_step(path),
        config,
        endpoint_model,
        names,
        shapes,
        plan.preprocessing,
    )


def run_name(workdir: str) -> str:
    """A run's label in results: the last component of its workdir."""
    return os.path.basename(os.path.normpath(workdir))


def checkpoint_step(path: str) -> int:
    """The training step of a run checkpoint path (`init/ckpt-0` is step 0)."""
    return int(path.rsplit("-", 1)[-1])


def select_images(
    config: ml_collections.ConfigDict, *, split: str, num_images: int, seed: int
) -> pd.DataFrame:
    """A seeded subset of one split of a run's dataset, in a seeded random order.

    The order matters to the null floor only (`analysis.null_floor` pairs images that are
    close in this order); in file order a patient's images would be neighbours.

    Args:
      config: a run's config (its dataset, root and patient split are used).
      split: e.g. "test" or "valid".
      num_images: how many; the whole split if it holds fewer.
      seed: seeds the choice and the order.

    Returns:
      The chosen rows (columns `path`, `label`, `patient`, ...), index reset.

    Raises:
      ValueError: unknown split (the message lists the splits).
    """
    data = experiment.load_data(config)
    if split not in data.splits:
        raise ValueError(f"unknown split {split!r}; this dataset has {sorted(data.splits)}")
    rows = data.splits[split].rows()
    chosen = np.random.default_rng(seed).permutation(len(rows))[:num_images]
    return rows.iloc[chosen].reset_index(drop=True)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two networks (by name) and the endpoint pairs compared between them.

    Attributes:
      a, b: network names.
      endpoint_pairs: ((endpoint of a, endpoint of b), ...); usually (e, e).
    """

    a: str
    b: str
    endpoint_pairs: tuple[tuple[str, str], ...]


def same_endpoints(a: str, b: str, endpoints: Sequence[str]) -> Comparison:
    """A comparison of equally named endpoints of two networks."""
    return Comparison(a, b, tuple((e, e) for e in endpoints))


def compare(
    networks: Mapping[str, Network],
    comparisons: Sequence[Comparison],
    rows: pd.DataFrame,
    *,
    sampling: SpatialSampling | None = None,
    measures: Sequence[str] = STREAMING_MEASURES,
    batch_size: int = 16,
    floor_seed: int = 0,
) -> list[dict]:
    """Similarity of endpoint pairs between networks, with null floors, on the same images.

    Every network runs once per batch, however many comparisons it is part of. Conv
    endpoints of a pair are area-averaged to their common grid, then subsampled or pooled
    (`sampling`); (batch, c) endpoints count as 1x1 grids, so a conv endpoint compared with
    a vector one is globally average-pooled. Each pair gets
    `sampling.positions_per_image(grid, images, max(p, q))` positions from every image
    (the target: max(sampling.datapoints, sampling.per_channel * max(p, q)) datapoints;
    every position when the images cannot supply it). Its null floor is the same measure
    with the images paired by `analysis.null_floor.floor_pairing(images, seed=floor_seed)`.

    Args:
      networks: name -> network.
      comparisons: what to compare.
      rows: the images (e.g. from `select_images`), read by each network's own pipeline.
      sampling: conv positions to datapoints; default `SpatialSampling()`.
      measures: names from `STREAMING_MEASURES`.
      batch_size: images per forward pass.
      floor_seed: seeds the image pairing of the null floors.

    Returns:
      One dict per (comparison, endpoint pair): a, b, endpoint_a, endpoint_b, grid ("hxw"
      of the grid the datapoints came from), datapoints (used), neurons_a, neurons_b,
      images, positions_per_image, target_datapoints, supply_limited (True when the images
      held fewer positions than the target), and per measure m: m (the value) and
      f"{m}_floor".

    Raises:
      ValueError: unknown network, endpoint or measure (listing the valid ones), fewer
        datapoints than neurons for some pair, or fewer than 2 images (checked before any
        image is read).
    """
    sampling = sampling or SpatialSampling()
    unknown = [m for m in measures if m not in STREAMING_MEASURES]
    if unknown:
        raise ValueError(
            f"unknown or non-streaming measures {unknown}; valid: {', '.join(STREAMING_MEASURES)}"
        )
    plan = _plan(networks, comparisons, len(rows), sampling)
    pairing = floor_pairing(len(rows), seed=floor_seed)
    accumulators = {
        key: FlooredAccumulator(p["neurons_a"], p["neurons_b"], pairing) for key, p in plan.items()
    }
    used = sorted({name for c in comparisons for name in (c.a, c.b)})
    needed = {_side(p, "a") for p in plan.values()} | {_side(p, "b") for p in plan.values()}
    first = 0
    for inputs in _input_batches([networks[n] for n in used], rows, batch_size):
        outputs = {
            n: networks[n].endpoint_model(inputs[networks[n].input_key], training=False)
            for n in used
        }
        # A network's endpoint on one grid serves every comparison it is in (Fig 4 pairs
        # each run with every other): resize and sample it once per batch.
        sides = {
            side: _datapoints(outputs[side[0]][side[1]].numpy(), side, first, pairing, sampling)
            for side in needed
        }
        for key, p in plan.items():
            accumulators[key].update(first, sides[_side(p, "a")][0], *sides[_side(p, "b")])
        first += int(next(iter(inputs.values())).shape[0])
    return [_record(p, accumulators[key], sampling, measures) for key, p in plan.items()]


def _side(plan_entry: dict, which: str) -> tuple:
    """(network, endpoint, grid, positions per image) of one side of a planned pair."""
    p = plan_entry
    return (p[which], p[f"endpoint_{which}"], p["grid"], p["positions_per_image"])


def _record(p: dict, accumulator, sampling: SpatialSampling, measures) -> dict:
    record = {k: v for k, v in p.items() if k != "grid"}
    grid = sampling.target_grid(p["grid"])
    record["grid"] = f"{grid[0]}x{grid[1]}"
    assert accumulator.value.num_datapoints == p["datapoints"], record
    for m in measures:
        value, floor = accumulator.similarity(m, **_MEASURE_OPTIONS.get(m, {}))
        record |= {m: value, f"{m}_floor": floor}
    return record


def _datapoints(acts, side, first: int, pairing: FloorPairing, sampling: SpatialSampling):
    """One batch of one side: (own, served) datapoints, see `null_floor.image_datapoints`."""
    _, _, grid, count = side
    target = sampling.target_grid(grid)
    maps = resize_to_grid(acts, target)
    b, gh, gw, c = maps.shape
    flat = maps.reshape(b, gh * gw, c)
    return image_datapoints(flat, count, first, pairing, grid=target, seed=sampling.seed)


def _plan(networks, comparisons, num_images: int, sampling: SpatialSampling) -> dict:
    """Checks names and sizes up front; one entry per (comparison, endpoint pair)."""
    plan = {}
    for c in comparisons:
        for name in (c.a, c.b):
            if name not in networks:
                raise ValueError(f"unknown network {name!r}; valid: {', '.join(networks)}")
        for endpoint_a, endpoint_b in c.endpoint_pairs:
            shape_a = networks[c.a].endpoint_shape(endpoint_a)
            shape_b = networks[c.b].endpoint_shape(endpoint_b)
            grid = common_grid(spatial_grid(shape_a), spatial_grid(shape_b))
            target = sampling.target_grid(grid)
            neurons = (int(shape_a[-1]), int(shape_b[-1]))
            per_image = sampling.positions_per_image(target, num_images, max(neurons))
            datapoints = per_image * num_images
            if datapoints < max(neurons):
                raise ValueError(
                    f"{c.a}:{endpoint_a} vs {c.b}:{endpoint_b}: {datapoints} datapoints "
                    f"({num_images} images x {per_image} positions on a {target} grid) for "
                    f"{max(neurons)} neurons; CCA needs at least as many datapoints as "
                    "neurons: use more images or datapoints, or leave the endpoint out"
                )
            wanted = sampling.target_datapoints(max(neurons))
            plan[(c.a, c.b, endpoint_a, endpoint_b)] = {
                "a": c.a,
                "b": c.b,
                "endpoint_a": endpoint_a,
                "endpoint_b": endpoint_b,
                "grid": grid,
                "datapoints": datapoints,
                "neurons_a": neurons[0],
                "neurons_b": neurons[1],
                "images": num_images,
                "positions_per_image": per_image,
                "target_datapoints": wanted,
                "supply_limited": datapoints < wanted,
            }
    return plan


def _input_batches(networks: Sequence[Network], rows: pd.DataFrame, batch_size: int):
    """Yields {input_key: images (b, size, size, channels)} batches in row order."""
    pipelines = {}
    for net in networks:
        if net.input_key not in pipelines:
            config = ml_collections.ConfigDict(net.config.to_dict())
            config.eval.batch_size = batch_size
            pipelines[net.input_key] = experiment.eval_input(
                config, FileSplit(rows), preprocessing=net.input_key[2]
            )
    keys = list(pipelines)
    for batches in zip(*(pipelines[k] for k in keys), strict=True):
        yield {k: images for k, (images, _) in zip(keys, batches, strict=True)}
