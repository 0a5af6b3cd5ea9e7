"""Loading `{slim variable name: array}` into any Keras model, by name, loudly.

Keras variable names map to slim's mechanically: strip ':0', then a trailing `kernel`
becomes `weights` and `bias` becomes `biases`; BatchNorm's `gamma`, `beta`,
`moving_mean`, `moving_variance` keep their names. A model whose layers are named after
slim's scopes (`resnet_v1_50/conv1` with BatchNorm `resnet_v1_50/conv1/BatchNorm`) therefore
addresses the checkpoint directly.

`load_into` is all-or-nothing: it checks every name and shape first and raises with the full
lists of unmatched names on both sides (slim's `--checkpoint_exclude_scopes`, big_vision's
`merge_params`), and only then assigns.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from errors import ExpectedError
from slim_weights.checkpoint import split_bookkeeping

_KERAS_TO_SLIM = (("kernel", "weights"), ("bias", "biases"))


class CheckpointMismatchError(ExpectedError, ValueError):
    """Checkpoint and model variables that do not correspond one to one."""


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What `load_into` did, name by name (slim names throughout).

    Attributes:
      loaded: checkpoint variables assigned into the model.
      adapted: loaded variables whose array was changed on the way, with how.
      excluded_checkpoint: checkpoint variables under `exclude_scopes`, not used.
      excluded_model: model variables under `exclude_scopes`, left as they were.
      ignored: checkpoint bookkeeping (global_step, optimizer slots), not used.
    """

    loaded: tuple[str, ...]
    adapted: tuple[str, ...]
    excluded_checkpoint: tuple[str, ...]
    excluded_model: tuple[str, ...]
    ignored: tuple[str, ...]

    def summary(self) -> str:
        """A few lines for logs: counts, then the adapted and excluded names."""
        lines = [
            f"loaded {len(self.loaded)} variables; adapted {len(self.adapted)}; "
            f"excluded {len(self.excluded_checkpoint)} from the checkpoint and "
            f"{len(self.excluded_model)} in the model; ignored {len(self.ignored)} bookkeeping",
        ]
        lines += [f"  adapted {a}" for a in self.adapted]
        lines += [f"  not loaded (kept as initialised) {n}" for n in self.excluded_model]
        lines += [f"  excluded from checkpoint {n}" for n in self.excluded_checkpoint]
        lines += [f"  ignored {n}" for n in self.ignored]
        return "\n".join(lines)


def slim_name(keras_name: str) -> str:
    """The slim name of a Keras variable name: `a/conv1/kernel:0` -> `a/conv1/weights`."""
    name = re.sub(r":\d+$", "", keras_name)
    scope, _, last = name.rpartition("/")
    last = dict(_KERAS_TO_SLIM).get(last, last)
    return f"{scope}/{last}" if scope else last


def in_scopes(name: str, scopes: Iterable[str]) -> bool:
    """Whether `name` is one of `scopes` or lies below one (whole path components only)."""
    return any(name == s or name.startswith(s.rstrip("/") + "/") for s in scopes)


