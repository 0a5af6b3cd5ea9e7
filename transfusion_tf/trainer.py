"""`train_and_evaluate(config, workdir)`: the training loop of every experiment.

Rerunning the same command in the same workdir resumes from the last checkpoint with the
weights, optimizer slots, step and data position of the interrupted run: the input stream
is a pure function of (seed, step), and one Keras epoch is one checkpoint interval.

The recipe: `run_setup.set_up` (checks, model, data, checkpoints), `_init_or_resume`, `_fit`,
`_finish` (the held-out splits scored with the trained model in this process, then the
summary). `train_summary.json` records where the wall time went (`timing.PHASES`).
"""

from __future__ import annotations

import os
import shutil
import time

import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from errors import ExpectedError
from transfusion_tf import (
    callbacks,
    config_checks,
    distribution,
    evaluation,
    experiment,
    initialization,
    model_selection,
    provenance,
    run_logs,
    run_setup,
    surgery,
    tensorboard_summaries,
    timing,
    weight_average,
)
from transfusion_tf.run_setup import Run


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains `config` in `workdir` (resuming if it holds checkpoints) and evaluates it.

    Writes into `workdir`: config.json, provenance.json (one entry per launch),
    data_summary.json, init_report.json (how the weights started, variable by variable,
    and what trains: `training`), train.log, eval_log.csv, checkpoints/ (init/ckpt-0,
    ckpt-<step>, best/ with `train.keep_best`), tensorboard/{train,eval}/, metrics.json
    and predictions_<split>.csv for each of `eval.final_splits`, and last
    train_summary.json (a finished run has it; `early_stopping` says where a run stopped
    before `train.total_steps`).

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
    handler = run_logs.log_to_file(workdir) if chief else None
    try:
        with evaluation.naming_undecodable_images(config):
            run = run_setup.set_up(config, workdir, chief=chief, timer=timer)
            _init_or_resume(run)
            _fit(run)
            result = _finish(run)
        distribution.leave_together("transfusion_tf.train finished")
        return result
    except ExpectedError as error:
        logging.error("stopped: %s", error)  # Into train.log too, beside what led to it.
        raise
    finally:
        if not chief:
            shutil.rmtree(run_setup.private_dir(workdir), ignore_errors=True)
        if handler is not None:
            run_logs.stop_logging_to_file(handler)
        if lock is not None:
            lock.release()


def _init_or_resume(run: Run) -> None:
    """Restores the newest intact checkpoint, or applies `config.init` and saves step 0."""
    with run.timer.phase("init"):
        restored = run.ckpts.restore_latest()
        step = run.step
        if run.chief:  # Rows past the restored step (all, when restarting) are redone.
            run.eval_log.truncate_after(step if restored else None)
            run.ckpts.drop_best_after(step if restored else -1)
        run.selection = _replay_evaluations(run, step if restored else -1)
        if restored:
            logging.info("resumed from %s at step %d", restored, step)
        else:
            if run.plan.entry is None and run.plan.kind != "random":
                # init_report.json of a launch killed before its first checkpoint.
                run.plan = initialization.resolve(run.config, read_weights=False)
            report = initialization.initialize(run.model, run.config, run.plan)
            logging.info("%s", surgery.SurgeryReport.summary_of(report["surgery"]))
            if run.average:
                run.average.reset()  # The average starts at the initialised weights.
            if run.chief:
                report["training"] = run.training
                provenance.write_json(os.path.join(run.workdir, "init_report.json"), report)
            run.ckpts.save_init()
        loop = run_setup.steps_per_loop(run.config.train)
        if step % loop:
            raise ValueError(f"checkpoint step {step} is not a multiple of the loop length {loop}")
    run.offset = float(run.ckpts.elapsed_seconds.numpy())
    run.start = time.perf_counter()


def _replay_evaluations(run: Run, step: int) -> model_selection.Selection:
    """The best evaluation and early-stopping state of the rows up to `step` (this
    process's own filter: a non-chief worker reads the log the chief truncates)."""
    rows = run.eval_log.rows()
    key = experiment.get_task(run.config).main_metric
    if len(rows):
        rows = rows[rows["step"] <= step]
    train = run.config.train
    return model_selection.Selection.replay(
        rows["step"] if len(rows) else [],
        rows[key] if len(rows) else [],
        patience=train.get("early_stopping", 0),
        min_delta=train.get("early_stopping_min_delta", 0.0),
    )


