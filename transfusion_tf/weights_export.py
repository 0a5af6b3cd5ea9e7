"""Exporting a trained run's weights for the weights registry, so other runs can start from
them (`transfusion_tf.register_weights`; the SavedModel for serving is `serving`).

`export_run(workdir)` turns a run's checkpoint (object-based, model + optimizer) into a
name-based V2 checkpoint of the model variables under slim names
(`slim_weights.loading.slim_name`: `block1/conv/kernel:0` -> `block1/conv/weights`), and
describes it as a `slim_weights.registry.TrainedEntry`: classes, input size, the run's
preprocessing, head scopes, first conv, builder options, and provenance. Registering that
entry makes `init.kind=imagenet` (and every kind built on pretrained weights) find it by
model name, the same way released TF-Slim checkpoints are found. A run that scored its
weight averages exports them (`trained_run.restore_run`): the weights its metrics describe.
"""

from __future__ import annotations

import json
import math
import os
import time

from slim_weights import checkpoint, loading, registry
from transfusion_tf import callbacks, checkpointing, experiment, initialization, trained_run
from transfusion_tf.models import endpoint_names, variable_endpoints


def export_run(
    workdir: str, *, which: str = checkpointing.LATEST, output: str | None = None
) -> registry.TrainedEntry:
    """Writes a run's weights as a slim-named checkpoint and describes them.

    Args:
      workdir: a training workdir (holds config.json and checkpoints/).
      which: `latest`, `best` (runs with `train.keep_best`), `init` or a step number.
      output: the V2 checkpoint prefix to write; default
        `<workdir>/export/<model>-<step>`.

    Returns:
      The `TrainedEntry` (not yet registered; see `slim_weights.registry.register`).

    Raises:
      FileNotFoundError: no such run or checkpoint (`trained_run.restore_run` lists the rest).
    """
    run = trained_run.restore_run(workdir, which)
    config, plan, model, path, step = run.config, run.plan, run.model, run.checkpoint, run.step
    values = {loading.slim_name(v.name): v.numpy() for v in model.variables}
    output = os.path.abspath(
        output or os.path.join(workdir, "export", f"{config.model.name}-{step}")
    )
    checkpoint.write_checkpoint(values, output, version="V2")

    endpoint_of = variable_endpoints(model)
    top = endpoint_names(model)[-1]
    head_scopes = sorted(
        {loading.slim_name(n).rpartition("/")[0] for n, e in endpoint_of.items() if e == top}
    )
    return registry.TrainedEntry(
        model=config.model.name,
        path=output,
        num_classes=experiment.get_task(config).num_outputs,
        # Our readers hand the model 0-based labels (the ImageNet offset is removed on read).
        label_offset=0,
        input_size=config.data.image_size,
        preprocessing=plan.preprocessing,
        head_scopes=tuple(head_scopes),
        first_conv=loading.slim_name(initialization.first_conv_kernel(model)),
        model_options=json.loads(json.dumps(plan.model_options)),
        source={
            "task": config.task,
            "dataset": config.data.name,
            "data_root": os.path.abspath(config.data.root),
            "channels": config.data.channels,
            "run": os.path.abspath(workdir),
            "checkpoint": path,
            "step": step,
            "weight_averages": run.weight_averages,
            "last_eval": _last_eval(workdir, step),
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def _last_eval(workdir: str, step: int) -> dict:
    """The eval_log.csv row of `step` (the held-out metrics of the exported weights)."""
    rows = callbacks.EvalLog(workdir).rows()
    match = rows[rows["step"] == step] if len(rows) else rows
    if not len(match):
        return {}
    out = {}
    for key, value in match.iloc[-1].items():
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and math.isnan(value):
            value = None  # Strict JSON has no NaN.
        elif key in ("step", "examples_seen", "examples"):
            value = int(value)
        out[key] = value
    return out
