"""What training does to the weights themselves: conv1 filters (Fig 5) and weight movement.

- `conv1_filters` / `save_filters`: the first conv layer's kernels at the init checkpoint
  and at the final one, saved as NPZ for `analysis.plot_filters`.
- `weight_movement` / `save_weight_movement`: per variable, the relative Frobenius change
  ||W_T - W_0||_F / ||W_0||_F between two checkpoints of a run, with the layer and the
  endpoint it belongs to; per endpoint, the same over all its trainable variables.

Both read a run workdir only through its config and checkpoints, so any initialisation
(random, pretrained, transfused) is handled alike.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import tensorflow as tf

from analysis.capture import checkpoint_step, float32_policy, run_name
from transfusion_tf import checkpointing, experiment, models
from transfusion_tf.models.layout import get_endpoint_layers

MOVEMENT_COLUMNS = (
    "run",
    "endpoint",
    "layer",
    "weight",
    "shape",
    "trainable",
    "kernel",
    "init_norm",
    "final_norm",
    "change_norm",
    "relative_change",
)
ENDPOINT_MOVEMENT_COLUMNS = (
    "run",
    "endpoint",
    "weights",
    "init_norm",
    "change_norm",
    "relative_change",
)
# Variables that belong to no endpoint (e.g. Inception's auxiliary head).
NO_ENDPOINT = "none"


def first_conv_layer(model: tf.keras.Model) -> str:
    """Name of the model's first Conv2D layer in graph order ("conv1" of the paper)."""
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            return layer.name
    raise ValueError(f"model {model.name!r} has no Conv2D layer")


def layer_endpoints(model: tf.keras.Model) -> dict[str, str]:
    """Layer name -> the lowest endpoint whose output depends on that layer.

    Endpoints are visited bottom to top and each claims the layers of its sub-graph not
    claimed yet, so `block2/conv` belongs to block2 although block3 depends on it too.
    """
    owner = {}
    for endpoint, layer_name in get_endpoint_layers(model):
        sub = tf.keras.Model(model.inputs, model.get_layer(layer_name).output)
        for layer in sub.layers:
            owner.setdefault(layer.name, endpoint)
    return owner


def _restored_model(workdir: str):
    config = experiment.load_config(workdir)
    with float32_policy():
        return experiment.build_model(config)


def _snapshot(model: tf.keras.Model, path: str) -> dict[str, np.ndarray]:
    """Restores a checkpoint into `model`; returns {variable path: value}."""
    checkpointing.restore_weights(model, path)
    return {_variable_name(v): v.numpy() for v in model.weights}


def _variable_name(variable) -> str:
    # Keras 2 names variables "<layer>/<weight>:0"; the ":0" carries no information.
    return variable.name.rsplit(":", 1)[0]


def conv1_filters(
    workdir: str,
    *,
    layer: str | None = None,
    start: str = checkpointing.INIT,
    end: str = checkpointing.LATEST,
) -> dict[str, np.ndarray]:
    """A conv layer's kernels at two checkpoints of a run.

    Args:
      workdir: a training workdir.
      layer: a Conv2D layer name; default `first_conv_layer(model)`.
      start, end: checkpoints ("init", "latest" or a step).

    Returns:
      {"init": (kh, kw, in, out) float32, "final": same shape, "layer": name,
       "init_step": int, "final_step": int, "init_checkpoint": path, "final_checkpoint": path}.

    Raises:
      ValueError: `layer` is not a Conv2D layer of the model (the message lists those).
    """
    model = _restored_model(workdir)
    convs = [lay.name for lay in model.layers if isinstance(lay, tf.keras.layers.Conv2D)]
    layer = layer or first_conv_layer(model)
    if layer not in convs:
        raise ValueError(f"{layer!r} is not a Conv2D layer of {model.name}; valid: {convs}")
    out = {"layer": layer}
    for key, which in (("init", start), ("final", end)):
        path = checkpointing.checkpoint_path(workdir, which)
        checkpointing.restore_weights(model, path)
        out[key] = model.get_layer(layer).kernel.numpy()
        out[f"{key}_checkpoint"] = path
        out[f"{key}_step"] = checkpoint_step(path)
    return out


