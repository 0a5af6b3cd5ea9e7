"""Fine-tuning as TF-Slim's `train_image_classifier.py` does it: which layers train
(`train.trainable_scopes`, named as `transfusion_tf.scopes` says), the loss's label
smoothing and class weights (`train.label_smoothing`, `train.class_weights`), and the
model a run trains, built with them and its weight average (`train.ema_decay`).

Freezing. A frozen layer gets `layer.trainable = False`: the optimizer never sees its
variables, and a frozen batch-norm layer runs in inference mode (it normalises with its
moving statistics and never updates them; Keras' rule, where TF-Slim would keep updating
them). A layer is frozen whole or not at all: a scope that splits one is an error.
(`init.exclude_scopes`, the pretrained weights not copied, is applied by
`initialization.initialize`.)
"""

from __future__ import annotations

from collections.abc import Sequence

import ml_collections
import numpy as np
import tensorflow as tf

from errors import UsageError
from transfusion_tf import experiment, initialization, schedule, weight_average
from transfusion_tf.models import variable_endpoints
from transfusion_tf.scopes import ScopeError, scope_names, select

CLASS_WEIGHT_MODES = ("", "balanced")


def freeze(model: tf.keras.Model, trainable_scopes: Sequence[str]) -> dict:
    """Freezes every layer outside `trainable_scopes` (none when it is empty).

    Call before compiling the model and building its optimizer.

    Returns:
      The report (JSON-ready): `trainable_scopes`; `trained` and `frozen`, each with the
      count of `variables` and `parameters` among the model's trainable weights and the
      `endpoints` whose weights all train (are all frozen); `partly_trained_endpoints`;
      `batch_norm_in_inference_mode`, the frozen batch-norm layers (their moving statistics
      stay as initialised).

    Raises:
      ScopeError: an unknown scope, or one that selects part of a layer's weights.
    """
    scopes = tuple(trainable_scopes)
    weights = list(model.trainable_variables)
    if scopes:
        selected = select(model, scopes, "train.trainable_scopes")
        chosen = {name for names in selected.values() for name in names}
        for layer in model.layers:
            inside = [v.name in chosen for v in layer.trainable_weights]
            if any(inside) and not all(inside):
                raise ScopeError(
                    f"train.trainable_scopes {list(scopes)} select part of layer {layer.name} "
                    "(a layer trains whole or not at all); name its scope or endpoint"
                )
            if inside and not any(inside):
                layer.trainable = False
    return _report(model, scopes, weights)


def _report(model: tf.keras.Model, scopes: tuple[str, ...], weights: list) -> dict:
    trained = {id(v) for v in model.trainable_variables}
    endpoint_of = variable_endpoints(model)
    kinds: dict[str, set[bool]] = {}
    for var in weights:
        kinds.setdefault(endpoint_of[var.name], set()).add(id(var) in trained)

    def count(train: bool) -> dict:
        chosen = [v for v in weights if (id(v) in trained) == train]
        return {
            "variables": len(chosen),
            "parameters": int(sum(np.prod(v.shape) for v in chosen)),
            "endpoints": [e for e, k in kinds.items() if k == {train}],
        }

    return {
        "trainable_scopes": list(scopes),
        "trained": count(True),
        "frozen": count(False),
        "partly_trained_endpoints": [e for e, k in kinds.items() if len(k) == 2],
        "batch_norm_in_inference_mode": [
            layer.name
            for layer in model.layers
            if not layer.trainable and isinstance(layer, tf.keras.layers.BatchNormalization)
        ],
    }


def describe(report: dict) -> str:
    """One log line from a `freeze` report."""
    trained, frozen = report["trained"], report["frozen"]
    if not report["trainable_scopes"]:
        return f"training every variable ({trained['parameters']:,} parameters)"
    return (
        f"training {trained['variables']} variables ({trained['parameters']:,} parameters) "
        f"of train.trainable_scopes {report['trainable_scopes']}: endpoints "
        f"{trained['endpoints'] + report['partly_trained_endpoints']}; frozen "
        f"{frozen['variables']} ({frozen['parameters']:,} parameters): endpoints "
        f"{frozen['endpoints']}, batch norm in inference mode: "
        f"{report['batch_norm_in_inference_mode']}"
    )


