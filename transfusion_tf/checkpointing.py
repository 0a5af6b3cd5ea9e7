"""A run's checkpoints: the step-0 initial weights, periodic saves, resume, and lookup.

Layout under `<workdir>/checkpoints/`: `ckpt-<step>` files written by a
`tf.train.CheckpointManager` over (model, optimizer, elapsed seconds), and `init/ckpt-0`,
the weights before the first update (the CCA-at-initialisation analyses read it).
"""

from __future__ import annotations

import os
import re

import tensorflow as tf

INIT = "init"
LATEST = "latest"


class RunCheckpoints:
    """Saves and restores one run's training state.

    Args:
      workdir: the run's directory.
      model: the Keras model.
      optimizer: its optimizer (built, so slot variables exist before a restore).
      max_to_keep: periodic checkpoints kept (the init checkpoint is never deleted).
      restore_from: the run directory to resume from, if not `workdir` (a multi-worker
        non-chief writes to a private directory but resumes from the chief's).
    """

    def __init__(
        self, workdir: str, model, optimizer, *, max_to_keep: int = 5, restore_from: str = ""
    ):
        self.directory = os.path.join(workdir, "checkpoints")
        self._restore_directory = os.path.join(restore_from or workdir, "checkpoints")
        self.elapsed_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, elapsed_seconds=self.elapsed_seconds
        )
        self._manager = tf.train.CheckpointManager(
            self._checkpoint, self.directory, max_to_keep=max_to_keep, checkpoint_name="ckpt"
        )
        self._model = model

    @property
    def latest(self) -> str | None:
        return self._manager.latest_checkpoint

    def restore_latest(self) -> str | None:
        """Restores the newest periodic checkpoint, if any; returns its path."""
        path = tf.train.latest_checkpoint(self._restore_directory)
        if path:
            self._checkpoint.restore(path).assert_existing_objects_matched()
        return path

    def save(self, step: int) -> str:
        return self._manager.save(checkpoint_number=step)

    def save_init(self) -> str:
        """Writes the initial weights (model only) as `init/ckpt-0`."""
        checkpoint = tf.train.Checkpoint(model=self._model)
        # Touching save_counter creates it, so `restore_weights` finds every object it expects.
        checkpoint.save_counter  # noqa: B018
        return checkpoint.write(os.path.join(self.directory, INIT, "ckpt-0"))


def checkpoint_path(workdir: str, which: str = LATEST) -> str:
    """Resolves `latest`, `init` or a step number to a checkpoint path of a run.

    Raises:
      FileNotFoundError: naming the workdir and the checkpoints that do exist.
    """
    directory = os.path.join(workdir, "checkpoints")
    if which == INIT:
        path = os.path.join(directory, INIT, "ckpt-0")
        if tf.io.gfile.exists(path + ".index"):
            return path
    elif which == LATEST:
        path = tf.train.latest_checkpoint(directory)
        if path:
            return path
    else:
        path = os.path.join(directory, f"ckpt-{int(which)}")
        if tf.io.gfile.exists(path + ".index"):
            return path
    raise FileNotFoundError(
        f"no {which!r} checkpoint in {directory}; available: {available_steps(workdir)} "
        f"(plus 'init' if saved)"
    )


def available_steps(workdir: str) -> list[int]:
    """Steps of the periodic checkpoints present in a run, ascending."""
    directory = os.path.join(workdir, "checkpoints")
    if not tf.io.gfile.isdir(directory):
        return []
    steps = {
        int(m.group(1))
        for name in tf.io.gfile.listdir(directory)
        if (m := re.fullmatch(r"ckpt-(\d+)\.index", name))
    }
    return sorted(steps)


def restore_weights(model, path: str) -> None:
    """Loads only the model's weights from a run checkpoint (optimizer state ignored)."""
    tf.train.Checkpoint(model=model).restore(
        path
    ).expect_partial().assert_existing_objects_matched()
