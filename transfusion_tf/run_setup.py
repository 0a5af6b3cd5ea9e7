"""One launch of a run: what it holds (`Run`) and how `set_up` builds it.

`set_up` checks the config against the workdir, resolves the init plan, sets precision and
seeds, builds the model (frozen where `train.trainable_scopes` says, with its weight
average), loads the data, compiles and makes the checkpoints; the trainer
(`trainer.train_and_evaluate`) then initialises or resumes, fits and finishes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
import time

import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from transfusion_tf import (
    callbacks,
    checkpointing,
    config_checks,
    distribution,
    experiment,
    finetuning,
    initialization,
    model_selection,
    precision,
    provenance,
    schedule,
    timing,
    weight_average,
)


@dataclasses.dataclass
class Run:
    """Everything one launch of a run holds, built by `set_up`."""

    config: ml_collections.ConfigDict
    workdir: str
    chief: bool
    write_dir: str  # Non-chief workers write to a private directory (TF's convention).
    timer: timing.PhaseTimer
    plan: initialization.InitPlan
    data: object  # A loaded dataset (pipelines): `.splits`, `.summary()`, `.bad_images`.
    model: tf.keras.Model
    lr: schedule.Schedule
    ckpts: checkpointing.RunCheckpoints
    eval_log: callbacks.EvalLog
    training: dict  # init_report.json's `training`: what trains, loss options, averages.
    average: weight_average.WeightAverage | None  # With train.ema_decay > 0.
    start: float = dataclasses.field(default_factory=time.perf_counter)
    offset: float = 0.0  # Training seconds of earlier launches.
    logger: callbacks.TrainLogger | None = None
    selection: model_selection.Selection = dataclasses.field(
        default_factory=model_selection.Selection
    )

    @property
    def scores_average(self) -> bool:
        return weight_average.scores_average(self.config)

    def scored_weights(self):
        """A context in which the model holds the weights evaluations score."""
        return self.average.applied() if self.scores_average else contextlib.nullcontext()

    @property
    def train_split(self):
        return self.data.splits[self.config.data.train_split]

    @property
    def eval_split(self):
        return self.data.splits[self.config.data.eval_split]

    @property
    def step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def elapsed(self) -> float:
        return self.offset + time.perf_counter() - self.start


def set_up(config, workdir: str, *, chief: bool, timer: timing.PhaseTimer) -> Run:
    """Checks, the init plan, precision and seeds, the model, the data, compiling,
    checkpoints. The model is built before the data is read, so scopes it does not have
    fail fast."""
    with timer.phase("checks"):
        plan = initialization.resolve(config, workdir=workdir)  # Fails fast, before data.
        if chief:
            config_checks.check_same_config(config, workdir)
            experiment.save_config(config, workdir)
        policy = precision.apply_precision(config.precision)
        tf.keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        strategy = distribution.make_strategy()
        if chief:
            provenance.record_launch(
                workdir,
                precision=policy,
                strategy=distribution.strategy_name(strategy),
                replicas=strategy.num_replicas_in_sync,
            )
    with timer.phase("model"):
        model, average, training = finetuning.build_model(config, plan, strategy)
        logging.info("%s", finetuning.describe(training))
    with timer.phase("data"):
        data = load_data(config, workdir, chief)
    with timer.phase("model"):
        lr, training["loss"] = finetuning.compile_model(model, config, data, strategy)
        if training["loss"]["class_weights"]:
            logging.info("class weights: %s", training["loss"]["class_weights"])
        if chief:
            need = _space_needed(model, average, config.train)
            provenance.check_writable(workdir, need_bytes=need)
    write_dir = workdir if chief else private_dir(workdir)
    ckpts = checkpointing.RunCheckpoints(
        write_dir,
        model,
        model.optimizer,
        max_to_keep=config.train.keep_checkpoints,
        restore_from=workdir,
        averages=average.averages if average else None,
    )
    return Run(config, workdir, chief, write_dir, timer, plan, data, model, lr, ckpts,
               callbacks.EvalLog(workdir), training, average)  # fmt: skip


def load_data(config, workdir: str, chief: bool):
    """The run's dataset (`experiment.load_data`), its skipped images logged one by one
    and its summary written to data_summary.json (by the chief)."""
    data = experiment.load_data(config)
    for bad in data.bad_images:
        logging.warning("skipped bad image %s", bad.describe())
    if data.bad_images:
        logging.warning("skipped %d bad images in all", len(data.bad_images))
    summary = data.summary()
    logging.info("data: %s", json.dumps(summary["splits"]))
    if chief:
        provenance.write_json(os.path.join(workdir, "data_summary.json"), summary)
    return data


def private_dir(workdir: str) -> str:
    """Where a non-chief worker writes: checkpoints and summaries that nobody reads."""
    name = f"transfusion-{distribution.task_id()}-{os.path.basename(os.path.abspath(workdir))}"
    return os.path.join(tempfile.gettempdir(), name)


def steps_per_loop(train: ml_collections.ConfigDict) -> int:
    """Steps per Keras epoch (`config_checks` made sure it divides total_steps)."""
    return math.gcd(train.checkpoint_every, train.eval_every)


def _space_needed(model: tf.keras.Model, average, train: ml_collections.ConfigDict) -> int:
    """Bytes a run's checkpoints take at most: `keep_checkpoints` plus the one being
    written, the initial weights and the best ones (`keep_best`), each the model,
    optimizer and averaged variables, plus 16 MB for logs and TensorBoard events."""
    slots = model.optimizer.variables
    slots = slots() if callable(slots) else slots
    averages = list(average.averages.values()) if average else []
    variables = [*model.variables, *slots, *averages]
    each = sum(v.dtype.size * int(np.prod(v.shape)) for v in variables)
    copies = train.keep_checkpoints + 2 + int(train.get("keep_best", False))
    return each * copies + (16 << 20)
