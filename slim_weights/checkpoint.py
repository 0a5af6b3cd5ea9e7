"""Reading and writing TF name-based checkpoints as `{variable name: np.ndarray}`.

Both on-disk formats are handled: V1 (one file, e.g. the released `resnet_v1_50.ckpt`) and
V2 (`<prefix>.index` + `<prefix>.data-*`). Nothing here depends on tf_slim.

Released checkpoints also hold training bookkeeping that is not part of the model:
`global_step`, Adam's `beta1_power`/`beta2_power`, and optimizer slots stored beside their
variable (`<var>/Momentum`, `<var>/RMSProp`, `<var>/ExponentialMovingAverage`, ...).
`split_bookkeeping` separates those so loaders can ignore them and report that they did.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping

import numpy as np
import tensorflow as tf

from errors import ExpectedError

# Top-level training counters written by TF1 optimizers and `tf.train` loops.
BOOKKEEPING_NAMES = frozenset({"global_step", "beta1_power", "beta2_power"})
# Slot names TF1 optimizers and moving averages append to the variable they track.
SLOT_SUFFIXES = frozenset(
    {
        "Momentum",
        "RMSProp",
        "RMSProp_1",
        "Adam",
        "Adam_1",
        "Adagrad",
        "Adadelta",
        "Adadelta_1",
        "Ftrl",
        "Ftrl_1",
        "ExponentialMovingAverage",
    }
)
# Written by object-based (TF2) savers; it describes the object graph, not a variable.
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class CheckpointReadError(ExpectedError, ValueError):
    """A checkpoint path that is missing or not a readable TF checkpoint."""


def resolve_checkpoint(path: str | os.PathLike) -> str:
    """The checkpoint a path refers to: a V1 file, a V2 prefix, or a directory's latest.

    A leading `~` is expanded (the shell does not expand it after `--flag=`).

    Raises:
      CheckpointReadError: if nothing readable is there; the message names the path.
    """
    path = os.path.expanduser(os.fspath(path))
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            found = sorted(os.listdir(path))[:20]
            raise CheckpointReadError(
                f"{path} is a directory without a 'checkpoint' state file; pass the "
                f"checkpoint file or V2 prefix itself (directory holds: {found})"
            )
        return latest
    if os.path.isfile(path) or os.path.isfile(path + ".index"):
        return path
    if _data_files(path):
        raise CheckpointReadError(f"{path}.index missing (the checkpoint's data files are there)")
    raise CheckpointReadError(
        f"no checkpoint at {path}: expected a V1 checkpoint file, a V2 prefix with "
        f"{path}.index beside it, or a directory"
    )


def _reader(path: str | os.PathLike):
    resolved = resolve_checkpoint(path)
    _check_shards(resolved)
    try:
        return tf.train.load_checkpoint(resolved)
    except (tf.errors.OpError, ValueError) as e:
        # TF's words for a V2 index cut short or overwritten.
        if "sstable" in str(e) and os.path.isfile(resolved + ".index"):
            raise CheckpointReadError(
                f"{resolved}.index is damaged (truncated or not a checkpoint index: {e})"
            ) from e
        raise CheckpointReadError(f"{resolved} is not a readable TF checkpoint: {e}") from e


def _data_files(prefix: str) -> list[str]:
    return sorted(glob.glob(glob.escape(prefix) + ".data-?????-of-?????"))


def _check_shards(resolved: str) -> None:
    """Names a V2 checkpoint's missing data shards (TF's reader would name none)."""
    if not os.path.isfile(resolved + ".index"):
        return  # A V1 file: one file, nothing beside it.
    found = _data_files(resolved)
    if not found:
        raise CheckpointReadError(
            f"{resolved}: data file missing (no {os.path.basename(resolved)}.data-*-of-* "
            f"beside {resolved}.index)"
        )
    count = int(found[0].rsplit("-of-", 1)[1])
    expected = [f"{resolved}.data-{i:05d}-of-{count:05d}" for i in range(count)]
    missing = [f for f in expected if f not in found]
    if missing:
        raise CheckpointReadError(f"{resolved}: data shard(s) missing: {missing}")


def _read_tensor(reader, resolved: str, name: str) -> np.ndarray:
    try:
        return np.asarray(reader.get_tensor(name))
    # TF raises IndexError ("Read less bytes than requested") for a data file cut short.
    except (tf.errors.OpError, IndexError, ValueError) as e:
        files = _data_files(resolved) or [resolved]
        where = files[0] if len(files) == 1 else f"a data file of {resolved} ({files})"
        what = "truncated" if isinstance(e, IndexError) else "damaged"
        raise CheckpointReadError(
            f"{where} is {what}: reading variable {name!r} failed: {e}"
        ) from e


def verify_checkpoint(path: str | os.PathLike) -> str:
    """Reads every tensor of a checkpoint once, so damage shows before anything uses it.

    Costs one read of the checkpoint's bytes (TF checks each tensor's CRC32C on the way).

    Args:
      path: a V1 checkpoint file, a V2 checkpoint prefix, or a directory.

    Returns:
      The checkpoint path (`resolve_checkpoint(path)`).

    Raises:
      CheckpointReadError: naming the file and what is wrong with it: missing (the index
        or a data shard), a damaged index, a truncated or corrupt data file.
    """
    resolved = resolve_checkpoint(path)
    reader = _reader(resolved)
    for name in sorted(reader.get_variable_to_shape_map()):
        _read_tensor(reader, resolved, name)
    return resolved


def read_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Variable names and shapes of a checkpoint, without reading the values.

    Args:
      path: a V1 checkpoint file, a V2 checkpoint prefix, or a directory.

    Returns:
      {name: shape} of every stored tensor (bookkeeping included), sorted by name.

    Raises:
      CheckpointReadError: if the path is missing or unreadable.
    """
    shapes = _reader(path).get_variable_to_shape_map()
    return {
        name: tuple(int(d) for d in shapes[name])
        for name in sorted(shapes)
        if name != _OBJECT_GRAPH_KEY
    }


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint, by name.

    Args:
      path: a V1 checkpoint file, a V2 checkpoint prefix, or a directory.

    Returns:
      {name: array} of every stored tensor (bookkeeping included), sorted by name; arrays
      keep their stored dtype and shape.

    Raises:
      CheckpointReadError: if the path is missing or unreadable.
    """
    resolved = resolve_checkpoint(path)
    reader = _reader(resolved)
    names = sorted(reader.get_variable_to_shape_map())
    return {
        name: _read_tensor(reader, resolved, name) for name in names if name != _OBJECT_GRAPH_KEY
    }


def write_checkpoint(
    variables: Mapping[str, np.ndarray], path: str | os.PathLike, *, version: str = "V2"
) -> str:
    """Writes `{name: array}` as a name-based TF checkpoint, as slim's Saver would.

    Args:
      variables: tensors to store under exactly these names.
      path: the V1 file or V2 prefix to write (a leading `~` is expanded); its directory is
        created if needed.
      version: 'V1' (one file, the format of the released checkpoints) or 'V2'.

    Returns:
      The path written (pass it to `read_checkpoint`).

    Raises:
      ValueError: for an unknown version.
    """
    formats = {"V1": tf.compat.v1.train.SaverDef.V1, "V2": tf.compat.v1.train.SaverDef.V2}
    if version not in formats:
        raise ValueError(f"unknown checkpoint version {version!r}; valid: V1, V2")
    path = os.path.expanduser(os.fspath(path))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with tf.Graph().as_default():
        tf_vars = {}
        feeds = {}
        for name, value in variables.items():
            value = np.asarray(value)
            # Placeholders keep the (possibly 100 MB) values out of the GraphDef.
            placeholder = tf.compat.v1.placeholder(value.dtype, value.shape)
            tf_vars[name] = tf.compat.v1.Variable(placeholder, name=name, shape=value.shape)
            feeds[placeholder] = value
        saver = tf.compat.v1.train.Saver(tf_vars, write_version=formats[version])
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer(), feed_dict=feeds)
            return saver.save(session, path, write_meta_graph=False, write_state=False)


def split_bookkeeping(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Splits checkpoint names into (model variables, bookkeeping to ignore).

    A name is bookkeeping if it is one of `BOOKKEEPING_NAMES`, or if its last component is
    one of `SLOT_SUFFIXES` and the rest is itself a stored name (so a model layer that
    happens to be called 'Momentum' is not mistaken for a slot).
    """
    names = list(names)
    present = set(names)
    model, bookkeeping = [], []
    for name in names:
        parent, _, last = name.rpartition("/")
        is_slot = last in SLOT_SUFFIXES and parent in present
        (bookkeeping if name in BOOKKEEPING_NAMES or is_slot else model).append(name)
    return model, bookkeeping


class InventoryError(ExpectedError, ValueError):
    """A checkpoint whose model variables differ from the expected inventory."""


def check_inventory(
    shapes: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], *, source: str
) -> None:
    """Checks that a checkpoint holds exactly the expected model variables.

    Args:
      shapes: {name: shape} read from the checkpoint (bookkeeping allowed).
      expected: {name: shape} from the manifest inventory.
      source: what to name in the error (the checkpoint path).

    Raises:
      InventoryError: listing every missing, unexpected and wrongly shaped variable.
    """
    model_names, _ = split_bookkeeping(shapes)
    missing = sorted(set(expected) - set(model_names))
    unexpected = sorted(set(model_names) - set(expected))
    wrong = sorted(
        f"{n}: {tuple(shapes[n])} (expected {tuple(expected[n])})"
        for n in set(model_names) & set(expected)
        if tuple(shapes[n]) != tuple(expected[n])
    )
    if missing or unexpected or wrong:
        raise InventoryError(
            f"{source} does not match the expected inventory: "
            f"{len(missing)} missing {missing}; {len(unexpected)} unexpected {unexpected}; "
            f"{len(wrong)} with wrong shapes {wrong}"
        )
