"""A run's checkpoints: the step-0 initial weights, periodic saves, resume, and lookup.

Layout under `<workdir>/checkpoints/`: `ckpt-<step>` files written by a
`tf.train.CheckpointManager` over (model, optimizer, elapsed seconds, and `ema`, the weight
averages of a run with `train.ema_decay` > 0), `init/ckpt-0`, the weights before the first
update (the CCA-at-initialisation analyses read it), `best/ckpt-<step>` with `best/best.json`
(`train.keep_best`: the weights of the best evaluation so far, model and `ema`, kept apart
from the rotation of `train.keep_checkpoints`), and `damaged/`, where a resume sets aside
checkpoints it found damaged.

The weights to score: `restore_weights(model, checkpoint_path(workdir, which), ema=...)`,
with `ema=weight_average.scores_average(config)` for the run's own choice.

Every checkpoint is read whole before it is restored (`slim_weights.checkpoint.
verify_checkpoint`), so a truncated or missing file is named instead of surfacing as an
anonymous TensorFlow error.
"""

from __future__ import annotations

import glob
import os
import re

import tensorflow as tf
from absl import logging
from tensorflow.core.protobuf import trackable_object_graph_pb2

from errors import ExpectedError, UsageError
from slim_weights import checkpoint as checkpoint_files
from transfusion_tf import provenance

INIT = "init"
LATEST = "latest"
BEST = "best"
DAMAGED = "damaged"
EMA = "ema"  # The checkpoint key of the weight averages.
BEST_RECORD = "best.json"


class CheckpointNotFound(ExpectedError, FileNotFoundError):
    """No checkpoint of the asked kind or step in a run; names those that exist."""


class NoIntactCheckpoint(ExpectedError, RuntimeError):
    """A run whose checkpoints are all damaged (they have been set aside)."""


class NoWeightAverage(ExpectedError, ValueError):
    """Weight averages asked of a checkpoint that holds none (`train.ema_decay` was 0)."""


class RunCheckpoints:
    """Saves and restores one run's training state.

    Args:
      workdir: the run's directory.
      model: the Keras model.
      optimizer: its optimizer (built, so slot variables exist before a restore).
      max_to_keep: periodic checkpoints kept (the init checkpoint is never deleted).
      restore_from: the run directory to resume from, if not `workdir` (a multi-worker
        non-chief writes to a private directory but resumes from the chief's).
      averages: {model variable name: its moving average} (`WeightAverage.averages`),
        saved under `ema` in every checkpoint; None for a run without.
    """

    def __init__(
        self,
        workdir: str,
        model,
        optimizer,
        *,
        max_to_keep: int = 5,
        restore_from: str = "",
        averages: dict | None = None,
    ):
        self.directory = os.path.join(workdir, "checkpoints")
        self._restore_directory = os.path.join(restore_from or workdir, "checkpoints")
        self.elapsed_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._weights = {"model": model, **({EMA: averages} if averages else {})}
        self._checkpoint = tf.train.Checkpoint(
            optimizer=optimizer, elapsed_seconds=self.elapsed_seconds, **self._weights
        )
        self._max_to_keep = max_to_keep
        self._manager = None  # Made after a resume has repaired the checkpoint state.

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
        """Writes the initial weights (model and averages) as `init/ckpt-0`."""
        return self._write_weights(os.path.join(self.directory, INIT, "ckpt-0"))

    def _write_weights(self, path: str) -> str:
        checkpoint = tf.train.Checkpoint(**self._weights)
        # Touching save_counter creates it, so `restore_weights` finds every object it expects.
        checkpoint.save_counter  # noqa: B018
        return checkpoint.write(path)

    def save_best(self, step: int, record: dict) -> str:
        """Writes the weights (model and averages) as `best/ckpt-<step>`, then `best.json`
        (`record` plus `step` and `checkpoint`), then removes the previous best.

        A kill at any point leaves `best.json` naming a complete checkpoint (or none).
        """
        directory = os.path.join(self.directory, BEST)
        path = self._write_weights(os.path.join(directory, f"ckpt-{step}"))
        provenance.write_json(
            os.path.join(directory, BEST_RECORD),
            {"step": step, "checkpoint": os.path.basename(path), **record},
        )
        for name in glob.glob(os.path.join(directory, "ckpt-*")):
            if not os.path.basename(name).startswith(f"ckpt-{step}."):
                os.remove(name)
        return path

    def drop_best_after(self, step: int) -> None:
        """Removes a best checkpoint of a step after `step` (a resumed run redoes it)."""
        directory = os.path.join(self.directory, BEST)
        record = best_record(os.path.dirname(self.directory))
        if record is not None and record["step"] > step:
            os.remove(os.path.join(directory, BEST_RECORD))
            for name in glob.glob(os.path.join(directory, "ckpt-*")):
                os.remove(name)


