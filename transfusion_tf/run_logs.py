"""What a run logs besides its checkpoints: train.log, TensorBoard, and the train summary."""

from __future__ import annotations

import json
import logging as std_logging
import os

import ml_collections
import numpy as np
import pandas as pd
import tensorflow as tf
from absl import logging

from transfusion_tf import config_checks, experiment, metrics

# Loggers whose records go into train.log: absl's and the data pipeline's (cache notices).
LOGGERS = ("absl", "pipelines")


def log_to_file(workdir: str) -> std_logging.Handler:
    """Sends the `LOGGERS` records, INFO and up, into `<workdir>/train.log`."""
    handler = std_logging.FileHandler(os.path.join(workdir, "train.log"))
    handler.setFormatter(std_logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in LOGGERS:
        std_logging.getLogger(name).addHandler(handler)
    std_logging.getLogger("pipelines").setLevel(std_logging.INFO)
    logging.set_verbosity(logging.INFO)
    return handler


def stop_logging_to_file(handler: std_logging.Handler) -> None:
    for name in LOGGERS:
        std_logging.getLogger(name).removeHandler(handler)
    handler.close()


def summary_writers(directory: str) -> dict:
    """TensorBoard writers `train` and `eval` under `<directory>/tensorboard/`."""
    return {
        name: tf.summary.create_file_writer(os.path.join(directory, "tensorboard", name))
        for name in ("train", "eval")
    }


def write_run_header(writer, config: ml_collections.ConfigDict, train_split) -> None:
    """TensorBoard: a few training inputs as the model sees them, and the hyperparameters."""
    from tensorboard.plugins.hparams import api as hparams

    images = experiment.preview(config, train_split, count=8)
    flat = {
        k: (v if isinstance(v, bool | int | float | str) else str(v))
        for k, v in config_checks.flatten(json.loads(config.to_json())).items()
    }
    with writer.as_default(step=0):
        tf.summary.image("train_inputs", images, max_outputs=8)
        hparams.hparams(flat)


def summarize(
    config: ml_collections.ConfigDict,
    rows: pd.DataFrame,
    images_per_second: list[float],
    final_step: int,
) -> dict:
    """`train_summary.json` without its timings: the final step, the last and the best
    evaluation (of `eval_log.csv`'s `rows`), steps to each `eval.thresholds` value, and the
    median training speed."""
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
    if images_per_second:
        result["images_per_second_median"] = float(np.median(images_per_second))
    return result


def _plain(value):
    return value.item() if hasattr(value, "item") else value
