"""Predicting unlabelled images with a trained run: `predict_images(workdir, images, out)`.

Images come from a folder or a CSV (`pipelines.readers.unlabelled`) and go through the
run's own pipeline tail: decoded and resized as its training images were (its image size,
channels and `data.resize_mode`, by `pipelines.decoding.decode_with`), scaled by its init
plan's preprocessing, then through the model restored from the chosen checkpoint
(`trained_run.restore_run`).

Outputs:
  <out>                    one row per readable image, in input order: `image` (as given:
                           the path below the folder, or the CSV cell), then the task's
                           columns (`prediction_columns`: dr_grade `p_grade0`..`p_grade4`
                           and `referable_score`; multi-label `p_<pathology>`;
                           classification `predicted`, `p_predicted`).
  <out stem>_unreadable.csv  one row per image that could not be read: `image`, `reason`
                           (missing, empty, truncated, not a JPEG/PNG, undecodable, or a
                           CSV path outside the CSV's directory). Always written, so an
                           empty one says that every image was read.

Test-time augmentation (`tta`): `flip` averages the LOGITS of each image and its left-right
mirror (the model input flipped along its width), and the task's columns are computed from
that mean. Averaging logits keeps every column consistent with the others for every task
(referable_score is still p_grade2 + p_grade3 + p_grade4; `predicted` is still the most
probable class) without a per-task inverse of the output activation.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import numpy as np
import pandas as pd
import tensorflow as tf

from errors import ExpectedError, UsageError
from pipelines import decoding
from pipelines.preprocessing import get_preprocessing
from pipelines.readers import image_files, unlabelled
from transfusion_tf import checkpointing, experiment, trained_run


def _unchanged(images: tf.Tensor) -> tf.Tensor:
    return images


def _mirrored(images: tf.Tensor) -> tf.Tensor:
    """Left-right mirror of a batch (b, h, w, c)."""
    return tf.reverse(images, axis=[2])


# Each test-time augmentation is the views of a preprocessed batch whose logits are averaged.
TTA_VIEWS = {"none": (_unchanged,), "flip": (_unchanged, _mirrored)}
UNREADABLE_COLUMNS = ("image", "reason")
_READ_THREADS = 8  # Reading and decoding release the GIL.


@dataclasses.dataclass(frozen=True)
class PredictionSummary:
    """What `predict_images` did.

    Attributes:
      checkpoint: the checkpoint path whose weights predicted.
      step: its training step.
      predicted: rows written to `out`.
      unreadable: (image as given, reason) of every image not read, in input order.
      out: the predictions CSV.
      unreadable_out: the CSV listing the unreadable images.
      weight_averages: whether the checkpoint's weight averages predicted (a run that
        scored them, `train.ema_decay`).
    """

    checkpoint: str
    step: int
    predicted: int
    unreadable: tuple[tuple[str, str], ...]
    out: str
    unreadable_out: str
    weight_averages: bool = False


def predict_images(
    workdir: str,
    images: str,
    out: str,
    *,
    checkpoint: str = checkpointing.LATEST,
    tta: str = "none",
    batch_size: int | None = None,
) -> PredictionSummary:
    """Predicts every image of a folder or CSV with a run's checkpoint; writes two CSVs.

    Unreadable images are listed (see the module docstring), never fatal.

    Args:
      workdir: a training workdir.
      images: a folder (scanned recursively) or a CSV with an `image` column.
      out: the predictions CSV to write; the unreadable list goes beside it.
      checkpoint: `latest`, `init` or a step (`checkpointing.checkpoint_path`).
      tta: a key of TTA_VIEWS.
      batch_size: images per forward pass; None uses the run's `eval.batch_size`.

    Raises:
      errors.UsageError: an unknown `tta` or checkpoint name, a batch size below 1, or an
        output path that would overwrite the input CSV.
      pipelines.errors.DataError: no such folder or CSV, a malformed CSV, no images.
      experiment.NotARun, checkpointing.CheckpointNotFound: no such run or checkpoint.
      slim_weights.checkpoint.CheckpointReadError: a damaged checkpoint, named.
      experiment.NonFiniteLogits: weights whose logits are not finite.
      OutputNotWritable: the output directory cannot be written.
    """
    if tta not in TTA_VIEWS:
        raise UsageError(f"unknown tta {tta!r}; valid: {', '.join(TTA_VIEWS)}")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"batch size {batch_size} must be >= 1")
    listing = unlabelled.list_images(images)
    unreadable_out = unreadable_path(out)
    _check_outputs(images, out, unreadable_out)
    run = trained_run.restore_run(workdir, checkpoint)
    names, logits, unreadable = predict_listing(
        run, listing, tta=tta, batch_size=batch_size or run.config.eval.batch_size
    )
    table = pd.DataFrame({"image": names})
    for column, values in run.task.prediction_columns(logits).items():
        table[column] = values
    _write_csv(table, out)
    _write_csv(pd.DataFrame(unreadable, columns=list(UNREADABLE_COLUMNS)), unreadable_out)
    return PredictionSummary(
        checkpoint=run.checkpoint,
        step=run.step,
        predicted=len(table),
        unreadable=tuple(unreadable),
        out=out,
        unreadable_out=unreadable_out,
        weight_averages=run.weight_averages,
    )


def predict_listing(
    run: trained_run.TrainedRun,
    images: list[unlabelled.UnlabelledImage],
    *,
    tta: str = "none",
    batch_size: int,
) -> tuple[list[str], np.ndarray, list[tuple[str, str]]]:
    """Reads and predicts images batch by batch (one batch in memory at a time).

    Returns:
      (names of the images read, in input order; their float32 logits (n, num_outputs);
      (name, reason) of the images not read, in input order).

    Raises:
      experiment.NonFiniteLogits: a NaN or infinite logit (names the first image).
    """
    settings = run.images
    decode = tf.function(
        lambda encoded: decoding.decode_with(settings, encoded),
        input_signature=[tf.TensorSpec([], tf.string)],
    )
    size, channels = settings.image_size, settings.channels
    preprocess = get_preprocessing(settings.preprocessing)
    forward = tf.function(
        lambda batch: model_logits(run.model, preprocess, batch, tta=tta),
        input_signature=[tf.TensorSpec([None, size, size, channels], tf.uint8)],
    )
    names, logits, unreadable = [], [], []
    with concurrent.futures.ThreadPoolExecutor(_READ_THREADS) as pool:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            batch = []
            for image, (pixels, reason) in zip(
                chunk, pool.map(lambda i: read_image(i, decode), chunk), strict=True
            ):
                if reason is None:
                    names.append(image.name)
                    batch.append(pixels)
                else:
                    unreadable.append((image.name, reason))
            if batch:
                logits.append(forward(np.stack(batch)).numpy())
    logits = np.concatenate(logits) if logits else np.zeros((0, run.task.num_outputs), np.float32)
    _check_finite(logits, names, run.checkpoint)
    return names, logits, unreadable


def model_logits(model, preprocess, images: tf.Tensor, *, tta: str = "none") -> tf.Tensor:
    """Logits of a batch of model-size uint8 images, averaged over the `tta` views.

    Args:
      model: the run's model.
      preprocess: the run's preprocessing function (float32 [0, 255] -> model scale).
      images: uint8 (batch, size, size, channels), already resized.
      tta: a key of TTA_VIEWS.

    Returns:
      float32 (batch, num_outputs).
    """
    inputs = preprocess(tf.cast(images, tf.float32))
    views = [tf.cast(model(view(inputs), training=False), tf.float32) for view in TTA_VIEWS[tta]]
    return views[0] if len(views) == 1 else tf.add_n(views) / float(len(views))


def read_image(image: unlabelled.UnlabelledImage, decode) -> tuple[np.ndarray | None, str | None]:
    """(uint8 pixels at the model's size, None), or (None, why the image cannot be read).

    The header check (`image_files.check_header`) names missing, empty, truncated and
    non-image files; the decoder then catches damage inside the compressed data.
    """
    reason = image.problem or image_files.check_header(image.path)
    if reason is not None:
        return None, reason
    try:
        return decode(tf.io.read_file(image.path)).numpy(), None
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        return None, f"cannot decode: {error.message.splitlines()[0]}"
    except tf.errors.OpError as error:  # E.g. removed or made unreadable since the check.
        return None, f"unreadable: {error.message.splitlines()[0]}"


def unreadable_path(out: str) -> str:
    """Where the unreadable list of predictions `out` goes: `p.csv` -> `p_unreadable.csv`."""
    stem = out[: -len(".csv")] if out.lower().endswith(".csv") else out
    return f"{stem}_unreadable.csv"


class OutputNotWritable(ExpectedError, OSError):
    """An output path whose directory cannot be created or written."""


def _check_outputs(images: str, *outputs: str) -> None:
    """Refuses outputs that would overwrite the input CSV or cannot be written, before any
    model is built."""
    for path in outputs:
        if os.path.abspath(path) == os.path.abspath(images):
            raise UsageError(f"output {path} is the input CSV; choose another --out")
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as e:
            raise OutputNotWritable(f"{directory}: cannot create it ({e.strerror or e})") from e
        if not os.access(directory, os.W_OK):
            raise OutputNotWritable(f"{directory}: not writable, so {path} cannot be written")


def _write_csv(table: pd.DataFrame, path: str) -> None:
    """Writes atomically (temp file + rename): a kill never leaves half a table."""
    tmp = f"{path}.tmp{os.getpid()}"
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _check_finite(logits: np.ndarray, names: list[str], checkpoint: str) -> None:
    bad = ~np.isfinite(logits).all(axis=1)
    if bad.any():
        raise experiment.NonFiniteLogits(
            f"{checkpoint}: non-finite logits for {int(bad.sum())} of {len(logits)} images "
            f"(first: {names[int(np.argmax(bad))]}); these weights cannot predict"
        )


def format_summary(summary: PredictionSummary, *, listed: int = 5) -> str:
    """Console lines: the checkpoint and step, the counts, the first unreadable images."""
    lines = [
        f"checkpoint {summary.checkpoint} (step {summary.step}"
        + (", weight averages)" if summary.weight_averages else ")"),
        f"predicted {summary.predicted} images: {summary.out}",
        f"unreadable {len(summary.unreadable)} images: {summary.unreadable_out}",
    ]
    lines += [f"  {name}: {reason}" for name, reason in summary.unreadable[:listed]]
    if len(summary.unreadable) > listed:
        lines.append(f"  ... and {len(summary.unreadable) - listed} more")
    return "\n".join(lines)
