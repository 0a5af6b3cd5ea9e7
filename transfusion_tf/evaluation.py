"""Scoring a trained run on a split: `evaluate_run(workdir, split)` from its checkpoint (the
evaluate binary), `evaluate_trained(model, ...)` with the model and data a process already
holds (the trainer's final evaluation: nothing is read or rebuilt twice).

Both write `metrics.json` (one entry per split, merged across calls) and
`predictions_<split>.csv` (one row per image: id, patient, label, task columns; for
multi-label tasks `label_<key>`/`mask_<key>` instead of `label`, and the study).
"""

from __future__ import annotations

import contextlib
import math
import os

import ml_collections
import tensorflow as tf
from absl import logging

from errors import UsageError
from pipelines.errors import DataError
from pipelines.readers import image_files
from slim_weights import checkpoint as checkpoint_files
from transfusion_tf import (
    checkpointing,
    config_checks,
    experiment,
    initialization,
    precision,
    provenance,
    timing,
    weight_average,
)


def evaluate_run(
    workdir: str,
    *,
    split: str = "test",
    checkpoint: str = checkpointing.LATEST,
    bootstrap_samples: int | None = None,
    ema: bool | None = None,
) -> dict:
    """Evaluates a run's checkpoint on one split of its dataset.

    The split is rebuilt from the run's own config.json (same dataset, split fractions and
    seed), so "test" is exactly the patients the run never trained or selected on.

    Args:
      workdir: a training workdir.
      split: split name, e.g. `valid` or `test`.
      checkpoint: `latest`, `best` (runs with `train.keep_best`), `init` or a step number.
      bootstrap_samples: replicates for the CIs; None uses config.eval.bootstrap_samples.
      ema: score the checkpoint's weight averages (True) or its trained weights (False);
        None follows the run's config (`weight_average.scores_average`).

    Returns:
      The metrics of this split (also written to metrics.json under the split's name).

    Everything that needs no computation is checked first: the workdir takes writes, the
    checkpoint and split exist, metrics.json parses.

    Raises:
      errors.UsageError: an unknown split (the message lists the splits), a checkpoint
        that is none of `latest`, `best`, `init` or a step, or `ema=True` for a run
        without weight averages.
      experiment.NotARun, checkpointing.CheckpointNotFound: no such run or checkpoint.
      provenance.DamagedFile: a damaged config.json or metrics.json.
      provenance.WorkdirNotWritable: a read-only or full workdir.
      slim_weights.checkpoint.CheckpointReadError: a damaged checkpoint, named.
      experiment.NonFiniteLogits: weights whose logits on the split are not finite.
      DataError: bad data, including an image only decoding shows to be corrupt.
    """
    config = experiment.load_config(workdir)
    provenance.check_writable(workdir)
    try:
        ema = weight_average.scores_average(config, ema)
    except ValueError as e:
        raise UsageError(f"{workdir}: {e}") from None
    with naming_undecodable_images(config):
        return _evaluate_run(config, workdir, split, checkpoint, bootstrap_samples, ema)


def _evaluate_run(
    config: ml_collections.ConfigDict,
    workdir: str,
    split: str,
    checkpoint: str,
    bootstrap_samples: int | None,
    ema: bool,
) -> dict:
    path = checkpointing.checkpoint_path(workdir, checkpoint)
    checkpoint_files.verify_checkpoint(path)
    config_checks.check_split(config, split)
    _read_metrics(os.path.join(workdir, "metrics.json"))  # A damaged one stops us now.
    plan = initialization.resolve(config, workdir=workdir, read_weights=False)
    data = experiment.load_data(config)
    precision.apply_precision(config.precision)
    model = experiment.build_model(config, plan)
    checkpointing.restore_weights(model, path, ema=ema, verify=False)  # Verified above.
    return evaluate_trained(
        model,
        config,
        data,
        split,
        workdir=workdir,
        checkpoint_path=path,
        preprocessing=plan.preprocessing,
        bootstrap_samples=bootstrap_samples,
        ema=ema,
    )


def evaluate_trained(
    model: tf.keras.Model,
    config: ml_collections.ConfigDict,
    data,
    split: str,
    *,
    workdir: str,
    checkpoint_path: str,
    preprocessing: str,
    bootstrap_samples: int | None = None,
    dataset: tf.data.Dataset | None = None,
    timer: timing.PhaseTimer | None = None,
    ema: bool = False,
    local: bool = False,
) -> dict:
    """Scores `model` (holding the weights of `checkpoint_path`) on a split of `data`.

    Writes the split's entry of `metrics.json` and `predictions_<split>.csv` in `workdir`.

    Args:
      data: the run's loaded dataset (`experiment.load_data(config)`).
      preprocessing: the run's preprocessing (its init plan's).
      bootstrap_samples: replicates for the CIs; None uses config.eval.bootstrap_samples.
      dataset: the split's eval stream if one is built already.
      timer: where the writing of the outputs is timed (phase `outputs`), if given.
      ema: whether `model` holds the checkpoint's weight averages (recorded as `ema`).
      local: predict in this process without collectives (`experiment.Predictor`); one
        worker of a multi-worker run scoring the whole split needs it.

    Raises:
      experiment.NonFiniteLogits: weights whose logits on the split are not finite.
    """
    samples = config.eval.bootstrap_samples if bootstrap_samples is None else bootstrap_samples
    try:
        scores, logits, predictions = experiment.evaluate_split(
            model,
            config,
            data.splits[split],
            bootstrap_samples=samples,
            preprocessing=preprocessing,
            dataset=dataset,
            local=local,
        )
    except experiment.NonFiniteLogits as e:
        raise experiment.NonFiniteLogits(f"{checkpoint_path}: {e}; it cannot be scored") from None
    step = os.path.basename(checkpoint_path).rsplit("-", 1)[-1]
    result = {"checkpoint": checkpoint_path, "step": int(step), "ema": bool(ema)}
    if "patient" in predictions:
        result["patients"] = int(predictions["patient"].nunique())
    result.update({"bootstrap_samples": samples, "skipped_images": len(data.bad_images), **scores})
    with timer.phase("outputs") if timer else contextlib.nullcontext():
        _write_outputs(config, workdir, split, result, logits, predictions)
    return result


