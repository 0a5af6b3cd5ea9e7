"""A run's checkpoints: the step-0 initial weights, periodic saves, resume, and lookup.

Layout under `<workdir>/checkpoints/`: `ckpt-<step>` files written by a
`tf.train.CheckpointManager` over (model, optimizer, elapsed seconds), `init/ckpt-0`,
the weights before the first update (the CCA-at-initialisation analyses read it), and
`damaged/`, where a resume sets aside checkpoints it found damaged.

Every checkpoint is read whole before it is restored (`slim_weights.checkpoint.
verify_checkpoint`), so a truncated or missing file is named instead of surfacing as an
anonymous TensorFlow error.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf
from absl import logging

from errors import ExpectedError, UsageError
from slim_weights import checkpoint as checkpoint_files

INIT = "init"
LATEST = "latest"
DAMAGED = "damaged"


class CheckpointNotFound(ExpectedError, FileNotFoundError):
    """No checkpoint of the asked kind or step in a run; names those that exist."""


class NoIntactCheckpoint(ExpectedError, RuntimeError):
    """A run whose checkpoints are all damaged (they have been set aside)."""


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
        self._max_to_keep = max_to_keep
        self._manager = None  # Made after a resume has repaired the checkpoint state.
        self._model = model

    @property
    def manager(self) -> tf.train.CheckpointManager:
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(
                self._checkpoint,
                self.directory,
                max_to_keep=self._max_to_keep,
                checkpoint_name="ckpt",
            )
        return self._manager

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    @property
    def kept(self) -> list[str]:
        """Paths of the periodic checkpoints kept, oldest first."""
        return list(self.manager.checkpoints)

    def restore_latest(self) -> str | None:
        """Restores the newest intact periodic checkpoint, if any; returns its path.

        Candidates are tried newest first; each is read whole before it is restored. A
        damaged one is logged (path and what is wrong) and, when this process owns the
        directory, moved into `checkpoints/damaged/`; the next older one is tried, and the
        checkpoint state is rewritten to what is left.

        Raises:
          NoIntactCheckpoint: checkpoints are recorded but none is intact; they are set
            aside with the state file, so rerunning starts again from the initial weights.
        """
        owner = os.path.abspath(self.directory) == os.path.abspath(self._restore_directory)
        candidates = recorded_checkpoints(self._restore_directory)
        damaged = []
        for path in candidates:
            try:
                checkpoint_files.verify_checkpoint(path)
            except checkpoint_files.CheckpointReadError as error:
                damaged.append(path)
                where = _set_aside(path) if owner else "left in place (not this worker's)"
                logging.warning("damaged checkpoint %s; %s", error, where)
                continue
            self._checkpoint.restore(path).assert_existing_objects_matched()
            if damaged:
                logging.warning(
                    "resuming from %s, the newest intact checkpoint (damaged: %s)",
                    path,
                    ", ".join(damaged),
                )
                if owner:
                    kept = [p for p in reversed(candidates) if p not in damaged]
                    _write_state(self.directory, path, kept)
            return path
        if damaged:
            if owner:  # Nothing left to resume from: the next run starts afresh.
                _set_aside(os.path.join(self._restore_directory, "checkpoint"), suffixes=("",))
            raise NoIntactCheckpoint(
                f"no intact checkpoint in {self._restore_directory}: {', '.join(damaged)} "
                f"are damaged (train.log says how) and were moved to "
                f"{os.path.join(self._restore_directory, DAMAGED)}; rerunning the same "
                "command starts again from the initial weights"
            )
        return None

    def save(self, step: int) -> str:
        return self.manager.save(checkpoint_number=step)

    def save_init(self) -> str:
        """Writes the initial weights (model only) as `init/ckpt-0`."""
        checkpoint = tf.train.Checkpoint(model=self._model)
        # Touching save_counter creates it, so `restore_weights` finds every object it expects.
        checkpoint.save_counter  # noqa: B018
        return checkpoint.write(os.path.join(self.directory, INIT, "ckpt-0"))


def checkpoint_path(workdir: str, which: str = LATEST) -> str:
    """Resolves `latest`, `init` or a step number to a checkpoint path of a run.

    `latest` is the newest checkpoint the run recorded; the path is not read here
    (`restore_weights` checks the files).

    Raises:
      UsageError: `which` is none of `latest`, `init` or a step number.
      CheckpointNotFound: naming the workdir and the checkpoints that do exist.
    """
    directory = os.path.join(workdir, "checkpoints")
    if which == INIT:
        path = os.path.join(directory, INIT, "ckpt-0")
        if tf.io.gfile.exists(path + ".index"):
            return path
    elif which == LATEST:
        recorded = recorded_checkpoints(directory)
        if recorded:
            return recorded[0]
    elif str(which).isdigit():
        path = os.path.join(directory, f"ckpt-{int(which)}")
        if tf.io.gfile.exists(path + ".index"):
            return path
    else:
        raise UsageError(f"checkpoint {which!r}: expected 'latest', 'init' or a step number")
    raise CheckpointNotFound(
        f"no {which!r} checkpoint in {directory}; available: {available_steps(workdir)} "
        f"(plus 'init' if saved)"
    )


def recorded_checkpoints(directory: str) -> list[str]:
    """The periodic checkpoints a `checkpoints/` directory's state file records, newest first.

    A damaged state file is logged and replaced by the `ckpt-<step>` files on disk.
    """
    if not tf.io.gfile.exists(os.path.join(directory, "checkpoint")):
        return []
    try:
        state = tf.train.get_checkpoint_state(directory)
    except ValueError:  # A state file without a latest path (e.g. emptied).
        state = None
    if state is None:
        found = [os.path.join(directory, f"ckpt-{s}") for s in _steps_on_disk(directory)]
        logging.warning(
            "checkpoint state %s is damaged; using the checkpoints on disk: %s",
            os.path.join(directory, "checkpoint"),
            found,
        )
        return found[::-1]
    paths = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path not in paths:
        paths.append(state.model_checkpoint_path)
    return paths[::-1]


def available_steps(workdir: str) -> list[int]:
    """Steps of the periodic checkpoints present in a run, ascending."""
    return _steps_on_disk(os.path.join(workdir, "checkpoints"))


def _steps_on_disk(directory: str) -> list[int]:
    if not tf.io.gfile.isdir(directory):
        return []
    steps = {
        int(m.group(1))
        for name in tf.io.gfile.listdir(directory)
        if (m := re.fullmatch(r"ckpt-(\d+)\.index", name))
    }
    return sorted(steps)


def restore_weights(model, path: str, *, verify: bool = True) -> None:
    """Loads only the model's weights from a run checkpoint (optimizer state ignored).

    Args:
      model: the run's model, built by `experiment.build_model`.
      path: a checkpoint path (`checkpoint_path`).
      verify: read the checkpoint whole first (False: the caller just did).

    Raises:
      slim_weights.checkpoint.CheckpointReadError: a missing, truncated or corrupt file
        of the checkpoint (named); nothing is assigned then.
    """
    if verify:
        checkpoint_files.verify_checkpoint(path)
    tf.train.Checkpoint(model=model).restore(
        path
    ).expect_partial().assert_existing_objects_matched()


def _set_aside(path: str, suffixes: tuple[str, ...] = (".*",)) -> str:
    """Moves a checkpoint's files into `damaged/` beside it; says where they went."""
    directory = os.path.join(os.path.dirname(path), DAMAGED)
    files = [f for suffix in suffixes for f in tf.io.gfile.glob(path + suffix)]
    if not files:
        return "no files to set aside"
    os.makedirs(directory, exist_ok=True)
    for name in files:
        os.replace(name, os.path.join(directory, os.path.basename(name)))
    return f"moved {len(files)} file(s) to {directory}"


def _write_state(directory: str, latest: str, kept: list[str]) -> None:
    """Rewrites the checkpoint state file as CheckpointManager does: relative paths, and
    timestamps after the last preserved one, so the manager keeps rotating them."""
    kept = [p for p in kept if os.path.exists(p + ".index")]
    times = [os.path.getmtime(p + ".index") for p in kept]
    tf.compat.v1.train.update_checkpoint_state(
        directory,
        os.path.basename(latest),
        all_model_checkpoint_paths=[os.path.basename(p) for p in kept],
        all_model_checkpoint_timestamps=times,
        last_preserved_timestamp=min(times) - 1,
    )
