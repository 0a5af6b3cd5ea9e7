"""`train_and_evaluate(config, workdir)`: the training loop of every experiment.

Rerunning the same command in the same workdir resumes from the last checkpoint with the
weights, optimizer slots, step and data position of the interrupted run: the input stream
is a pure function of (seed, step), and one Keras epoch is one checkpoint interval.

The recipe: `_set_up` (checks, data, model, checkpoints), `_init_or_resume`, `_fit`,
`_finish` (the held-out splits scored with the trained model in this process, then the
summary). `train_summary.json` records where the wall time went (`timing.PHASES`).
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import math
import os
import shutil
import tempfile
import time

import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from errors import ExpectedError, UsageError
from transfusion_tf import (
    callbacks,
    checkpointing,
    config_checks,
    distribution,
    evaluation,
    experiment,
    initialization,
    metrics,
    precision,
    provenance,
    schedule,
    surgery,
    tensorboard_summaries,
    timing,
)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains `config` in `workdir` (resuming if it holds checkpoints) and evaluates it.

    Writes into `workdir`: config.json, provenance.json (one entry per launch),
    data_summary.json, init_report.json (how the weights started, variable by variable),
    train.log, eval_log.csv, checkpoints/ (init/ckpt-0 and ckpt-<step>),
    tensorboard/{train,eval}/, metrics.json and predictions_<split>.csv for each of
    `eval.final_splits`, and last train_summary.json (a finished run has it).

    Returns:
      The train summary (final step, last evaluation, steps to each threshold, speed, and
      seconds per phase of this launch).

    Raises:
      errors.UsageError: a malformed config, found before any data is read
        (`config_checks`, `initialization.InitError`), or one that differs from the
        workdir's earlier runs.
      callbacks.NonFiniteLossError: a NaN/Inf loss or variables; the last good checkpoint
        is kept and nothing non-finite is saved.
      pipelines.errors.DataError: bad data, including an image only decoding shows to be
        corrupt (named with its label file and line).
      provenance.WorkdirLocked: another live run holds the workdir.
      provenance.WorkdirNotWritable: a read-only or full workdir, found before training.
      provenance.DamagedFile: a damaged config.json or provenance.json of an earlier run.
      checkpointing.NoIntactCheckpoint: every checkpoint of the run is damaged (a damaged
        newest one is set aside and the run resumes from the newest intact one).
      surgery.SurgeryError, slim_weights.checkpoint.CheckpointReadError: pretrained
        weights that do not fit, or a damaged init.checkpoint.
    """
    timer = timing.PhaseTimer()
    with timer.phase("checks"):
        config_checks.check_config(config)  # Before anything touches the disk.
        chief = distribution.is_chief()
        if chief:
            provenance.check_writable(workdir)
        else:
            os.makedirs(workdir, exist_ok=True)
    lock = provenance.WorkdirLock(workdir) if chief else None
    handler = _log_to_file(workdir) if chief else None
    try:
        with evaluation.naming_undecodable_images(config):
            run = _set_up(config, workdir, chief=chief, timer=timer)
            _init_or_resume(run)
            _fit(run)
            return _finish(run)
    except ExpectedError as error:
        logging.error("stopped: %s", error)  # Into train.log too, beside what led to it.
        raise
    finally:
        if not chief:
            shutil.rmtree(_private_dir(workdir), ignore_errors=True)
        if handler is not None:
            for name in _LOGGERS:
                std_logging.getLogger(name).removeHandler(handler)
            handler.close()
        if lock is not None:
            lock.release()


@dataclasses.dataclass
class _Run:
    """Everything one launch of a run holds, built by `_set_up`."""

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
    start: float = dataclasses.field(default_factory=time.perf_counter)
    offset: float = 0.0  # Training seconds of earlier launches.
    logger: callbacks.TrainLogger | None = None

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