def _write_outputs(config, workdir: str, split: str, result: dict, logits, predictions) -> None:
    metrics_path = os.path.join(workdir, "metrics.json")
    everything = _read_metrics(metrics_path)  # Again: another split may have been added.
    everything[split] = result
    provenance.write_json(metrics_path, everything)
    task = experiment.get_task(config)
    for name, values in task.prediction_columns(logits).items():
        predictions[name] = values
    predictions.to_csv(os.path.join(workdir, f"predictions_{split}.csv"), index=False)
    logging.info("wrote %s and predictions_%s.csv", metrics_path, split)


def _read_metrics(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    remedy = "move it aside and evaluate each split again (they are merged into it)"
    return provenance.read_json(path, remedy=remedy)


@contextlib.contextmanager
def naming_undecodable_images(config: ml_collections.ConfigDict):
    """Turns a decode failure inside tf.data into a DataError naming the image and its row.

    The default header scan passes a JPEG whose markers are intact but whose compressed
    data is garbage, and TensorFlow's decoder then fails mid-run naming no file. Decoding
    every image is slow, so the run's splits are decoded only once that has happened.

    Raises:
      DataError: on a decode error, if the decode scan finds images the run's own scan let
        through: names the first (image, label file, line) and counts the rest.
      tf.errors.InvalidArgumentError, tf.errors.UnknownError: the original error, if the
        decode scan finds none.
    """
    try:
        yield
    # UnknownError too: `image_files.check_decode` sees decoders raise both.
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        bad = undecodable_images(config)
        if not bad:
            raise
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        scan = config.data.image_scan
        checks = "only the start and end of each file" if scan == "header" else "no file"
        raise DataError(
            f"corrupt image {bad[0].describe()}{more}: TensorFlow failed to decode it "
            f"mid-run, as data.image_scan={scan!r} checks {checks}. Set "
            "data.image_scan=decode to find such images before training, and "
            "data.on_bad_image=skip to skip and count them."
        ) from error


def undecodable_images(config: ml_collections.ConfigDict) -> list[image_files.BadImage]:
    """Images of the configured splits that fail to decode although the run's scan passed them.

    Returns:
      Bad images in label-file order; [] for record datasets and `data.image_scan=decode`
      runs (their images were decoded before training).
    """
    if config.data.image_scan == "decode":
        return []
    rescan = config.copy_and_resolve_references()
    rescan.data.image_scan, rescan.data.on_bad_image = "decode", "skip"
    logging.warning("decoding failed: decoding every image of %s to name it", config.data.root)
    data = experiment.load_data(rescan)
    if data.image_scan != "decode":  # Records: checked as they are read, not scanned.
        return []
    bad = data.bad_images
    if config.data.image_scan == "header":  # The header scan stopped or skipped the rest.
        bad = [b for b in bad if image_files.check_header(b.path) is None]
    return bad


def format_metrics(result: dict) -> str:
    """A short human-readable block for the console; a CI that is NaN (no bootstrap, or no
    replicate with both classes) is left out rather than printed as `nan-nan`."""
    averages = ", weight averages" if result.get("ema") else ""
    lines = [f"checkpoint {result['checkpoint']} (step {result['step']}{averages})"]
    patients = f", patients {result['patients']}" if "patients" in result else ""
    lines.append(f"  examples {result['examples']}{patients}")
    if "mean_auc" in result:
        ci = _interval(result, "mean_auc", "95% CI {}, patient bootstrap")
        lines.append(f"  mean AUC {result['mean_auc']:.4f}{ci}")
        for key in sorted(k[4:] for k in result if k.startswith("auc_") and "_ci_" not in k):
            ci = _interval(result, f"auc_{key}", "{}")
            lines.append(f"    {key:<17} AUC {result['auc_' + key]:.4f}{ci}")
    if "auc" in result:
        ci = _interval(result, "auc", "95% CI {}, patient bootstrap")
        lines.append(f"  referable-DR AUC {result['auc']:.4f}{ci}")
    if "accuracy_ci_low" in result:
        ci = _interval(result, "accuracy", "95% CI {}, bootstrap")
        lines.append(f"  top-1 accuracy {result['accuracy']:.4f}{ci}")
    for key in ("auprc", "kappa", "accuracy", "top5", "loss"):
        if key in result and not (key == "accuracy" and "accuracy_ci_low" in result):
            lines.append(f"  {key} {result[key]:.4f}")
    return "\n".join(lines)


def _interval(result: dict, key: str, template: str) -> str:
    """` (<template with low-high>)` for `key`'s CI, or '' when it is NaN."""
    low, high = result[f"{key}_ci_low"], result[f"{key}_ci_high"]
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return " (" + template.format(f"{low:.4f}-{high:.4f}") + ")"
