"""A trained run as a self-contained TensorFlow SavedModel: `export_saved_model(workdir, out)`.

The SavedModel holds the model with a checkpoint's weights and the run's image handling, so
it reloads with `tf.saved_model.load(out)` in any TensorFlow 2.15 process, without this
package, and takes images of any size:

  serving_default(images)  images: uint8 (batch, height, width, channels), one size per
                           call; resized as the run's pipeline resizes (its image size and
                           `data.resize_mode`, by the same function,
                           `pipelines.decoding.resize_image`), then preprocessed as the run
                           was (its init plan's preprocessing).
  serve_encoded(encoded)   encoded: string (batch,) of JPEG/PNG files' bytes, decoded with
                           the run's channels (`pipelines.decoding.decode_with`), then as
                           above.

Both return the same named tensors (`output_tensors`): `logits` float32 (batch, k),
`probabilities` float32 (batch, k), and one float32 (batch,) tensor per column of the
task's predictions CSV, under the column's name (dr_grade: `p_grade0`..`p_grade4`,
`referable_score`; multi-label: `p_<pathology>`; classification: `predicted` int64 and
`p_predicted`). `export.json` beside the SavedModel records the run, checkpoint, step,
preprocessing, image size, channels, resize mode, precision and every signature's inputs
and outputs (names, dtypes, shapes).
"""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import tensorflow as tf

from errors import ExpectedError
from pipelines import decoding
from pipelines.preprocessing import get_preprocessing
from transfusion_tf import checkpointing, prediction, provenance, tasks, trained_run

EXPORT_JSON = "export.json"
FORMAT = 1


class ExportExists(ExpectedError, FileExistsError):
    """An export directory that already holds files (an export is never overwritten)."""


def _dr_grade(task: tasks.DRGradeTask, logits: tf.Tensor) -> dict[str, tf.Tensor]:
    probabilities = tf.nn.softmax(logits, axis=-1)
    out = {f"p_grade{k}": probabilities[:, k] for k in range(task.num_outputs)}
    out["referable_score"] = tf.reduce_sum(probabilities[:, tasks.REFERABLE_GRADE :], axis=-1)
    return {"probabilities": probabilities, **out}


def _multi_label(task: tasks.MultiLabelTask, logits: tf.Tensor) -> dict[str, tf.Tensor]:
    probabilities = tf.math.sigmoid(logits)
    out = {f"p_{key}": probabilities[:, j] for j, key in enumerate(task.keys)}
    return {"probabilities": probabilities, **out}


def _classification(task: tasks.ClassificationTask, logits: tf.Tensor) -> dict[str, tf.Tensor]:
    probabilities = tf.nn.softmax(logits, axis=-1)
    predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    chosen = tf.gather(probabilities, predicted, axis=1, batch_dims=1)
    return {"probabilities": probabilities, "predicted": predicted, "p_predicted": chosen}


# The TensorFlow twin of each task's `prediction_columns` (which is NumPy, so it cannot be
# saved in a graph); `output_tensors` checks that the names agree.
_OUTPUTS = {
    tasks.DRGradeTask: _dr_grade,
    tasks.MultiLabelTask: _multi_label,
    tasks.ClassificationTask: _classification,
}


def output_tensors(task, logits: tf.Tensor) -> dict[str, tf.Tensor]:
    """The named outputs of an exported model: `logits`, `probabilities` and the task's
    prediction columns, each under its column name (see the module docstring).

    Args:
      task: a `transfusion_tf.tasks` task.
      logits: float32 (batch, task.num_outputs).

    Raises:
      ValueError: a task without outputs here, or whose prediction columns differ from
        them (the two must be changed together).
    """
    try:
        build = _OUTPUTS[type(task)]
    except KeyError:
        known = ", ".join(sorted(t.__name__ for t in _OUTPUTS))
        raise ValueError(f"no serving outputs for task {task.name!r}; known: {known}") from None
    out = {"logits": logits, **build(task, logits)}
    columns = set(task.prediction_columns(np.zeros((1, task.num_outputs), np.float32)))
    if not columns <= set(out) or set(out) - columns != {"logits", "probabilities"}:
        raise ValueError(
            f"serving outputs {sorted(out)} do not match task {task.name!r}'s prediction "
            f"columns {sorted(columns)} plus logits and probabilities"
        )
    return out


class ServingModule(tf.Module):
    """The model of a run and its image handling, as `tf.function`s with fixed signatures.

    Args:
      run: the restored run (`trained_run.restore_run`).
    """

    def __init__(self, run: trained_run.TrainedRun):
        super().__init__(name="transfusion_tf_serving")
        self.model = run.model
        settings = run.images
        preprocess = get_preprocessing(settings.preprocessing)
        task = run.task

        def outputs(resized: tf.Tensor) -> dict[str, tf.Tensor]:
            logits = prediction.model_logits(self.model, preprocess, resized)
            return output_tensors(task, logits)

        def serve_images(images):
            resized = decoding.resize_image(
                images, size=settings.image_size, resize_mode=settings.resize_mode
            )
            return outputs(resized)

        def serve_encoded(encoded):
            resized = tf.map_fn(
                lambda one: decoding.decode_with(settings, one),
                encoded,
                fn_output_signature=tf.TensorSpec(
                    [settings.image_size, settings.image_size, settings.channels], tf.uint8
                ),
            )
            return outputs(resized)

        self.serve_images = tf.function(
            serve_images,
            input_signature=[tf.TensorSpec([None, None, None, settings.channels], tf.uint8)],
        )
        self.serve_encoded = tf.function(
            serve_encoded, input_signature=[tf.TensorSpec([None], tf.string)]
        )

    def signatures(self) -> dict:
        """Signature name -> concrete function, for `tf.saved_model.save`."""
        return {
            "serving_default": self.serve_images.get_concrete_function(),
            "serve_encoded": self.serve_encoded.get_concrete_function(),
        }


