"""Checks of a run config that need no data and no model: run before either is touched.

A zero interval, an unknown name or a split the dataset does not have would otherwise
surface after minutes of data loading, or (a zero checkpoint interval) after training.
`check_config` reports every such field at once, each with its valid values.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence

import ml_collections

from errors import UsageError
from pipelines import datasets, decoding
from pipelines.readers import image_files
from transfusion_tf import models, precision, provenance, schedule, scopes, tasks
from transfusion_tf.configs import base

_POSITIVE = (
    "train.batch_size",
    "train.total_steps",
    "train.checkpoint_every",
    "train.eval_every",
    "train.log_every",
    "train.keep_checkpoints",
    "eval.batch_size",
    "data.image_size",
)
_NON_NEGATIVE = ("eval.bootstrap_samples", "eval.log_bootstrap_samples", "data.train_subset")


def check_config(config: ml_collections.ConfigDict) -> None:
    """Checks the trainer's config fields that need no data (`initialization.validate`
    checks `init.*`).

    Raises:
      UsageError: naming every bad field, its value and what it must be.
      pipelines.errors.DataError: a `tfrecords` root without a readable manifest (its
        split names live there).
    """
    problems = [*_number_problems(config), *_name_problems(config), *_finetune_problems(config)]
    if not problems:
        problems = _split_problems(config)
    if problems:
        raise UsageError(f"bad config: {'; '.join(problems)}")


def check_split(config: ml_collections.ConfigDict, split: str) -> None:
    """Raises UsageError unless the configured dataset has a split called `split`."""
    names = _split_names(config)
    if split not in names:
        raise UsageError(f"unknown split {split!r}; this dataset has {sorted(names)}")


def _get(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for key in dotted.split("."):
        node = node.get(key, 0) if isinstance(node, ml_collections.ConfigDict) else 0
    return node


def _number_problems(config: ml_collections.ConfigDict) -> list[str]:
    problems = [f"{f}={_get(config, f)} must be >= 1" for f in _POSITIVE if _get(config, f) < 1]
    problems += [
        f"{f}={_get(config, f)} must be >= 0" for f in _NON_NEGATIVE if _get(config, f) < 0
    ]
    train = config.train
    if train.checkpoint_every >= 1 and train.eval_every >= 1 and train.total_steps >= 1:
        loop = math.gcd(train.checkpoint_every, train.eval_every)
        if train.total_steps % loop:
            problems.append(
                f"train.total_steps={train.total_steps} must be a positive multiple of "
                f"gcd(train.checkpoint_every, train.eval_every)={loop}"
            )
    if config.data.channels not in (1, 3):
        problems.append(f"data.channels={config.data.channels} must be 1 or 3")
    if not config.data.root:
        problems.append("data.root is empty: set --config.data.root=<dataset root>")
    return problems


def _name_problems(config: ml_collections.ConfigDict) -> list[str]:
    choices = {  # field: (what it names, the valid names)
        "precision": ("precision", precision.PRECISIONS),
        "data.name": ("dataset", datasets.list_datasets()),
        "data.resize_mode": ("resize mode", decoding.RESIZE_MODES),
        "data.image_scan": ("image scan", image_files.SCAN_MODES),
        "data.on_bad_image": ("bad-image policy", image_files.BAD_IMAGE_POLICIES),
        "model.name": ("model", models.list_models()),
        "optimizer.name": ("optimizer", schedule.OPTIMIZERS),
        "schedule.name": ("schedule", schedule.SCHEDULES),
        "eval.aggregate": ("aggregation", tasks.AGGREGATIONS),
    }
    problems = [
        f"{field}: unknown {what} {_get(config, field)!r}; valid: {', '.join(valid)}"
        for field, (what, valid) in choices.items()
        if _get(config, field) not in valid
    ]
    try:
        tasks.get_task(config.task, **dict(config.get("task_options", {})))
    except ValueError as e:
        problems.append(f"task: {e}")
    return problems


def _finetune_problems(config: ml_collections.ConfigDict) -> list[str]:
    """The fine-tuning fields (`configs/base.py`); scope names are matched against the
    model once it is built, still before any data is read."""
    train = config.train
    problems = [
        f"train.{name}={train.get(name, 0.0)!r} must be a number in [0, 1)"
        for name in ("label_smoothing", "ema_decay")
        if not (_number(train.get(name, 0.0)) and 0 <= train.get(name, 0.0) < 1)
    ]
    delta = train.get("early_stopping_min_delta", 0.0)
    if not (_number(delta) and delta >= 0):
        problems.append(f"train.early_stopping_min_delta={delta!r} must be a number >= 0")
    patience = train.get("early_stopping", 0)
    if not (isinstance(patience, int) and not isinstance(patience, bool) and patience >= 0):
        problems.append(f"train.early_stopping={patience!r} must be an integer >= 0 (0: off)")
    for section, name, default in (("train", "keep_best", False), ("eval", "use_ema", True)):
        if not isinstance(config[section].get(name, default), bool):
            problems.append(f"{section}.{name}={config[section][name]!r} must be True or False")
    for section, name in (("train", "trainable_scopes"), ("init", "exclude_scopes")):
        try:
            scopes.scope_names(config[section].get(name, ""))
        except ValueError as e:
            problems.append(f"{section}.{name}: {e}")
    return problems + _class_weight_problems(config)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _class_weight_problems(config: ml_collections.ConfigDict) -> list[str]:
    value = config.train.get("class_weights", "")
    if isinstance(value, str) and value == "":
        return []
    try:
        task = tasks.get_task(config.task, **dict(config.get("task_options", {})))
    except ValueError:
        return []  # Reported with the task.
    if isinstance(task, tasks.MultiLabelTask):
        return [
            f"train.class_weights={value!r}: class weights apply to single-label tasks "
            f"(dr_grade, classification), not {config.task}"
        ]
    if isinstance(value, str) and value == "balanced":
        return []
    k = task.num_outputs
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or len(value) != k
        or not all(_number(w) and w > 0 for w in value)
    ):
        return [f"train.class_weights={value!r}: expected '', 'balanced' or {k} positive weights"]
    return []


def _split_names(config: ml_collections.ConfigDict) -> list[str]:
    return datasets.split_names(
        config.data.name, config.data.root, split_fractions=dict(config.data.split_fractions)
    )


def _split_problems(config: ml_collections.ConfigDict) -> list[str]:
    fractions = dict(config.data.split_fractions)
    if config.data.name not in ("imagenet", "tfrecords") and (
        any(v < 0 for v in fractions.values()) or not math.isclose(sum(fractions.values()), 1.0)
    ):
        return [f"data.split_fractions={fractions} must be >= 0 and sum to 1"]
    names = _split_names(config)
    fields = {
        "data.train_split": [config.data.train_split],
        "data.eval_split": [config.data.eval_split],
        "eval.final_splits": list(config.eval.get("final_splits", ())),
    }
    return [
        f"{field}={split!r} is not a split of this dataset; it has {sorted(names)}"
        for field, splits in fields.items()
        for split in splits
        if split not in names
    ]


def check_same_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """A workdir holds one experiment: resuming with a different config is refused.

    A field the run's config.json lacks (added to `configs/base.py` after the run started)
    is unchanged while the new config leaves it at its default.

    Raises:
      UsageError: naming the fields that differ.
      provenance.DamagedFile: a config.json that does not parse.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    remedy = "it records the run's config: restore it from a copy, or use a new --workdir"
    old = flatten(provenance.read_json(path, remedy=remedy))
    new = flatten(json.loads(config.to_json()))
    defaults = flatten(json.loads(base.base_config().to_json()))
    changed = sorted(
        k for k in old.keys() | new.keys() if old.get(k, defaults.get(k)) != new.get(k)
    )
    if changed:
        raise UsageError(
            f"{workdir} holds a run with a different config (fields {changed}); resume with "
            "the same config or use a new --workdir"
        )


def flatten(tree: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