def _set_up(config, workdir: str, *, chief: bool, timer: timing.PhaseTimer) -> _Run:
    """Checks, the init plan, precision and seeds, the data, the compiled model, checkpoints."""
    with timer.phase("checks"):
        plan = initialization.resolve(config, workdir=workdir)  # Fails fast, before data.
        if chief:
            _check_same_config(config, workdir)
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
    with timer.phase("data"):
        data = _load_data(config, workdir, chief)
    with timer.phase("model"):
        model, lr = _compiled_model(config, plan, strategy)
        if chief:
            provenance.check_writable(workdir, need_bytes=_space_needed(model, config.train))
    write_dir = workdir if chief else _private_dir(workdir)
    ckpts = checkpointing.RunCheckpoints(
        write_dir,
        model,
        model.optimizer,
        max_to_keep=config.train.keep_checkpoints,
        restore_from=workdir,
    )
    return _Run(config, workdir, chief, write_dir, timer, plan, data, model, lr, ckpts,
                callbacks.EvalLog(workdir))  # fmt: skip


def _load_data(config, workdir: str, chief: bool):
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


def _compiled_model(config, plan: initialization.InitPlan, strategy):
    task = experiment.get_task(config)
    with strategy.scope():
        model = experiment.build_model(config, plan)
        lr = schedule.make_schedule(
            config.schedule,
            base=config.optimizer.learning_rate,
            total_steps=config.train.total_steps,
        )
        model.compile(
            optimizer=schedule.make_optimizer(config.optimizer, lr),
            loss=task.loss(),
            metrics=task.keras_metrics(),
        )
        model.optimizer.build(model.trainable_variables)
    return model, lr


def _init_or_resume(run: _Run) -> None:
    """Restores the newest intact checkpoint, or applies `config.init` and saves step 0."""
    with run.timer.phase("init"):
        restored = run.ckpts.restore_latest()
        step = run.step
        if run.chief:  # Rows past the restored step (all, when restarting) are redone.
            run.eval_log.truncate_after(step if restored else None)
        if restored:
            logging.info("resumed from %s at step %d", restored, step)
        else:
            if run.plan.entry is None and run.plan.kind != "random":
                # init_report.json of a launch killed before its first checkpoint.
                run.plan = initialization.resolve(run.config, read_weights=False)
            report = initialization.initialize(run.model, run.config, run.plan)
            logging.info("%s", surgery.SurgeryReport.summary_of(report["surgery"]))
            if run.chief:
                provenance.write_json(os.path.join(run.workdir, "init_report.json"), report)
            run.ckpts.save_init()
        loop = _steps_per_loop(run.config.train)
        if step % loop:
            raise ValueError(f"checkpoint step {step} is not a multiple of the loop length {loop}")
    run.offset = float(run.ckpts.elapsed_seconds.numpy())
    run.start = time.perf_counter()


def _fit(run: _Run) -> None:
    """Trains from the current step to `train.total_steps`, evaluating and saving as set."""
    config, step = run.config, run.step
    writers = _summary_writers(run.write_dir)
    if step == 0:
        _write_run_header(writers["train"], config, run.train_split)
    eval_ds = experiment.eval_input(
        config,
        run.eval_split,
        cache=config.data.cache,
        split_name=config.data.eval_split,
        preprocessing=run.plan.preprocessing,
    )
    run.logger = callbacks.TrainLogger(
        writer=writers["train"],
        schedule=run.lr,
        log_every=config.train.log_every,
        total_steps=config.train.total_steps,
        batch_size=config.train.batch_size,
    )
    guard = callbacks.NonFiniteLossGuard()
    guard.set_model(run.model)  # Before fit: an evaluation at step 0 may record a failure.
    evaluate = _periodic_evaluation(run, eval_ds, guard, writers["eval"])
    periodic = callbacks.Periodic(
        guard=guard,
        evaluate=evaluate,
        save=lambda at_step: _save(run, at_step),
        eval_every=config.train.eval_every,
        checkpoint_every=config.train.checkpoint_every,
        total_steps=config.train.total_steps,
    )
    if step == 0 and config.train.eval_at_start:
        evaluate(0)
    if step < config.train.total_steps and guard.failed_step is None:
        _run_fit(run, step, [guard, run.logger, periodic])
    for writer in writers.values():
        writer.close()
    if guard.failed_step is not None:
        problem = _evaluation_problem(run.model, config, run.eval_split, eval_ds, run.eval_log)
        raise guard.error(run.ckpts.kept, problem)


