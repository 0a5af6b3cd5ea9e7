"""What the trainer and the evaluator build the same way from a config: data, model, inputs."""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np
import pandas as pd
import tensorflow as tf

from pipelines import augment as augment_lib
from pipelines import datasets, input_pipeline
from transfusion_tf import models, tasks


def load_data(config: ml_collections.ConfigDict) -> datasets.LoadedDataset:
    """Reads, splits and checks the configured dataset."""
    if not config.data.root:
        raise ValueError("config.data.root is empty: set --config.data.root=<dataset root>")
    return datasets.load_dataset(
        config.data.name,
        config.data.root,
        split_fractions=dict(config.data.split_fractions),
        split_seed=config.data.split_seed,
        image_scan=config.data.image_scan,
        on_bad_image=config.data.on_bad_image,
        subset_sizes={config.data.train_split: config.data.get("train_subset", 0)},
        subset_seed=config.data.get("subset_seed", 0),
        **dict(config.data.options),
    )


def build_model(config: ml_collections.ConfigDict) -> tf.keras.Model:
    """The configured model with the task's head, under the current precision policy."""
    task = tasks.get_task(config.task)
    return models.get_model(
        config.model.name,
        num_classes=task.num_outputs,
        input_shape=(config.data.image_size, config.data.image_size, config.data.channels),
        **dict(config.model.options),
    )


def preprocessing_name(config: ml_collections.ConfigDict) -> str:
    return config.model.preprocessing


def augment_config(config: ml_collections.ConfigDict) -> augment_lib.AugmentConfig:
    return augment_lib.AugmentConfig(**dict(config.augment))


def train_input(
    config: ml_collections.ConfigDict, rows: pd.DataFrame, *, start_example: int
) -> tf.data.Dataset:
    return input_pipeline.train_dataset(
        rows,
        image_size=config.data.image_size,
        channels=config.data.channels,
        preprocessing=preprocessing_name(config),
        batch_size=config.train.batch_size,
        seed=config.seed,
        start_example=start_example,
        cache=config.data.cache,
        augment=augment_config(config),
        resize_mode=config.data.resize_mode,
    )


def eval_input(
    config: ml_collections.ConfigDict, rows: pd.DataFrame, *, cache: str = "none"
) -> tf.data.Dataset:
    return input_pipeline.eval_dataset(
        rows,
        image_size=config.data.image_size,
        channels=config.data.channels,
        preprocessing=preprocessing_name(config),
        batch_size=config.eval.batch_size,
        cache=cache,
        resize_mode=config.data.resize_mode,
    )


def evaluate_rows(
    model: tf.keras.Model,
    config: ml_collections.ConfigDict,
    rows: pd.DataFrame,
    *,
    bootstrap_samples: int,
    dataset: tf.data.Dataset | None = None,
    local: bool = False,
) -> tuple[dict[str, float], np.ndarray]:
    """Predicts a split and scores it with the task.

    With `config.eval.aggregate` = `mean` or `max`, the views of each study (rows sharing
    `study`) are combined into one prediction before scoring; the metrics then count
    studies, and `examples` is the number of studies.

    Args:
      local: predict the whole split in this process without collectives. Multi-worker
        runs need it: `Model.predict` under MultiWorkerMirroredStrategy shards the split
        across workers, while every worker here scores the whole split (the chief writes).

    Returns:
      (metrics, logits (n, num_outputs) float32 per row, not aggregated).
    """
    task = tasks.get_task(config.task)
    dataset = dataset if dataset is not None else eval_input(config, rows)
    if local:
        forward = tf.function(lambda images: model(images, training=False))
        logits = np.concatenate([forward(images).numpy() for images, _ in dataset])
    else:
        logits = model.predict(dataset, verbose=0)
    logits = logits.astype(np.float32)
    labels = input_pipeline.targets(rows)
    groups = rows["patient"].to_numpy()
    aggregate = config.eval.get("aggregate", "none")
    scored_logits = logits
    if aggregate != "none":
        if "study" not in rows or not hasattr(task, "aggregate"):
            raise ValueError(
                f"eval.aggregate={aggregate!r} needs a dataset with studies and a task that "
                f"can combine views (chexpert5); task {config.task!r}, columns {list(rows)}"
            )
        labels, scored_logits, first = task.aggregate(
            labels, logits, rows["study"].to_numpy(), aggregate
        )
        groups = groups[first]
    scores = task.evaluate(
        labels,
        scored_logits,
        groups,
        bootstrap_samples=bootstrap_samples,
        seed=config.eval.bootstrap_seed,
    )
    return scores, logits


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json(indent=2))
        f.write("\n")


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a run was trained with (its `config.json`)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: is {workdir} a training workdir?")
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))
