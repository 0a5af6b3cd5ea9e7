"""A trained run rebuilt from its workdir for inference: its model holding one checkpoint's
weights, with everything needed to feed it images as its training did.

The predict and export binaries and the weights registry's export (`weights_export`) all
start here, so the run's preprocessing, image size, channels and resize mode, and the
weights a checkpoint choice gives, are decided in one place: `restore_run`. A run that
scored its weight averages (`train.ema_decay` > 0 with `eval.use_ema`) is restored with
them, so predictions and exports use the weights its metrics describe.
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import tensorflow as tf

from errors import UsageError
from pipelines.decoding import ImageSettings
from transfusion_tf import checkpointing, experiment, initialization, precision, weight_average

# The `checkpoint` names `restore_run` takes, as the --checkpoint help of the binaries over it
# (predict, export) states them.
CHECKPOINT_HELP = (
    "Checkpoint: 'latest', 'init' (the initial weights), a step number, or 'best' for runs "
    "that keep one."
)


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """A run's model with a checkpoint's weights restored.

    Attributes:
      workdir: the run's directory.
      config: its config.json.
      plan: its init plan, as recorded at training start (`init_report.json`).
      model: the model, weights restored; outputs float32 logits (batch, num_outputs).
      checkpoint: the checkpoint path restored.
      step: the training step of that checkpoint (0 for `init`).
      precision: the Keras policy the model was built under (the run's `precision`).
      weight_averages: whether the model holds the checkpoint's weight averages
        (`train.ema_decay`) rather than its trained weights.
    """

    workdir: str
    config: ml_collections.ConfigDict
    plan: initialization.InitPlan
    model: tf.keras.Model
    checkpoint: str
    step: int
    precision: str
    weight_averages: bool = False

    @property
    def task(self):
        """The run's task (`transfusion_tf.tasks`)."""
        return experiment.get_task(self.config)

    @property
    def images(self) -> ImageSettings:
        """How the run decodes and scales images: its own size, channels, resize mode and
        preprocessing (the init plan's: the pretrained weights' own)."""
        return experiment.image_settings(self.config, self.plan.preprocessing)


def restore_run(
    workdir: str, checkpoint: str = checkpointing.LATEST, *, ema: bool | None = None
) -> TrainedRun:
    """Rebuilds a run's model from its workdir and restores a checkpoint's weights.

    The model is built under the run's `precision` (this sets the process's global Keras
    policy), with the builder options of its init plan.

    Args:
      workdir: a training workdir (holds config.json and checkpoints/).
      checkpoint: passed to `checkpointing.checkpoint_path`: `latest`, `best`, `init` or
        a step.
      ema: restore the weight averages (True) or the trained weights (False); None
        follows the run (`weight_average.scores_average`).

    Raises:
      experiment.NotARun: no config.json in `workdir`.
      provenance.DamagedFile: a damaged config.json or init_report.json.
      errors.UsageError: a checkpoint name `checkpointing.checkpoint_path` does not know,
        or `ema=True` for a run without weight averages.
      checkpointing.CheckpointNotFound: no such checkpoint (the message lists those there).
      slim_weights.checkpoint.CheckpointReadError: a damaged checkpoint, named.
    """
    config = experiment.load_config(workdir)
    try:
        ema = weight_average.scores_average(config, ema)
    except ValueError as e:
        raise UsageError(f"{workdir}: {e}") from None
    path = checkpointing.checkpoint_path(workdir, checkpoint)
    plan = initialization.resolve(config, workdir=workdir, read_weights=False)
    policy = precision.apply_precision(config.precision)
    model = experiment.build_model(config, plan)
    # The one place a run's weights enter inference: predict, export and weights_export.
    checkpointing.restore_weights(model, path, ema=ema)
    return TrainedRun(
        workdir=workdir,
        config=config,
        plan=plan,
        model=model,
        checkpoint=path,
        step=checkpoint_step(path),
        precision=policy,
        weight_averages=ema,
    )


def checkpoint_step(path: str) -> int:
    """The step of a run checkpoint path: `.../ckpt-600` -> 600, `.../init/ckpt-0` -> 0."""
    return int(os.path.basename(path).rsplit("-", 1)[-1])