def load_into(
    model: tf.keras.Model,
    variables: Mapping[str, np.ndarray],
    *,
    exclude_scopes: Sequence[str] = (),
    label_offset: int = 0,
    class_scopes: Sequence[str] = (),
) -> LoadReport:
    """Assigns checkpoint arrays to a model's variables by slim name.

    Args:
      model: any Keras model; its variables are matched through `slim_name`.
      variables: {slim name: array}, e.g. from `read_checkpoint`. Bookkeeping entries
        (global_step, optimizer slots) are ignored and reported.
      exclude_scopes: scopes loaded on neither side: checkpoint variables there are unused,
        model variables there keep their values. Pass `entry.head_scopes` to put a new
        classifier on pretrained features.
      label_offset: number of leading logits to drop from the class axis (the last axis)
        of variables under `class_scopes`; 1 maps the Inception checkpoint's 1001-way
        head (logit 0 = background) onto a 1000-way ImageNet head.
      class_scopes: layers whose last axis indexes classes (`entry.class_scopes`).

    Returns:
      A `LoadReport`. Besides the label offset, the only adaptation is reshaping a 1x1
      conv kernel (1, 1, in, out) into a Dense kernel (in, out), which keeps every value.

    Raises:
      CheckpointMismatchError: if any non-excluded name exists on one side only (the
        message lists both sides in full), or if matched shapes differ; nothing is
        assigned then.
    """
    if label_offset and not class_scopes:
        raise ValueError("label_offset needs class_scopes (the layers whose last axis is classes)")
    model_vars = _by_slim_name(model)
    ckpt_names, ignored = split_bookkeeping(variables)
    excluded_ckpt = sorted(n for n in ckpt_names if in_scopes(n, exclude_scopes))
    excluded_model = sorted(n for n in model_vars if in_scopes(n, exclude_scopes))
    wanted = set(ckpt_names) - set(excluded_ckpt)
    _check_names(model, wanted, set(model_vars) - set(excluded_model), exclude_scopes)
    assignments, adapted, wrong = [], [], []
    for name in sorted(wanted):
        var, value = model_vars[name], np.asarray(variables[name])
        value, how = _adapt(name, value, tuple(var.shape), label_offset, class_scopes)
        if value.shape != tuple(var.shape):
            wrong.append(f"{name}: checkpoint {value.shape} vs model {tuple(var.shape)}")
            continue
        if how:
            adapted.append(f"{name}: {how}")
        assignments.append((var, value))
    if wrong:
        raise CheckpointMismatchError(
            f"{len(wrong)} variables of model {model.name!r} differ in shape from the "
            f"checkpoint: {wrong}. A different head needs exclude_scopes or label_offset; "
            "a 1-channel first conv needs sum_rgb_channels."
        )
    for var, value in assignments:
        var.assign(value.astype(var.dtype.as_numpy_dtype, copy=False))
    return LoadReport(
        loaded=tuple(sorted(wanted)),
        adapted=tuple(adapted),
        excluded_checkpoint=tuple(excluded_ckpt),
        excluded_model=tuple(excluded_model),
        ignored=tuple(sorted(ignored)),
    )


def _by_slim_name(model: tf.keras.Model) -> dict[str, tf.Variable]:
    model_vars: dict[str, tf.Variable] = {}
    for var in model.variables:
        name = slim_name(var.name)
        if name in model_vars:
            raise CheckpointMismatchError(
                f"model {model.name!r} has two variables named {name!r} in slim terms; "
                "give its layers unique names"
            )
        model_vars[name] = var
    return model_vars


def _check_names(model, wanted: set[str], targets: set[str], exclude_scopes) -> None:
    only_ckpt, only_model = sorted(wanted - targets), sorted(targets - wanted)
    if only_ckpt or only_model:
        raise CheckpointMismatchError(
            f"checkpoint and model {model.name!r} do not match by name "
            f"(exclude_scopes={list(exclude_scopes)}).\n"
            f"{len(only_ckpt)} checkpoint variables with no model variable: {only_ckpt}\n"
            f"{len(only_model)} model variables with no checkpoint variable: {only_model}\n"
            "Exclude scopes that should not be loaded (e.g. a new head: the entry's "
            "head_scopes) or check that checkpoint and model are the same architecture."
        )


def _adapt(
    name: str,
    value: np.ndarray,
    target: tuple[int, ...],
    label_offset: int,
    class_scopes: Sequence[str],
) -> tuple[np.ndarray, str]:
    """Applies the label offset and the 1x1-conv-to-Dense reshape; says what it did."""
    steps = []
    if label_offset and in_scopes(name.rpartition("/")[0], class_scopes):
        value = value[..., label_offset:]
        steps.append(f"dropped the first {label_offset} classes")
    if value.shape != target and value.shape[:2] == (1, 1) and value.shape[2:] == target:
        value = value.reshape(target)
        steps.append("1x1 conv kernel reshaped to a Dense kernel")
    return value, "; ".join(steps)


def sum_rgb_channels(variables: Mapping[str, np.ndarray], first_conv: str) -> dict[str, np.ndarray]:
    """Adapts RGB weights to grayscale input by summing the first conv over input channels.

    A gray image g through the summed kernel equals (g, g, g) through the RGB kernel, so
    a 1-channel model behaves like the RGB model fed replicated gray (timm's rule).

    Args:
      variables: {slim name: array}; not modified.
      first_conv: name of the first conv kernel, shape (h, w, 3, out) (`entry.first_conv`).

    Returns:
      A new dict in which `first_conv` has shape (h, w, 1, out).

    Raises:
      KeyError: if `first_conv` is not in `variables`.
      ValueError: if it does not have 3 input channels.
    """
    if first_conv not in variables:
        raise KeyError(f"{first_conv!r} not in the checkpoint variables")
    kernel = np.asarray(variables[first_conv])
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"{first_conv} has shape {kernel.shape}; expected (h, w, 3, out)")
    return {**variables, first_conv: kernel.sum(axis=2, keepdims=True)}