def export_saved_model(workdir: str, out: str, *, checkpoint: str = checkpointing.LATEST) -> dict:
    """Writes a run's checkpoint as a SavedModel in `out`, with `export.json` beside it.

    The SavedModel is written to a sibling temporary directory and renamed into place, so
    `out` either holds a whole export or does not exist.

    Args:
      workdir: a training workdir.
      out: the directory to create (absent or empty).
      checkpoint: `latest`, `init` or a step (`checkpointing.checkpoint_path`).

    Returns:
      What `export.json` records (see `describe`).

    Raises:
      ExportExists: `out` exists and is not an empty directory.
      errors.UsageError: a checkpoint name `checkpointing.checkpoint_path` does not know.
      experiment.NotARun, checkpointing.CheckpointNotFound: no such run or checkpoint.
      slim_weights.checkpoint.CheckpointReadError: a damaged checkpoint, named.
      OSError: `out`'s parent directory cannot be written (naming it).
    """
    out = os.path.abspath(out)
    if os.path.exists(out) and not (os.path.isdir(out) and not os.listdir(out)):
        raise ExportExists(f"{out} exists and is not empty: choose a new --out or remove it")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    partial = f"{out}.partial{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)  # A killed earlier attempt of this pid.
    run = trained_run.restore_run(workdir, checkpoint)
    module = ServingModule(run)
    signatures = module.signatures()
    try:
        tf.saved_model.save(module, partial, signatures=signatures)
        record = describe(run, signatures)
        provenance.write_json(os.path.join(partial, EXPORT_JSON), record)
        if os.path.isdir(out):
            os.rmdir(out)  # Empty, checked above.
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return record


def describe(run: trained_run.TrainedRun, signatures: dict) -> dict:
    """The contents of `export.json`: where the weights came from and how to call them.

    Returns:
      `format`, `run` (absolute workdir), `checkpoint`, `step`, `model`, `task`,
      `task_options`, `image_size`, `channels`, `resize_mode`, `preprocessing`,
      `precision`, `weight_averages` (the checkpoint's averages, for a run that scored them),
      `signatures` ({name: {inputs, outputs: {tensor: {dtype, shape}}}}),
      `tensorflow` (version), `exported` (local time).
    """
    return {
        "format": FORMAT,
        "run": os.path.abspath(run.workdir),
        "checkpoint": os.path.abspath(run.checkpoint),
        "step": run.step,
        "model": run.config.model.name,
        "task": run.config.task,
        "task_options": _task_options(run),
        "image_size": run.images.image_size,
        "channels": run.images.channels,
        "resize_mode": run.images.resize_mode,
        "preprocessing": run.images.preprocessing,
        "precision": run.precision,
        "weight_averages": run.weight_averages,
        "signatures": {name: _signature(f) for name, f in signatures.items()},
        "tensorflow": tf.__version__,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _task_options(run: trained_run.TrainedRun) -> dict:
    options = run.config.get("task_options")
    return json.loads(json.dumps(options.to_dict())) if options is not None else {}


def _signature(function) -> dict:
    """{inputs, outputs}: {name: {dtype, shape (null for any size)}} of a concrete function."""

    def spec(tensor) -> dict:
        return {"dtype": tensor.dtype.name, "shape": tensor.shape.as_list()}

    args, kwargs = function.structured_input_signature
    inputs = {t.name: t for t in args} | kwargs
    return {
        "inputs": {name: spec(t) for name, t in inputs.items()},
        "outputs": {name: spec(t) for name, t in function.structured_outputs.items()},
    }


def format_export(record: dict, out: str) -> str:
    """Console lines for an export: checkpoint, signatures, image handling, where."""
    averages = ", weight averages" if record.get("weight_averages") else ""
    lines = [f"checkpoint {record['checkpoint']} (step {record['step']}{averages})"]
    for name, signature in record["signatures"].items():
        inputs = ", ".join(f"{k} {v['dtype']} {v['shape']}" for k, v in signature["inputs"].items())
        lines.append(f"signature {name}({inputs}) -> {', '.join(signature['outputs'])}")
    lines.append(
        f"images resized to {record['image_size']} px ({record['resize_mode']}), "
        f"{record['channels']} channels, {record['preprocessing']} preprocessing"
    )
    lines.append(f"exported: {out} (described in {os.path.join(out, EXPORT_JSON)})")
    return "\n".join(lines)