def class_weights(value, labels: np.ndarray, num_classes: int) -> list[float] | None:
    """`train.class_weights` as one weight per class, or None.

    Args:
      value: `''` (None: every class weighs 1), `'balanced'` (n / (K * n_c), scikit-learn's
        'balanced', from `labels`) or K explicit weights.
      labels: (n,) int training labels in [0, K).
      num_classes: K.

    Raises:
      UsageError: `balanced` with a class that has no training example, or explicit
        weights that are not K positive numbers.
    """
    if isinstance(value, str):
        if value == "":
            return None
        if value != "balanced":
            raise UsageError(f"train.class_weights={value!r}: expected '', 'balanced' or weights")
        counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes)
        if (counts == 0).any():
            raise UsageError(
                f"train.class_weights='balanced': classes {np.flatnonzero(counts == 0).tolist()} "
                "have no training example, so their weight n / (K * 0) is undefined; give "
                "explicit weights"
            )
        return (len(labels) / (num_classes * counts)).tolist()
    weights = [float(w) for w in value]
    if len(weights) != num_classes or not all(np.isfinite(w) and w > 0 for w in weights):
        raise UsageError(
            f"train.class_weights={tuple(value)}: expected {num_classes} positive weights"
        )
    return weights


def loss_options(train: ml_collections.ConfigDict, num_classes: int, labels) -> dict:
    """`task.loss(**options)`: the label smoothing and class weights of `config.train`.

    Args:
      train: `config.train` (a run's config.json from before these fields lacks them).
      num_classes: the task's outputs.
      labels: a callable returning the training split's (n,) labels, called only for
        `class_weights='balanced'`.
    """
    value = train.get("class_weights", "")
    weights = None
    if not (isinstance(value, str) and value == ""):
        weights = class_weights(value, labels() if value == "balanced" else [], num_classes)
    return {"label_smoothing": float(train.get("label_smoothing", 0.0)), "class_weights": weights}


def build_model(config: ml_collections.ConfigDict, plan: initialization.InitPlan, strategy):
    """The model a run trains: built, its layers outside `train.trainable_scopes` frozen,
    with its weight average (None without `train.ema_decay`).

    Returns:
      (model, average, report): the report is `freeze`'s plus `ema_decay` and
      `averaged_variables` (init_report.json's `training`).

    Raises:
      scopes.ScopeError: `train.trainable_scopes` or `init.exclude_scopes` names that
        select no variable of the model (the trainer builds it before reading data).
    """
    train = config.train
    with strategy.scope():
        model = experiment.build_model(config, plan)
        initialization.excluded_variables(model, config.init)  # Checks the names only.
        report = freeze(model, scope_names(train.get("trainable_scopes", "")))
        decay = train.get("ema_decay", 0.0)
        average = weight_average.WeightAverage(model, decay) if decay else None
    report["ema_decay"] = decay
    report["averaged_variables"] = len(average.averages) if average else 0
    return model, average, report


def compile_model(model: tf.keras.Model, config: ml_collections.ConfigDict, data, strategy):
    """Compiles `model` with the task's loss, smoothed and class-weighted as `config.train`
    says, and builds its optimizer (after `build_model` froze what does not train).

    Args:
      data: the run's loaded dataset (the training labels, for `class_weights='balanced'`).

    Returns:
      (the learning-rate schedule, the loss options: `label_smoothing`, `class_weights`).
    """
    task = experiment.get_task(config)
    options = loss_options(
        config.train, task.num_outputs, data.splits[config.data.train_split].targets
    )
    with strategy.scope():
        lr = schedule.make_schedule(
            config.schedule,
            base=config.optimizer.learning_rate,
            total_steps=config.train.total_steps,
        )
        model.compile(
            optimizer=schedule.make_optimizer(config.optimizer, lr),
            loss=task.loss(**options),
            metrics=task.keras_metrics(),
        )
        model.optimizer.build(model.trainable_variables)
    return lr, options
