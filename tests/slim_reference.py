"""Test support: random slim weights, the real slim graph run on them, endpoint comparison.

The reference graphs themselves come from `slim_weights.slim_compat`; this module fills
them with random weights *and* random BatchNorm moving statistics (so a wrong epsilon,
a missing gamma or a swapped mean/variance shows up), saves them with slim's own Saver in
the V1 and V2 formats, and evaluates end points.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import pathlib
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import tensorflow as tf

from slim_weights import loading
from tests import tolerances


def random_slim_values(
    inventory: Mapping[str, tuple[int, ...]], seed: int
) -> dict[str, np.ndarray]:
    """Random float32 values for every variable of a slim inventory.

    Conv kernels are variance preserving (std 1/sqrt(fan_in)), so activations stay finite
    through 50 layers; BN statistics are deliberately not the activations' true ones.
    """
    rng = np.random.default_rng(seed)
    values = {}
    for name, shape in inventory.items():
        kind = name.rsplit("/", 1)[-1]
        if kind == "weights":
            fan_in = math.prod(shape[:-1])
            value = rng.normal(0.0, 1.4 / math.sqrt(fan_in), shape)
        elif kind == "gamma":
            value = rng.uniform(0.5, 1.5, shape)
        elif kind == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        elif kind in ("beta", "moving_mean", "biases"):
            value = rng.normal(0.0, 0.2, shape)
        else:
            raise ValueError(f"unexpected variable kind in {name}")
        values[name] = value.astype(np.float32)
    return values


def run_slim(
    build: Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]],
    values: Mapping[str, np.ndarray],
    inputs: list[np.ndarray],
    *,
    fetch: Callable[[str], bool] = lambda name: True,
    save_prefixes: Mapping[str, str] | None = None,
    restore_from: str | None = None,
) -> tuple[dict[str, tuple[int, ...]], list[dict[str, np.ndarray]], list[float]]:
    """Builds a slim graph, sets its variables, optionally saves it, and evaluates it.

    Args:
      build: maps a (batch, None, None, 3) float32 placeholder to (logits, end_points).
      values: {variable name: array} for every variable of the graph.
      inputs: image batches to evaluate, each (batch, h, w, 3) float32.
      fetch: which end-point names to evaluate.
      save_prefixes: {'V1' or 'V2': path} to save to with slim's Saver, adding the
        bookkeeping a released checkpoint carries (`global_step` and one Momentum slot).
      restore_from: restore the graph from this checkpoint instead of assigning `values`.

    Returns:
      (the graph's variable inventory {name: shape}, one {end point: array} per input,
       the epsilon of each of its fused batch-norm ops in order).
    """
    with tf.Graph().as_default() as graph:
        # Slim's initializers are random ops; with op determinism on (an earlier in-process
        # training run turns it on for the process) they need a seed. Values are assigned.
        tf.compat.v1.set_random_seed(0)
        images = tf.compat.v1.placeholder(tf.float32, (None, None, None, 3))
        _, end_points = build(images)
        epsilons = _fused_batch_norm_epsilons(graph)
        variables = tf.compat.v1.global_variables()
        inventory = {v.op.name: tuple(v.shape.as_list()) for v in variables}
        bookkeeping = [
            tf.compat.v1.train.get_or_create_global_step(),
            tf.compat.v1.Variable(
                tf.zeros(variables[0].shape), name=f"{variables[0].op.name}/Momentum"
            ),
        ]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.variables_initializer(bookkeeping))
            if restore_from:
                tf.compat.v1.train.Saver(variables).restore(session, restore_from)
            else:
                assign(session, variables, values)
            for version, prefix in (save_prefixes or {}).items():
                os.makedirs(os.path.dirname(prefix), exist_ok=True)
                saver = tf.compat.v1.train.Saver(
                    variables + bookkeeping,
                    write_version=getattr(tf.compat.v1.train.SaverDef, version),
                )
                saver.save(session, prefix, write_meta_graph=False, write_state=False)
            wanted = {k: v for k, v in end_points.items() if fetch(k)}
            outputs = [session.run(wanted, {images: x}) for x in inputs]
    return inventory, outputs, epsilons


def assign(
    session: tf.compat.v1.Session,
    variables: list[tf.Variable],
    values: Mapping[str, np.ndarray],
) -> None:
    """Sets each graph variable to `values[its name]`, all in one session call.

    What `Variable.load` does for one variable (feed the initializer's value), for all of
    them at once: a session call per variable costs tens of milliseconds (an executor for
    each new fetch), seconds over a network's few hundred variables.
    """
    feeds = {var.initializer.inputs[1]: values[var.op.name] for var in variables}
    session.run([var.initializer for var in variables], feeds)


@dataclasses.dataclass(frozen=True)
class ReferenceSpec:
    """How one slim network runs as the reference of its Keras twin (see `reference_run`).

    Attributes:
      name: stem of the V1 checkpoint file, e.g. `resnet_v1_50` (V2 is always `model.ckpt`).
      native_size: the released checkpoint's input side; two images are evaluated there.
      build: the slim graph at `native_size`, whose variables are saved as V1 and V2.
      build_587: the slim graph evaluated on one 587 px image, restored from a checkpoint;
        None evaluates `build`'s graph there too (one graph build fewer: seconds).
      restore_version: which saved checkpoint (`V1` or `V2`) `build_587` restores.
      pixel_range: (low, high) of the uniform random images, in the preprocessed range.
      seed: of the random weights.
      fetch: which slim end-point names to evaluate.
    """

    name: str
    native_size: int
    build: Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]]
    build_587: Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]] | None
    restore_version: str | None
    pixel_range: tuple[float, float]
    seed: int
    fetch: Callable[[str], bool]


def reference_run(
    spec: ReferenceSpec, inventory: Mapping[str, tuple[int, ...]], directory: pathlib.Path
) -> dict:
    """Random weights for `inventory` run through slim at the native size and at 587 px.

    The slim graph's own variables must be `inventory`, name for name and shape for shape
    (asserted: the manifest's inventory files are checked here against slim itself).

    Returns:
      {'values': the weights {name: array}, 'prefixes': {'V1' or 'V2': checkpoint path},
       'inputs': {size: images (batch, size, size, 3) float32},
       'outputs': {size: {slim end point: array}},
       'epsilons': of the native-size graph's fused batch norms, in order}.
    """
    rng = np.random.default_rng(0)
    sizes = {spec.native_size: 2, 587: 1}  # side -> images
    inputs = {
        size: rng.uniform(*spec.pixel_range, (batch, size, size, 3)).astype(np.float32)
        for size, batch in sizes.items()
    }
    values = random_slim_values(inventory, seed=spec.seed)
    prefixes = {
        "V1": str(directory / "v1" / f"{spec.name}.ckpt"),
        "V2": str(directory / "v2" / "model.ckpt"),
    }
    same_graph = spec.build_587 is None
    slim_inventory, outputs, epsilons = run_slim(
        spec.build,
        values,
        [inputs[spec.native_size], *([inputs[587]] if same_graph else [])],
        fetch=spec.fetch,
        save_prefixes=prefixes,
    )
    assert slim_inventory == inventory
    native, large = outputs if same_graph else (outputs[0], None)
    if not same_graph:
        _, (large,), _ = run_slim(
            spec.build_587,
            values,
            [inputs[587]],
            fetch=spec.fetch,
            restore_from=prefixes[spec.restore_version],
        )
    return {
        "values": values,
        "prefixes": prefixes,
        "inputs": inputs,
        "outputs": {spec.native_size: native, 587: large},
        "epsilons": epsilons,
    }


def check_against_reference(
    model: tf.keras.Model,
    pairs: Mapping[str, str],
    run: Mapping,
    size: int,
    *,
    title: str,
    shown: Iterable[str],
    capsys,
) -> dict[str, float]:
    """Our end points vs slim's at `size`, all within `network_tolerance(model)`.

    Args:
      model: the Keras model, loaded with the reference's weights.
      pairs: {slim end point: Keras layer computing the same tensor}.
      run: a `reference_run` result.
      size: an input side of `run`.
      title: the first word of the printed line, e.g. `resnet_v1_50 @224`.
      shown: end points whose difference is printed too (when compared).
      capsys: pytest's fixture; the lines are printed past it.

    Returns:
      {slim end point: relative difference}, for the caller to count.
    """
    reference = run["outputs"][size]
    ours = keras_outputs(model, pairs, run["inputs"][size])
    diffs = {key: relative_difference(ours[key], reference[key]) for key in pairs}
    with capsys.disabled():
        worst = max(diffs, key=diffs.get)
        print(f"\n{title}: {len(diffs)} end points, worst {worst} {diffs[worst]:.2e}")
        for key in shown:
            if key in diffs:
                print(f"  {key}: {diffs[key]:.2e}")
    assert max(diffs.values()) < network_tolerance(model), diffs
    return diffs


def relative_difference(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - reference| / max |reference|, after squeezing singleton dimensions."""
    ours, reference = np.squeeze(ours), np.squeeze(reference)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    scale = float(np.max(np.abs(reference)))
    assert scale > 0, "degenerate reference end point (all zero)"
    return float(np.max(np.abs(ours.astype(np.float64) - reference))) / scale


def keras_outputs(model: tf.keras.Model, layers: Mapping[str, str], x: np.ndarray) -> dict:
    """Runs `model` in inference mode and returns {key: output of layer name}."""
    probe = tf.keras.Model(model.inputs, {k: model.get_layer(n).output for k, n in layers.items()})
    return {k: v.numpy() for k, v in probe(x, training=False).items()}


def batch_norm_epsilons(
    build: Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]], size: int
) -> list[float]:
    """The epsilon of every fused batch-norm op `build` puts into a fresh graph, in order."""
    with tf.Graph().as_default() as graph:
        tf.compat.v1.set_random_seed(0)  # As in run_slim: op determinism may be on.
        build(tf.compat.v1.placeholder(tf.float32, (1, size, size, 3)))
        return _fused_batch_norm_epsilons(graph)


def _fused_batch_norm_epsilons(graph: tf.Graph) -> list[float]:
    return [
        op.get_attr("epsilon")
        for op in graph.get_operations()
        if op.type.startswith("FusedBatchNorm")
    ]


def check_variables_are_the_inventory(
    model: tf.keras.Model,
    inventory: Mapping[str, tuple[int, ...]],
    logits_kernel: str,
    logits_shape: tuple[int, int],
) -> None:
    """`model`'s variables, renamed mechanically, are the slim `inventory`, name for name.

    The Dense `logits_kernel` has `logits_shape`: the checkpoint's (1, 1, 2048, C) 1x1-conv
    kernel without its two singleton axes. Every other shape is the checkpoint's.
    """
    ours = {loading.slim_name(v.name): tuple(v.shape) for v in model.variables}
    assert sorted(ours) == sorted(inventory)
    assert inventory[logits_kernel] == (1, 1, *logits_shape)
    assert ours == {**inventory, logits_kernel: logits_shape}


def check_default_epsilon(arg_scope: Callable, epsilons: list[float], count: int) -> None:
    """A graph's `epsilons` (`reference_run`'s): `count` fused batch norms, each with
    `arg_scope`'s default epsilon."""
    default = inspect.signature(arg_scope).parameters["batch_norm_epsilon"].default
    assert len(epsilons) == count
    assert set(epsilons) == {float(np.float32(default))}  # The op attribute is float32.


def network_tolerance(model: tf.keras.Model) -> float:
    """`tolerances.network_rtol` for `model`: its longest dot product and its kernel count.

    The kernel count bounds the depth of every path through the network from above.
    """
    kernels = [v.shape for v in model.trainable_variables if len(v.shape) in (2, 4)]
    longest = max(math.prod(shape[:-1]) for shape in kernels)
    return tolerances.network_rtol(longest, depth=len(kernels))