def save_filters(
    out_dir: str, runs: Sequence[str], *, layer: str | None = None, end: str = "latest"
) -> list[str]:
    """Writes `fig5_<run>.npz` per run (see `conv1_filters` for the arrays).

    Returns:
      The paths written.
    """
    runs = _unique_runs(runs)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for workdir in runs:
        filters = conv1_filters(workdir, layer=layer, end=end)
        path = os.path.join(out_dir, f"fig5_{run_name(workdir)}.npz")
        np.savez(path, run=run_name(workdir), workdir=os.path.abspath(workdir), **filters)
        paths.append(path)
    return paths


def weight_movement(
    workdir: str, *, start: str = checkpointing.INIT, end: str = checkpointing.LATEST
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Relative Frobenius change of every variable between two checkpoints of a run.

    relative_change = ||W_end - W_start||_F / ||W_start||_F, NaN where ||W_start|| = 0
    (e.g. a batch-norm beta or a bias initialised to zeros). Every variable is listed,
    BN moving statistics too (trainable False), since they also move during training.

    Returns:
      (per variable: columns `MOVEMENT_COLUMNS`, `run` being the workdir's last component,
       `kernel` marking conv/dense kernels; per endpoint: columns
       `ENDPOINT_MOVEMENT_COLUMNS`, the same ratio over the concatenation of the endpoint's
       kernels, i.e. sqrt(sum change^2) / sqrt(sum init^2), endpoints bottom to top).
       Batch-norm scales start at 1 and barely move, so the per-endpoint ratio leaves them
       out rather than let them dilute the kernels' movement.
    """
    model = _restored_model(workdir)
    owner = layer_endpoints(model)
    first = _snapshot(model, checkpointing.checkpoint_path(workdir, start))
    last = _snapshot(model, checkpointing.checkpoint_path(workdir, end))
    run = run_name(workdir)
    rows = []
    for layer in model.layers:
        for variable in layer.weights:
            name = _variable_name(variable)
            w0, w1 = first[name].astype(np.float64), last[name].astype(np.float64)
            init_norm, change = np.linalg.norm(w0), np.linalg.norm(w1 - w0)
            rows.append(
                {
                    "run": run,
                    "endpoint": owner.get(layer.name, NO_ENDPOINT),
                    "layer": layer.name,
                    "weight": name,
                    "shape": "x".join(map(str, w0.shape)),
                    "trainable": any(variable is v for v in layer.trainable_weights),
                    "kernel": getattr(layer, "kernel", None) is variable,
                    "init_norm": init_norm,
                    "final_norm": np.linalg.norm(w1),
                    "change_norm": change,
                    "relative_change": change / init_norm if init_norm > 0 else np.nan,
                }
            )
    per_weight = pd.DataFrame(rows, columns=list(MOVEMENT_COLUMNS))
    order = [*models.endpoint_names(model), NO_ENDPOINT]
    per_endpoint = []
    kernels = per_weight[per_weight["kernel"]]
    for endpoint in order:
        group = kernels[kernels["endpoint"] == endpoint]
        if not len(group):
            continue
        init_norm = float(np.sqrt(np.sum(np.square(group["init_norm"]))))
        change = float(np.sqrt(np.sum(np.square(group["change_norm"]))))
        per_endpoint.append(
            {
                "run": run,
                "endpoint": endpoint,
                "weights": len(group),
                "init_norm": init_norm,
                "change_norm": change,
                "relative_change": change / init_norm if init_norm > 0 else np.nan,
            }
        )
    return per_weight, pd.DataFrame(per_endpoint, columns=list(ENDPOINT_MOVEMENT_COLUMNS))


def save_weight_movement(
    out_dir: str, runs: Sequence[str], *, end: str = checkpointing.LATEST
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Writes `weight_movement.csv` and `weight_movement_endpoints.csv` for several runs.

    Returns:
      The two tables written (all runs concatenated, in the order given).
    """
    runs = _unique_runs(runs)
    tables = [weight_movement(w, end=end) for w in runs]
    os.makedirs(out_dir, exist_ok=True)
    per_weight = pd.concat([t[0] for t in tables], ignore_index=True)
    per_endpoint = pd.concat([t[1] for t in tables], ignore_index=True)
    per_weight.to_csv(os.path.join(out_dir, "weight_movement.csv"), index=False)
    per_endpoint.to_csv(os.path.join(out_dir, "weight_movement_endpoints.csv"), index=False)
    return per_weight, per_endpoint


def _unique_runs(runs: Sequence[str]) -> list[str]:
    names = [run_name(w) for w in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"runs {duplicates} appear more than once by name; outputs name runs by their "
            "workdir's last component"
        )
    return list(runs)
