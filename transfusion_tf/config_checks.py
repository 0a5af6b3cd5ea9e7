"""Checks of a run config that need no data and no model: run before either is touched.

A zero interval, an unknown name or a split the dataset does not have would otherwise
surface after minutes of data loading, or (a zero checkpoint interval) after training.
`check_config` reports every such field at once, each with its valid values.
"""

from __future__ import annotations

import math

import ml_collections

from errors import UsageError
from pipelines import datasets, decoding
from pipelines.readers import image_files
from transfusion_tf import models, precision, schedule, tasks

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
    problems = [*_number_problems(config), *_name_problems(config)]
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
