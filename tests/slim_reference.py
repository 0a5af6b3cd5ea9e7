"""Test support: random slim weights, the real slim graph run on them, endpoint comparison.

The reference graphs themselves come from `slim_weights.slim_compat`; this module fills
them with random weights *and* random BatchNorm moving statistics (so a wrong epsilon,
a missing gamma or a swapped mean/variance shows up), saves them with slim's own Saver in
the V1 and V2 formats, and evaluates end points (`tests.slim_runs`: the session's runs).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
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


@dataclasses.dataclass(frozen=True)
class SlimRun:
    """What `run_slim` found.

    Attributes:
      inventory: the graph's variables {name: shape}.
      outputs: one {end point: array} per input.
      epsilons: of the graph's fused batch-norm ops, in order.
      initial: with `initial_seed`: {name: the value slim's own initialiser drew}.
      regularization_loss: with `initial_seed`: slim's regularisation loss of `values`.
      regularized: with `initial_seed`: the names of the variables that loss is over.
    """

    inventory: dict[str, tuple[int, ...]]
    outputs: list[dict[str, np.ndarray]]
    epsilons: list[float]
    initial: dict[str, np.ndarray] | None = None
    regularization_loss: float | None = None
    regularized: frozenset[str] | None = None


def run_slim(
    build: Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]],
    values: Mapping[str, np.ndarray],
    inputs: list[np.ndarray],
    *,
    fetch: Callable[[str], bool] = lambda name: True,
    save_prefixes: Mapping[str, str] | None = None,
    restore_from: str | None = None,
    initial_seed: int | None = None,
) -> SlimRun:
    """Builds a slim graph, sets its variables, optionally saves it, and evaluates it.

    Args:
      build: maps a (batch, None, None, 3) float32 placeholder to (logits, end_points).
      values: {variable name: array} for every variable of the graph.
      inputs: image batches to evaluate, each (batch, h, w, 3) float32.
      fetch: which end-point names to evaluate.
      save_prefixes: {'V1' or 'V2': path} to save to with slim's Saver, adding the
        bookkeeping a released checkpoint carries (`global_step` and one Momentum slot).
      restore_from: restore the graph from this checkpoint instead of assigning `values`.
      initial_seed: if given, the graph's seed; slim's initialisers run first and their
        values, and the regularisation loss of `values`, are returned too.
    """
    with tf.Graph().as_default() as graph:
        # Slim's initializers are random ops; with op determinism on (an earlier in-process
        # training run turns it on for the process) they need a seed. Values are assigned.
        tf.compat.v1.set_random_seed(0 if initial_seed is None else initial_seed)
        images = tf.compat.v1.placeholder(tf.float32, (None, None, None, 3))
        _, end_points = build(images)
        epsilons = _fused_batch_norm_epsilons(graph)
        variables = tf.compat.v1.global_variables()
        inventory = {v.op.name: tuple(v.shape.as_list()) for v in variables}
        regularization = (
            tf.compat.v1.losses.get_regularization_loss(),
            frozenset(_variable_of(t) for t in tf.compat.v1.losses.get_regularization_losses()),
        )
        bookkeeping = [
            tf.compat.v1.train.get_or_create_global_step(),
            tf.compat.v1.Variable(
                tf.zeros(variables[0].shape), name=f"{variables[0].op.name}/Momentum"
            ),
        ]
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.variables_initializer(bookkeeping))
            extras = {}
            if initial_seed is not None:
                session.run(tf.compat.v1.variables_initializer(variables))
                extras["initial"] = dict(zip(inventory, session.run(variables), strict=True))
            if restore_from:
                tf.compat.v1.train.Saver(variables).restore(session, restore_from)
            else:
                assign(session, variables, values)
            if initial_seed is not None:
                extras["regularization_loss"] = float(session.run(regularization[0]))
                extras["regularized"] = regularization[1]
            for version, prefix in (save_prefixes or {}).items():
                os.makedirs(os.path.dirname(prefix), exist_ok=True)
                saver = tf.compat.v1.train.Saver(
                    variables + bookkeeping,
                    write_version=getattr(tf.compat.v1.train.SaverDef, version),
                )
                saver.save(session, prefix, write_meta_graph=False, write_state=False)
            wanted = {k: v for k, v in end_points.items() if fetch(k)}
            outputs = [session.run(wanted, {images: x}) for x in inputs]
    return SlimRun(inventory, outputs, epsilons, **extras)


def _variable_of(tensor: tf.Tensor) -> str:
    """The name of the one variable a graph tensor is computed from."""
    found, stack = set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op.type in ("VarHandleOp", "VariableV2"):
            found.add(op.name)
        stack.extend(i.op for i in op.inputs)
    assert len(found) == 1, (tensor.name, found)
    return found.pop()


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
      run: a `slim_runs.session_run` result.
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
    """A graph's `epsilons` (`slim_runs.session_run`'s): `count` fused batch norms, each with
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