def _run_fit(run: _Run, step: int, fit_callbacks: list) -> None:
    config = run.config
    loop = _steps_per_loop(config.train)
    train_ds = experiment.train_input(
        config,
        run.train_split,
        start_example=step * config.train.batch_size,
        preprocessing=run.plan.preprocessing,
    )
    seconds = run.timer.seconds
    inside = seconds["evaluation"] + seconds["checkpoints"]
    run.model.fit(
        train_ds,
        epochs=config.train.total_steps // loop,
        initial_epoch=step // loop,
        steps_per_epoch=loop,
        callbacks=[*fit_callbacks, timing.FitTimer(run.timer)],
        verbose=0,
    )
    seconds["training"] -= seconds["evaluation"] + seconds["checkpoints"] - inside


def _periodic_evaluation(run: _Run, eval_ds, guard, writer):
    """The evaluation callback: scores the eval split, logs a row, writes its scalars."""
    config = run.config
    details = config.eval.get("tensorboard_details", True) and run.chief
    details = tensorboard_summaries.EvaluationDetails(run.model, config) if details else None

    def evaluate(at_step: int) -> None:
        with run.timer.phase("evaluation"):
            try:
                scores, logits, table = experiment.evaluate_split(
                    run.model,
                    config,
                    run.eval_split,
                    bootstrap_samples=config.eval.log_bootstrap_samples,
                    dataset=eval_ds,
                    local=distribution.num_workers() > 1,
                )
            except experiment.NonFiniteLogits as error:
                guard.fail_evaluation(str(error))  # Stops training; these weights unsaved.
                return
            row = {
                "step": at_step,
                "examples_seen": at_step * config.train.batch_size,
                "seconds": round(run.elapsed(), 3),
                "train_loss": run.logger.last_loss,
                "learning_rate": float(run.lr(max(at_step - 1, 0))),
                **scores,
            }
            shown = {k: v for k, v in scores.items() if k != "examples" and np.isfinite(v)}
            logging.info(
                "eval step %d: %s", at_step, "  ".join(f"{k} {v:.4f}" for k, v in shown.items())
            )
            if run.chief:
                run.eval_log.append(row)
                with writer.as_default(step=at_step):
                    for key, value in shown.items():
                        tf.summary.scalar(key, value)
                    if details:
                        details.write(logits=logits, table=table, dataset=eval_ds)

    return evaluate


def _save(run: _Run, at_step: int) -> None:
    with run.timer.phase("checkpoints"):
        run.ckpts.elapsed_seconds.assign(run.elapsed())
        run.ckpts.save(at_step)


def _finish(run: _Run) -> dict:
    """Scores `eval.final_splits` with the trained model, then writes the summary last."""
    config = run.config
    step = run.step
    if run.chief:
        for split in config.eval.get("final_splits", ()):
            logging.info("evaluating the %s split with the step-%d weights ...", split, step)
            with run.timer.phase("final_evaluation"):
                scores = evaluation.evaluate_trained(
                    run.model,
                    config,
                    run.data,
                    split,
                    workdir=run.workdir,
                    checkpoint_path=run.ckpts.latest,
                    preprocessing=run.plan.preprocessing,
                    timer=run.timer,
                )
            logging.info("final %s: %s", split, evaluation.format_metrics(scores))
    with run.timer.phase("outputs"):
        result = _summarize(config, run.eval_log, run.logger, step)
        result["seconds"] = run.timer.to_json()
        if run.chief:  # Written last: its presence means the run is complete.
            provenance.write_json(os.path.join(run.workdir, "train_summary.json"), result)
    return result


def _evaluation_problem(model, config, split, dataset, eval_log: callbacks.EvalLog):
    """For the NaN stop: checkpoint path -> why its evaluation logits are not finite, or
    None. Steps eval_log.csv has a row for passed (rows are only written for finite
    logits); others are restored into `model` and evaluated now."""
    evaluated = set(eval_log.rows().get("step", ()))

    def problem(path: str) -> str | None:
        if int(path.rsplit("-", 1)[1]) in evaluated:
            return None
        checkpointing.restore_weights(model, path)
        try:
            experiment.evaluate_split(
                model, config, split, bootstrap_samples=0, dataset=dataset, local=True
            )
        except experiment.NonFiniteLogits as error:
            return f"evaluating it gives {error}"
        return None

    return problem