def checkpoint_path(workdir: str, which: str | int = LATEST) -> str:
    """Resolves `latest`, `best`, `init` or a step number to a checkpoint path of a run.

    `latest` is the newest checkpoint the run recorded, `best` the one `best/best.json`
    names (runs with `train.keep_best`); the path is not read here (`restore_weights`
    checks the files).

    Raises:
      UsageError: `which` is none of `latest`, `best`, `init` or a step number.
      CheckpointNotFound: naming the workdir and the checkpoints that do exist.
      provenance.DamagedFile: a damaged `best.json`.
    """
    directory = os.path.join(workdir, "checkpoints")
    which = str(which)
    if which == INIT:
        path = os.path.join(directory, INIT, "ckpt-0")
        if tf.io.gfile.exists(path + ".index"):
            return path
    elif which == LATEST:
        recorded = recorded_checkpoints(directory)
        if recorded:
            return recorded[0]
    elif which == BEST:
        record = best_record(workdir)
        path = os.path.join(directory, BEST, record["checkpoint"]) if record else ""
        if path and tf.io.gfile.exists(path + ".index"):
            return path
    elif which.isdigit():
        path = os.path.join(directory, f"ckpt-{int(which)}")
        if tf.io.gfile.exists(path + ".index"):
            return path
    else:
        raise UsageError(
            f"checkpoint {which!r}: expected 'latest', 'best', 'init' or a step number"
        )
    more = "" if which != BEST else " ('best' exists in runs with train.keep_best=True)"
    raise CheckpointNotFound(
        f"no {which!r} checkpoint in {directory}; available: {available_steps(workdir)} "
        f"(plus 'init' if saved){more}"
    )


def best_record(workdir: str) -> dict | None:
    """`checkpoints/best/best.json` of a run (step, checkpoint, metric, value, ema), or None.

    Raises:
      provenance.DamagedFile: a damaged file.
    """
    path = os.path.join(workdir, "checkpoints", BEST, BEST_RECORD)
    if not os.path.exists(path):
        return None
    return provenance.read_json(path, remedy="delete it (the run then has no best checkpoint)")


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


def restore_weights(model, path: str, *, ema: bool = False, verify: bool = True) -> None:
    """Loads a model's weights from a run checkpoint (optimizer state ignored).

    Args:
      model: the run's model, built by `experiment.build_model`.
      path: a checkpoint path (`checkpoint_path`).
      ema: then put the weight averages the checkpoint holds (`weight_average`) over the
        variables they average; the other variables (frozen ones) keep the saved values.
        `weight_average.scores_average(config)` says whether a run's scores use them.
      verify: read the checkpoint whole first (False: the caller just did).

    Raises:
      slim_weights.checkpoint.CheckpointReadError: a missing, truncated or corrupt file
        of the checkpoint (named); nothing is assigned then.
      NoWeightAverage: `ema=True` for a checkpoint without averages.
    """
    if verify:
        checkpoint_files.verify_checkpoint(path)
    averages = read_averages(path) if ema else {}
    if ema and not averages:
        raise NoWeightAverage(
            f"{path} holds no weight averages (its run trained with train.ema_decay=0); "
            "score its weights without them"
        )
    variables = {v.name: v for v in model.variables}
    unknown = sorted(set(averages) - set(variables))
    if unknown:
        raise NoWeightAverage(f"{path} holds averages of variables the model lacks: {unknown}")
    tf.train.Checkpoint(model=model).restore(
        path
    ).expect_partial().assert_existing_objects_matched()
    for name, value in averages.items():
        variables[name].assign(value)


def read_averages(path: str) -> dict:
    """{model variable name: its saved moving average} (numpy), {} for a checkpoint without."""
    reader = tf.train.load_checkpoint(path)
    return {name: reader.get_tensor(key) for name, key in _average_keys(reader).items()}


def has_averages(path: str) -> bool:
    """Whether a checkpoint holds weight averages (its run had `train.ema_decay` > 0)."""
    return bool(_average_keys(tf.train.load_checkpoint(path)))


def _average_keys(reader) -> dict[str, str]:
    """{model variable name: checkpoint key} of the `ema` entries, from the object graph
    (its names are the variable names as given, unlike the escaped keys)."""
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    root = {child.local_name: child.node_id for child in graph.nodes[0].children}
    if EMA not in root:
        return {}
    return {
        child.local_name: graph.nodes[child.node_id].attributes[0].checkpoint_key
        for child in graph.nodes[root[EMA]].children
    }


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