def _fit(run: Run) -> None:
    """Trains from the current step to `train.total_steps`, evaluating and saving as set."""
    config, step = run.config, run.step
    writers = run_logs.summary_writers(run.write_dir)
    if step == 0:
        run_logs.write_run_header(writers["train"], config, run.train_split)
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
        stop=lambda at_step: run.selection.stopped_at == at_step,
    )
    if step == 0 and config.train.eval_at_start:
        evaluate(0)
    if run.selection.stopped_at is not None:
        logging.info("stopped early at step %d (train.early_stopping)", run.selection.stopped_at)
    elif step < config.train.total_steps and guard.failed_step is None:
        averaging = [weight_average.UpdateAverage(run.average)] if run.average else []
        _run_fit(run, step, [*averaging, guard, run.logger, periodic])
    for writer in writers.values():
        writer.close()
    if guard.failed_step is not None:
        problem = callbacks.evaluation_problem(
            run.model, config, run.eval_split, eval_ds, run.eval_log
        )
        raise guard.error(run.ckpts.kept, problem)


def _run_fit(run: Run, step: int, fit_callbacks: list) -> None:
    config = run.config
    loop = run_setup.steps_per_loop(config.train)
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


def _periodic_evaluation(run: Run, eval_ds, guard, writer):
    """The evaluation callback: scores the eval split, logs a row, writes its scalars."""
    config = run.config
    details = config.eval.get("tensorboard_details", True) and run.chief
    details = tensorboard_summaries.EvaluationDetails(run.model, config) if details else None
    local = distribution.num_workers() > 1
    predictor = experiment.Predictor(run.model, eval_ds, local=local)

    def evaluate(at_step: int) -> None:
        with run.timer.phase("evaluation"):
            try:
                with run.scored_weights():
                    scores, logits, table = experiment.evaluate_split(
                        run.model,
                        config,
                        run.eval_split,
                        bootstrap_samples=config.eval.log_bootstrap_samples,
                        predictor=predictor,
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
                    if details:  # Curves of the scored logits; histograms of trained weights.
                        details.write(logits=logits, table=table, dataset=eval_ds)
        _select(run, at_step, scores)

    return evaluate


def _select(run: Run, at_step: int, scores: dict) -> None:
    """Records an evaluation for early stopping; keeps its weights if it is the best.

    Every worker of a multi-worker run saves (the chief into the workdir): reading the
    batch-norm statistics for a checkpoint is a collective there.
    """
    key = experiment.get_task(run.config).main_metric
    best = run.selection.record(at_step, float(scores[key]))
    if best and run.config.train.get("keep_best", False):
        with run.timer.phase("checkpoints"):
            record = {"metric": key, "value": float(scores[key]), "ema": run.scores_average}
            path = run.ckpts.save_best(at_step, record)
        logging.info("best %s so far (%.4f): kept as %s", key, scores[key], path)


def _save(run: Run, at_step: int) -> None:
    with run.timer.phase("checkpoints"):
        run.ckpts.elapsed_seconds.assign(run.elapsed())
        run.ckpts.save(at_step)


def _finish(run: Run) -> dict:
    """Scores `eval.final_splits` with the trained model, then writes the summary last.

    In a multi-worker run, as in the periodic evaluations, every worker scores each whole
    split (`Model.predict` would shard it across the workers), in step: reading the
    batch-norm statistics is a collective there. Only the chief's outputs reach the workdir.
    """
    config = run.config
    step = run.step
    for split in config.eval.get("final_splits", ()):
        logging.info("evaluating the %s split with the step-%d weights ...", split, step)
        with run.timer.phase("final_evaluation"), run.scored_weights():
            scores = evaluation.evaluate_trained(
                run.model,
                config,
                run.data,
                split,
                workdir=run.write_dir,
                checkpoint_path=run.ckpts.latest,
                preprocessing=run.plan.preprocessing,
                timer=run.timer,
                ema=run.scores_average,
                local=distribution.num_workers() > 1,
            )
        logging.info("final %s: %s", split, evaluation.format_metrics(scores))
    with run.timer.phase("outputs"):
        speeds = run.logger.images_per_second if run.logger else []
        result = run_logs.summarize(config, run.eval_log.rows(), speeds, step)
        if run.selection.summary():
            result["early_stopping"] = run.selection.summary()
        result["seconds"] = run.timer.to_json()
        if run.chief:  # Written last: its presence means the run is complete.
            provenance.write_json(os.path.join(run.workdir, "train_summary.json"), result)
    return result