def _private_dir(workdir: str) -> str:
    """Where a non-chief worker writes: checkpoints and summaries that nobody reads."""
    name = f"transfusion-{distribution.task_id()}-{os.path.basename(os.path.abspath(workdir))}"
    return os.path.join(tempfile.gettempdir(), name)


def _steps_per_loop(train: ml_collections.ConfigDict) -> int:
    """Steps per Keras epoch (`config_checks` made sure it divides total_steps)."""
    return math.gcd(train.checkpoint_every, train.eval_every)


def _space_needed(model: tf.keras.Model, train: ml_collections.ConfigDict) -> int:
    """Bytes a run's checkpoints take at most: `keep_checkpoints` plus the one being
    written and the initial weights, each the model and optimizer variables, plus 16 MB
    for logs and TensorBoard events."""
    slots = model.optimizer.variables
    slots = slots() if callable(slots) else slots
    each = sum(v.dtype.size * int(np.prod(v.shape)) for v in [*model.variables, *slots])
    return each * (train.keep_checkpoints + 2) + (16 << 20)


def _check_same_config(config: ml_collections.ConfigDict, workdir: str) -> None:
    """A workdir holds one experiment: resuming with a different config is refused."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return
    remedy = "it records the run's config: restore it from a copy, or use a new --workdir"
    old = _flatten(provenance.read_json(path, remedy=remedy))
    new = _flatten(json.loads(config.to_json()))
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        raise UsageError(
            f"{workdir} holds a run with a different config (fields {changed}); resume with "
            "the same config or use a new --workdir"
        )


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _summary_writers(directory: str) -> dict:
    return {
        name: tf.summary.create_file_writer(os.path.join(directory, "tensorboard", name))
        for name in ("train", "eval")
    }


def _write_run_header(writer, config: ml_collections.ConfigDict, train_split) -> None:
    """TensorBoard: a few training inputs as the model sees them, and the hyperparameters."""
    from tensorboard.plugins.hparams import api as hparams

    images = experiment.preview(config, train_split, count=8)
    flat = {
        k: (v if isinstance(v, bool | int | float | str) else str(v))
        for k, v in _flatten(json.loads(config.to_json())).items()
    }
    with writer.as_default(step=0):
        tf.summary.image("train_inputs", images, max_outputs=8)
        hparams.hparams(flat)


def _summarize(config, eval_log: callbacks.EvalLog, logger, final_step: int) -> dict:
    rows = eval_log.rows()
    key = experiment.get_task(config).main_metric
    result = {"final_step": final_step, "main_metric": key}
    if len(rows):
        result["last_eval"] = {k: _plain(v) for k, v in rows.iloc[-1].items()}
        finite = rows[np.isfinite(rows[key])]  # A split with one class scores NaN.
        result["best"] = (
            {"step": int(finite.loc[finite[key].idxmax(), "step"]), key: finite[key].max()}
            if len(finite)
            else None
        )
        result["steps_to_threshold"] = {
            str(t): metrics.steps_to_threshold(rows["step"], rows[key], t)
            for t in config.eval.thresholds
        }
    if logger is not None and logger.images_per_second:
        result["images_per_second_median"] = float(np.median(logger.images_per_second))
    return result


def _plain(value):
    return value.item() if hasattr(value, "item") else value


# Loggers whose records go into train.log: absl's and the data pipeline's (cache notices).
_LOGGERS = ("absl", "pipelines")


def _log_to_file(workdir: str) -> std_logging.Handler:
    handler = std_logging.FileHandler(os.path.join(workdir, "train.log"))
    handler.setFormatter(std_logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in _LOGGERS:
        std_logging.getLogger(name).addHandler(handler)
    std_logging.getLogger("pipelines").setLevel(std_logging.INFO)
    logging.set_verbosity(logging.INFO)
    return handler
