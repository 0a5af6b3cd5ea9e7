"""What the trainer and the evaluator build the same way from a config: data, model, inputs."""

from __future__ import annotations

import os

import ml_collections
import numpy as np
import pandas as pd
import tensorflow as tf

from errors import ExpectedError
from pipelines import augment as augment_lib
from pipelines import datasets, file_cache
from pipelines.decoding import ImageSettings
from pipelines.split import Dataset, Split, TrainSettings, targets
from transfusion_tf import distribution, initialization, models, provenance, tasks


def load_data(config: ml_collections.ConfigDict) -> Dataset:
    """Reads, splits and checks the configured dataset.

    Raises:
      ValueError: an empty data.root, or labels the task's head cannot take (a record
        dataset whose class count differs from the task's outputs, a label beyond them).
    """
    if not config.data.root:
        raise ValueError("config.data.root is empty: set --config.data.root=<dataset root>")
    data = datasets.load_dataset(
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
    data.check_outputs(get_task(config).num_outputs)
    return data


def get_task(config: ml_collections.ConfigDict):
    """The configured task, built with `config.task_options`."""
    return tasks.get_task(config.task, **dict(config.get("task_options", {})))


def build_model(
    config: ml_collections.ConfigDict, plan: initialization.InitPlan | None = None
) -> tf.keras.Model:
    """The configured model with the task's head, under the current precision policy.

    Its weights are the model's own initialisation; `initialization.initialize` applies
    `config.init` (the trainer does, before the step-0 checkpoint).

    Args:
      plan: the run's init plan, for its builder options (default: from the config).
    """
    options = plan.model_options if plan else initialization.model_options(config)
    return models.get_model(
        config.model.name,
        num_classes=get_task(config).num_outputs,
        input_shape=(config.data.image_size, config.data.image_size, config.data.channels),
        weight_decay=config.model.get("weight_decay"),  # Absent from older runs' config.json.
        **options,
    )


def augment_config(config: ml_collections.ConfigDict) -> augment_lib.AugmentConfig:
    return augment_lib.AugmentConfig(**dict(config.augment))


def cache_setting(cache: str) -> str:
    """`data.cache` for this process: a file prefix gets a per-worker suffix.

    The workers of a multi-worker run each iterate their own streams, so each needs its
    own cache files (several workers can share one host and one file system).
    """
    if file_cache.is_file_cache(cache) and distribution.num_workers() > 1:
        separator = "" if cache.endswith(("/", os.sep)) else "-"
        return f"{cache}{separator}worker{distribution.worker_index()}"
    return cache


def image_settings(config: ml_collections.ConfigDict, preprocessing: str) -> ImageSettings:
    """How the run decodes and scales images (`preprocessing`: its init plan's)."""
    return ImageSettings(
        image_size=config.data.image_size,
        channels=config.data.channels,
        preprocessing=preprocessing,
        resize_mode=config.data.resize_mode,
    )


def train_input(
    config: ml_collections.ConfigDict,
    split: Split,
    *,
    start_example: int,
    preprocessing: str,
) -> tf.data.Dataset:
    """The training stream of a split (`Split.train_stream`).

    A file `data.cache` gives this stream its own cache files, keyed by the split's name,
    the decode settings and the split's images (`pipelines.file_cache`).
    """
    train = TrainSettings(
        batch_size=config.train.batch_size,
        seed=config.seed,
        start_example=start_example,
        augment=augment_config(config),
        cache=cache_setting(config.data.cache),
        shuffle_buffer=config.data.shuffle_buffer,
        workers=max(1, distribution.num_workers()),
        worker_index=distribution.worker_index(),
    )
    return split.train_stream(image_settings(config, preprocessing), train)


def eval_input(
    config: ml_collections.ConfigDict,
    split: Split,
    *,
    cache: str = "none",
    split_name: str | None = None,
    preprocessing: str,
) -> tf.data.Dataset:
    """One ordered, unaugmented pass over a split (`Split.eval_stream`).

    Args:
      cache: `none`, `memory` or a file prefix (usually `data.cache`): a file cache of
        this stream, apart from the training stream's and other splits'.
      split_name: the name a file cache is keyed by (default the split's own).
    """
    return split.eval_stream(
        image_settings(config, preprocessing),
        batch_size=config.eval.batch_size,
        cache=cache_setting(cache),
        cache_name=split_name,
    )


def preview(config: ml_collections.ConfigDict, split: Split, count: int = 8) -> np.ndarray:
    """The first training images as the model sees them before preprocessing, in [0, 1]."""
    return split.preview(
        image_settings(config, "unit"),
        count=count,
        seed=config.seed,
        augment=augment_config(config),
    )


def evaluate_split(
    model: tf.keras.Model,
    config: ml_collections.ConfigDict,
    split: Split,
    *,
    bootstrap_samples: int,
    dataset: tf.data.Dataset | None = None,
    preprocessing: str | None = None,
    local: bool = False,
    predictor: Predictor | None = None,
) -> tuple[dict[str, float], np.ndarray, pd.DataFrame]:
    """Predicts a split and scores it with the task.

    With `config.eval.aggregate` = `mean` or `max`, the views of each study (rows sharing
    `study`) are combined into one prediction before scoring; the metrics then count
    studies, and `examples` is the number of studies.

    Args:
      dataset: the split's eval stream, if built already; else built here.
      preprocessing: the run's preprocessing (its init plan's); needed without `dataset`.
      local: predict the whole split in this process without collectives (`Predictor`).
      predictor: a `Predictor` of `model` over the split's eval stream, for a split scored
        again and again (periodic evaluation); it replaces `dataset` and `local`.

    Raises:
      NonFiniteLogits: a NaN or infinite logit (counted).

    Returns:
      (metrics, logits (n, num_outputs) float32 per example, not aggregated, and a table
      with one row per example for predictions CSVs: `image`, `patient`, `study` where the
      dataset has them (`index` for record datasets without them), then `label`
      (single-label) or the task's target columns (multi-label): from `Split.rows`).
    """
    task = get_task(config)
    if predictor is None:
        if dataset is None:
            if preprocessing is None:
                raise ValueError("evaluate_split needs `dataset` or the run's `preprocessing`")
            dataset = eval_input(config, split, preprocessing=preprocessing)
        predictor = Predictor(model, dataset, local=local)
    logits = predictor().astype(np.float32)
    bad = int((~np.isfinite(logits).all(axis=1)).sum())
    if bad:  # Scores would be NaN or (scikit-learn) an anonymous ValueError.
        raise NonFiniteLogits(
            f"non-finite logits for {bad} of {len(logits)} examples (finite weights that "
            "overflow float32 activations)"
        )
    aggregate = config.eval.get("aggregate", "none")
    rows = split.rows()
    labels = targets(rows)
    groups = rows["patient"].to_numpy() if "patient" in rows else None
    multi_label = hasattr(task, "target_columns")
    columns = [c for c in ("index", "image", "patient", "study") if c in rows]
    table = rows[columns if multi_label else [*columns, "label"]].reset_index(drop=True)
    if multi_label:
        for name, values in task.target_columns(labels).items():
            table[name] = values
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
    return _score(task, config, labels, scored_logits, groups, bootstrap_samples), logits, table


class Predictor:
    """The logits of one pass over an eval stream, as often as asked.

    The forward function and the iterator over the stream (repeated) are built once; each
    call takes one pass's batches from it. `Model.predict` builds a new data handler and
    iterator at every call, which on a small split costs more than the forward passes
    (`benchmarks/bench_run.py` times the evaluations of a demo run). The prediction of
    each example is the same either way: the same layers in inference mode, batch by batch.

    With several replicas in sync and not `local`, calls go to `Model.predict`, which
    spreads the batches over the replicas.

    Args:
      model: the model; its current weights are used at each call.
      dataset: (images, targets) batches of one pass, in a fixed order.
      local: predict the whole split in this process without collectives. Multi-worker
        runs need it: `Model.predict` under MultiWorkerMirroredStrategy shards the split
        across workers, while every worker here scores the whole split (the chief writes).
    """

    def __init__(self, model: tf.keras.Model, dataset: tf.data.Dataset, *, local: bool = False):
        self._model, self._dataset = model, dataset
        replicas = model.distribute_strategy.num_replicas_in_sync
        self._keras = replicas > 1 and not local

        @tf.function(autograph=False)
        def forward(images):
            return model(images, training=False)

        self._forward = forward
        self._batches = int(dataset.cardinality())  # Negative: unknown until one pass.
        self._iterator = None

    def __call__(self) -> np.ndarray:
        """(examples, outputs) logits in the stream's order."""
        if self._keras:
            return self._model.predict(self._dataset, verbose=0)
        if self._batches < 0:  # Counted on the first pass; later passes repeat it.
            logits = [self._forward(images).numpy() for images, _ in self._dataset]
            self._batches = len(logits)
            return np.concatenate(logits)
        if self._iterator is None:
            self._iterator = iter(self._dataset.repeat())
        batches = (next(self._iterator)[0] for _ in range(self._batches))
        return np.concatenate([self._forward(images).numpy() for images in batches])


def _score(task, config, labels, logits, groups, bootstrap_samples: int) -> dict[str, float]:
    return task.evaluate(
        labels,
        logits,
        groups,
        bootstrap_samples=bootstrap_samples,
        seed=config.eval.bootstrap_seed,
    )


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json(indent=2))
        f.write("\n")


class NonFiniteLogits(ExpectedError, ValueError):
    """A model whose predictions on a split are NaN or infinite."""


class NotARun(ExpectedError, FileNotFoundError):
    """A directory that holds no training run (no config.json)."""


def load_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a run was trained with (its `config.json`).

    Raises:
      NotARun: no config.json in `workdir`.
      provenance.DamagedFile: a config.json that does not parse.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        raise NotARun(f"{path} not found: is {workdir} a training workdir?")
    remedy = "it records the run's config: restore it from a copy"
    return ml_collections.ConfigDict(provenance.read_json(path, remedy=remedy))
