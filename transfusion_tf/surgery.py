"""Weight surgery: the study's initialisations as pure functions over `{name: array}`.

Weights are dicts keyed by the model's variable names (Keras names such as
`block1/conv/kernel:0` or `resnet_v1_50/conv1/BatchNorm/gamma:0`): `fresh` holds the
model's own random initialisation, `pretrained` the source network's weights under the same
names (`transfusion_tf.initialization` re-keys slim checkpoints through
`slim_weights.loading.slim_name`). Every function returns new weights for *every* fresh
variable and a `SurgeryReport` listing each model variable exactly once with what was done
to it, and each pretrained variable that was not used with the reason. Inputs are never
modified. Any name or shape that does not match raises `SurgeryError` listing every
offender, before anything is computed.

Actions on model variables:
  copied         the pretrained array, bit for bit
  reinitialised  the model's fresh random initialisation (its own initialisers: tf_slim's,
                 see `transfusion_tf.models.initializers`)
  resampled      iid draws from N(mean, variance) of the corresponding pretrained tensor,
                 one scalar mean and variance per tensor
  identity       batch norm set to the identity: gamma 1, beta 0, moving mean 0, moving
                 variance 1
  synthetic      the synthetic Gabor bank of `gabor_conv1`
  fresh_head     a classifier-head variable (under `exclude`): always fresh
Unused pretrained variables are `excluded` (under `exclude`: the source's head) or `above`
(the part of the source network a hybrid replaces with a slimmer top). The report types
live in `transfusion_tf.surgery_report`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from errors import ExpectedError
from slim_weights.loading import in_scopes
from transfusion_tf import gabor
from transfusion_tf.surgery_report import SurgeryReport, Unused, VariableAction

Weights = Mapping[str, np.ndarray]

BN_IDENTITY = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_variance": 1.0}
BN_MODES = ("identity", "resample", "copy")
REST_MODES = ("random", "mean_var")
_WEIGHT_LEAVES = ("kernel", "bias")


class SurgeryError(ExpectedError, ValueError):
    """Weights that do not correspond, or a surgery that is not defined for them."""


def random_init(
    fresh: Weights, *, exclude: Sequence[str], endpoint_of: Mapping[str, str] | None = None
) -> tuple[dict[str, np.ndarray], SurgeryReport]:
    """The `random` initialisation: the fresh weights, reported.

    Args:
      fresh: {name: array} of the model's own initialisation.
      exclude: scopes of the classifier head(s).
      endpoint_of: optional {name: endpoint} for the report.
    """
    plan = {n: ("fresh_head" if in_scopes(n, exclude) else "reinitialised", "") for n in fresh}
    return _execute("random", fresh, {}, plan, endpoint_of, [], {})


def transfer(
    pretrained: Weights,
    fresh: Weights,
    *,
    exclude: Sequence[str],
    endpoint_of: Mapping[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], SurgeryReport]:
    """The `imagenet` initialisation: every variable copied except the head.

    Args:
      pretrained: {name: array} of the source network (its head may differ in shape).
      fresh: {name: array} of the model's own initialisation.
      exclude: scopes of the classifier head(s), on both sides.
      endpoint_of: optional {name: endpoint} for the report.

    Raises:
      SurgeryError: unmatched names or shapes outside `exclude` (all listed).
    """
    unused = _match(pretrained, fresh, exclude)
    plan = {n: ("fresh_head" if in_scopes(n, exclude) else "copied", "") for n in fresh}
    return _execute("imagenet", fresh, pretrained, plan, endpoint_of, unused, {})


def mean_var(
    pretrained: Weights,
    fresh: Weights,
    *,
    rng: np.random.Generator,
    exclude: Sequence[str],
    bn_mode: str = "identity",
    endpoint_of: Mapping[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], SurgeryReport]:
    """Mean Var init (the paper's Fig 6): pretrained statistics, no pretrained features.

    Each conv/dense kernel and bias is drawn iid from N(m, s^2), where m and s^2 are the
    mean and (population) variance of the corresponding pretrained tensor. Batch norm
    follows `bn_mode`:
      identity  (the paper's) gamma 1, beta 0, moving mean 0, moving variance 1;
      resample  gamma and beta drawn like the kernels from their pretrained tensors; the
                moving statistics set to identity, since they describe the pretrained
                network's activations, which the resampled weights no longer produce (and
                a resampled variance could be negative);
      copy      all four copied.

    Args:
      pretrained, fresh, exclude, endpoint_of: as in `transfer`.
      rng: source of the draws (drawn in model order, float64, cast to the variable dtype).
      bn_mode: one of `BN_MODES`.

    Raises:
      SurgeryError: unmatched names or shapes, an unknown bn_mode, or a variable that is
        neither a kernel, a bias nor a batch-norm tensor.
    """
    unused = _match(pretrained, fresh, exclude)
    body = [n for n in fresh if not in_scopes(n, exclude)]
    plan = _mean_var_plan(body, bn_mode)
    plan.update({n: ("fresh_head", "") for n in fresh if n not in plan})
    return _execute("mean_var", fresh, pretrained, plan, endpoint_of, unused, {"rng": rng})


def transfuse(
    pretrained: Weights,
    fresh: Weights,
    *,
    endpoint_of: Mapping[str, str],
    endpoints: Sequence[str],
    up_to: str,
    exclude: Sequence[str],
    rest: str = "random",
    rng: np.random.Generator | None = None,
    bn_mode: str = "identity",
) -> tuple[dict[str, np.ndarray], SurgeryReport]:
    """Weight transfusion (the paper's Fig 7): pretrained up to an endpoint, the rest new.

    Every variable owned by `up_to` or a lower endpoint is copied; those above are
    re-initialised (`rest='random'`) or Mean-Var resampled (`rest='mean_var'`, with `rng`
    and `bn_mode` as in `mean_var`). The head is always fresh.

    Args:
      pretrained, fresh, exclude: as in `transfer`.
      endpoint_of: {name: endpoint} for every fresh variable (`variable_endpoints(model)`).
      endpoints: endpoint names bottom to top (`endpoint_names(model)`).
      up_to: the highest endpoint copied; any endpoint but the top one.
      rest: one of `REST_MODES`.
      rng: required for `rest='mean_var'`.
      bn_mode: batch-norm handling above `up_to` under `rest='mean_var'`.

    Raises:
      SurgeryError: an unknown `up_to` or `rest` (valid values listed), unmatched names or
        shapes, or fresh variables without an endpoint.
    """
    below = _endpoints_below(endpoints, up_to)
    if rest not in REST_MODES:
        raise SurgeryError(f"unknown rest={rest!r}; valid: {', '.join(REST_MODES)}")
    if rest == "mean_var" and rng is None:
        raise SurgeryError("rest='mean_var' needs an rng")
    _require_endpoints(fresh, endpoint_of)
    unused = _match(pretrained, fresh, exclude)
    body = [n for n in fresh if not in_scopes(n, exclude)]
    above = [n for n in body if endpoint_of[n] not in below]
    plan = (
        _mean_var_plan(above, bn_mode)
        if rest == "mean_var"
        else {n: ("reinitialised", "") for n in above}
    )
    plan.update({n: ("copied", "") for n in body if endpoint_of[n] in below})
    plan.update({n: ("fresh_head", "") for n in fresh if n not in plan})
    return _execute(
        f"transfusion up to {up_to}", fresh, pretrained, plan, endpoint_of, unused, {"rng": rng}
    )


def hybrid(
    pretrained: Weights,
    fresh: Weights,
    *,
    endpoint_of: Mapping[str, str],
    endpoints: Sequence[str],
    up_to: str,
    exclude: Sequence[str],
) -> tuple[dict[str, np.ndarray], SurgeryReport]:
    """The hybrid (the paper's Fig 8): pretrained up to `up_to` under a new, slimmer top.

    `fresh` is a model whose endpoints above `up_to` are narrower than the source's; they
    keep their fresh initialisation and the source's variables there are reported unused
    (`above`). At and below `up_to` names and shapes must match exactly.

    Args:
      pretrained, fresh, exclude: as in `transfer`.
      endpoint_of: {name: endpoint} for every fresh variable *and* every pretrained one
        outside `exclude` (place the latter with `layout.endpoints_by_scope`).
      endpoints, up_to: as in `transfuse`.

    Raises:
      SurgeryError: mismatches at or below `up_to`, or variables without an endpoint.
    """
    below = _endpoints_below(endpoints, up_to)
    _require_endpoints(fresh, endpoint_of)
    outside = [n for n in pretrained if not in_scopes(n, exclude)]
    _require_endpoints(outside, endpoint_of, what="pretrained")
    unused = _match(pretrained, fresh, exclude, strict=lambda n: endpoint_of[n] in below)
    plan = {}
    for n in fresh:
        if in_scopes(n, exclude):
            plan[n] = ("fresh_head", "")
        elif endpoint_of[n] in below:
            plan[n] = ("copied", "")
        else:
            plan[n] = ("reinitialised", "slim top")
    return _execute(f"hybrid up to {up_to}", fresh, pretrained, plan, endpoint_of, unused, {})


def gabor_conv1(
    fresh: Weights,
    *,
    conv1: str,
    target_std: float,
    exclude: Sequence[str],
    endpoint_of: Mapping[str, str] | None = None,
    **bank_options,
) -> tuple[dict[str, np.ndarray], SurgeryReport]:
    """Synthetic Gabor filters in conv1 (the paper's Fig 8); everything else random.

    Args:
      fresh: {name: array} of the model's own initialisation.
      conv1: name of the first conv kernel, shape (k, k, in, out).
      target_std: the bank's standard deviation (the pretrained conv1's).
      exclude: scopes of the classifier head(s).
      endpoint_of: optional {name: endpoint} for the report.
      **bank_options: passed to `gabor.gabor_bank` (frequencies, phases, sigma, ...).

    Raises:
      SurgeryError: if `conv1` is not a 4-D fresh variable outside `exclude`.
    """
    if conv1 not in fresh or np.ndim(fresh[conv1]) != 4 or in_scopes(conv1, exclude):
        raise SurgeryError(f"{conv1!r} is not a 4-D conv kernel of the model")
    bank, grid = gabor.gabor_bank(np.shape(fresh[conv1]), target_std=target_std, **bank_options)
    detail = f"{grid.describe()}; std {target_std:.6g}"
    plan = {n: ("fresh_head" if in_scopes(n, exclude) else "reinitialised", "") for n in fresh}
    plan[conv1] = ("synthetic", detail)
    weights, report = _execute("gabor_conv1", fresh, {conv1: bank}, plan, endpoint_of, [], {})
    extra = {"gabor": {**grid.to_json(), "target_std": float(target_std)}}
    return weights, dataclasses.replace(report, extra=extra)


def keep_fresh(report: SurgeryReport, names: Sequence[str], reason: str) -> SurgeryReport:
    """Reports model variables a surgery was told to exclude beyond the head as kept fresh.

    Surgery keeps every variable under `exclude` at its fresh value and reports it as
    `fresh_head`; for `names` (`init.exclude_scopes`, passed in `exclude` with the head)
    the action becomes `reinitialised` with `reason` as its detail.

    Args:
      report: the surgery's report.
      names: model variable names excluded beyond the head.
      reason: the detail to record, e.g. the config field.
    """
    names = set(names)
    variables = tuple(
        dataclasses.replace(v, action="reinitialised", detail=reason)
        if v.name in names and v.action == "fresh_head"
        else v
        for v in report.variables
    )
    return dataclasses.replace(report, variables=variables)


def _leaf(name: str) -> str:
    return name.split(":")[0].rpartition("/")[2]


def _endpoints_below(endpoints: Sequence[str], up_to: str) -> set[str]:
    valid = list(endpoints[:-1])  # The top endpoint is the head: never transferred.
    if up_to not in valid:
        raise SurgeryError(f"unknown up_to={up_to!r}; valid: {', '.join(valid)}")
    return set(valid[: valid.index(up_to) + 1])


def _require_endpoints(names, endpoint_of: Mapping[str, str], what: str = "model") -> None:
    missing = [n for n in names if endpoint_of.get(n) is None]
    if missing:
        raise SurgeryError(f"{len(missing)} {what} variables have no endpoint: {missing}")


def _match(
    pretrained: Weights,
    fresh: Weights,
    exclude: Sequence[str],
    *,
    strict: Callable[[str], bool] = lambda name: True,
) -> list[Unused]:
    """Checks names and shapes outside `exclude`; returns the unused pretrained variables.

    Where `strict(name)` is false (a hybrid's slim top) names may be missing on either side
    and shapes may differ; such pretrained variables are unused (`above`).
    """
    only_model = [n for n in fresh if not in_scopes(n, exclude) and n not in pretrained]
    only_pretrained = [n for n in pretrained if not in_scopes(n, exclude) and n not in fresh]
    shapes = [
        f"{n}: pretrained {np.shape(pretrained[n])} vs model {np.shape(fresh[n])}"
        for n in fresh
        if n in pretrained
        and not in_scopes(n, exclude)
        and strict(n)
        and np.shape(pretrained[n]) != np.shape(fresh[n])
    ]
    only_model = [n for n in only_model if strict(n)]
    bad_pretrained = [n for n in only_pretrained if strict(n)]
    if only_model or bad_pretrained or shapes:
        raise SurgeryError(
            f"pretrained and model weights do not match outside exclude={list(exclude)}:\n"
            f"{len(only_model)} model variables without a pretrained one: {only_model}\n"
            f"{len(bad_pretrained)} pretrained variables without a model one: {bad_pretrained}\n"
            f"{len(shapes)} shape mismatches: {shapes}"
        )
    unused = [
        Unused(n, "excluded", tuple(np.shape(pretrained[n])))
        for n in pretrained
        if in_scopes(n, exclude)
    ]
    unused += [
        Unused(n, "above", tuple(np.shape(pretrained[n])))
        for n in pretrained
        if not in_scopes(n, exclude) and not strict(n)
    ]
    return unused


def _mean_var_plan(names: Sequence[str], bn_mode: str) -> dict[str, tuple[str, str]]:
    if bn_mode not in BN_MODES:
        raise SurgeryError(f"unknown bn_mode={bn_mode!r}; valid: {', '.join(BN_MODES)}")
    unknown = [n for n in names if _leaf(n) not in _WEIGHT_LEAVES and _leaf(n) not in BN_IDENTITY]
    if unknown:
        raise SurgeryError(
            f"Mean Var knows kernels, biases and batch norm; cannot resample {unknown}"
        )
    plan = {}
    for n in names:
        leaf = _leaf(n)
        if leaf in _WEIGHT_LEAVES:
            plan[n] = ("resampled", "")
        elif bn_mode == "copy":
            plan[n] = ("copied", "bn_mode=copy")
        elif bn_mode == "resample" and leaf in ("gamma", "beta"):
            plan[n] = ("resampled", "bn_mode=resample")
        else:
            plan[n] = ("identity", f"bn_mode={bn_mode}")
    return plan


def _execute(
    kind: str,
    fresh: Weights,
    source: Weights,
    plan: Mapping[str, tuple[str, str]],
    endpoint_of: Mapping[str, str] | None,
    unused: list[Unused],
    extra: dict,
) -> tuple[dict[str, np.ndarray], SurgeryReport]:
    """Computes the new weights from the plan, in fresh order, and the report."""
    weights, actions = {}, []
    for name, value in fresh.items():
        action, detail = plan[name]
        dtype = np.asarray(value).dtype
        if action in ("copied", "synthetic"):
            new = np.array(source[name], dtype=dtype, copy=True)
        elif action == "resampled":
            reference = np.asarray(source[name], np.float64)
            mean, std = float(reference.mean()), float(reference.std())
            new = extra["rng"].normal(mean, std, np.shape(value)).astype(dtype)
            detail = "; ".join(filter(None, [f"N(mean={mean:.6g}, std={std:.6g})", detail]))
        elif action == "identity":
            new = np.full(np.shape(value), BN_IDENTITY[_leaf(name)], dtype)
        else:  # reinitialised, fresh_head
            new = np.array(value, copy=True)
        weights[name] = new
        endpoint = endpoint_of.get(name) if endpoint_of is not None else None
        actions.append(VariableAction(name, action, endpoint, tuple(np.shape(value)), detail))
    return weights, SurgeryReport(kind, tuple(actions), tuple(unused))
