"""How a run's weights start (the paper's Figs 6-8): `config.init` -> weight surgery.

`resolve(config)` decides once what a run's start needs: the pretrained weights' entry and
checkpoint, the preprocessing they carry and the model's builder options (an `InitPlan`);
the trainer, the evaluator and the analyses take that plan. `initialize(model, config,
plan)` reads the weights, re-keys them to the model's variable names, runs the pure surgery
of `transfusion_tf.surgery` and assigns the result. The trainer calls it once, before the
step-0 checkpoint, and writes the returned report as `init_report.json`.

Kinds (`config.init.kind`):
  random       the model's own initialisation (tf_slim's initialisers: models/initializers.py)
  imagenet     every variable from the pretrained weights but the head
  mean_var     kernels/biases ~ N(mean, var) of the pretrained tensor; BN by init.bn_mode
  transfusion  pretrained up to init.up_to, the rest random (or Mean Var: init.rest)
  hybrid_slim  pretrained up to init.up_to (default block2); above, blocks of
               init.width_factor x the channels, random
  gabor_conv1  conv1 a synthetic Gabor bank with the pretrained conv1's std; the rest random

Pretrained weights are found by model name (`slim_weights.registry.find_weights`): a
registered trained entry (our source-pretrained CBRs) or a released TF-Slim checkpoint.
Their entry's preprocessing becomes the run's preprocessing.
"""

from __future__ import annotations

import dataclasses
import json
import os

import ml_collections
import numpy as np
import tensorflow as tf

from errors import FAILURE, UsageError
from slim_weights import checkpoint, loading, manifest, registry
from transfusion_tf import provenance, scopes, surgery
from transfusion_tf.models import endpoint_names, slim_top_options, variable_endpoints
from transfusion_tf.models.initializers import init_summary
from transfusion_tf.models.layout import endpoints_by_scope

KINDS = ("random", "imagenet", "mean_var", "transfusion", "hybrid_slim", "gabor_conv1")
HYBRID_DEFAULT_UP_TO = "block2"


class InitError(UsageError):
    """An initialisation the config asks for that cannot be done; the message says why."""


class InitCheckpointError(InitError):
    """The pretrained checkpoint is missing or damaged: a data error (exit status 1)."""

    exit_code = FAILURE


@dataclasses.dataclass(frozen=True)
class InitPlan:
    """What a run's start needs, resolved once from its config.

    Attributes:
      kind: `config.init.kind`.
      entry: the pretrained weights' manifest or registry entry (None for `random`, and for
        a finished run read back from its `init_report.json`).
      checkpoint: the pretrained checkpoint's path ('' where there is none).
      preprocessing: the run's pixel preprocessing: the weights' own, else the config's.
      model_options: builder options (`config.model.options`, narrowed above up_to for a
        hybrid).
    """

    kind: str
    entry: manifest.CheckpointEntry | registry.TrainedEntry | None
    checkpoint: str
    preprocessing: str
    model_options: dict


def resolve(
    config: ml_collections.ConfigDict, *, workdir: str | None = None, read_weights: bool = True
) -> InitPlan:
    """Checks `config.init` and finds its weights, before any data is read.

    With a `workdir` whose `init_report.json` exists (a run that already started), the plan
    is the one recorded there: its preprocessing wins (a later re-registration of weights
    cannot change a started run) and no weights are looked up.

    Args:
      config: the run config.
      workdir: the run's workdir, if it may have started.
      read_weights: read the pretrained checkpoint whole, so a damaged file shows now.

    Raises:
      InitError: unknown kind/rest/bn_mode, a transfusion without up_to, weights that are
        not registered, or registered weights trained with other model options.
      InitCheckpointError: the checkpoint is missing or damaged (names the file).
    """
    options = model_options(config)
    recorded = _recorded_preprocessing(workdir)
    if recorded is not None:
        return InitPlan(config.init.kind, None, "", recorded, options)
    _check_fields(config.init)
    if config.init.kind == "random":
        return InitPlan("random", None, "", config.model.preprocessing, options)
    entry = weights_entry(config)
    path = checkpoint_path(config, entry)
    if read_weights:
        try:
            checkpoint.verify_checkpoint(path)
        except checkpoint.CheckpointReadError as e:
            raise InitCheckpointError(f"init.checkpoint: {e}") from None
    if isinstance(entry, registry.TrainedEntry):
        trained = _plain(entry.model_options)
        ours = _plain(dict(config.model.options))
        if trained != ours:
            raise InitError(
                f"{config.model.name} weights in {registry.registry_path(config.init.registry)} "
                f"were trained with model.options {trained}; this config has {ours}"
            )
    return InitPlan(config.init.kind, entry, path, entry.preprocessing, options)


def _check_fields(init: ml_collections.ConfigDict) -> None:
    try:
        excluded = scopes.scope_names(init.get("exclude_scopes", ""))
    except ValueError as e:
        raise InitError(f"init.exclude_scopes: {e}") from None
    if excluded and init.kind == "random":
        raise InitError(
            f"init.exclude_scopes={list(excluded)}: init.kind=random copies no pretrained "
            "weights to exclude"
        )
    if init.kind not in KINDS:
        raise InitError(f"unknown init.kind {init.kind!r}; valid: {', '.join(KINDS)}")
    if init.rest not in surgery.REST_MODES:
        raise InitError(f"unknown init.rest {init.rest!r}; valid: {surgery.REST_MODES}")
    if init.bn_mode not in surgery.BN_MODES:
        raise InitError(f"unknown init.bn_mode {init.bn_mode!r}; valid: {surgery.BN_MODES}")
    if init.kind == "transfusion" and not init.up_to:
        raise InitError("init.kind=transfusion needs init.up_to (an endpoint such as block1)")


def _recorded_preprocessing(workdir: str | None) -> str | None:
    path = os.path.join(workdir, "init_report.json") if workdir else ""
    if not path or not os.path.exists(path):
        return None
    remedy = "it records how the run started: restore it from a copy"
    return provenance.read_json(path, remedy=remedy)["preprocessing"]


def weights_entry(
    config: ml_collections.ConfigDict,
) -> manifest.CheckpointEntry | registry.TrainedEntry | None:
    """The pretrained weights' entry, or None for `random`."""
    if config.init.kind == "random":
        return None
    try:
        return registry.find_weights(config.model.name, config.init.registry or None)
    except registry.RegistryError as e:
        raise InitError(f"init.kind={config.init.kind}: {e}") from None


def checkpoint_path(config: ml_collections.ConfigDict, entry) -> str:
    """`init.checkpoint`, else the registered entry's checkpoint."""
    path = config.init.checkpoint or getattr(entry, "path", "")
    if not path:
        raise InitError(
            f"init.kind={config.init.kind} for {config.model.name} needs "
            f"--config.init.checkpoint=<checkpoint>; fetch it with `python -m "
            f"slim_weights.download --model={config.model.name} --dir=<dir>`"
        )
    try:
        checkpoint.resolve_checkpoint(path)
    except checkpoint.CheckpointReadError as e:
        raise InitCheckpointError(f"init.checkpoint: {e}") from None
    return path


def model_options(config: ml_collections.ConfigDict) -> dict:
    """Builder options: `config.model.options`, narrowed above up_to for hybrid_slim."""
    options = dict(config.model.options)
    if config.init.kind == "hybrid_slim":
        options = slim_top_options(
            config.model.name,
            options,
            up_to=config.init.up_to or HYBRID_DEFAULT_UP_TO,
            width_factor=config.init.width_factor,
        )
    return options


def pretrained_variables(
    model: tf.keras.Model, entry, path: str
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Reads pretrained weights and keys them by the model's variable names.

    Names map through `slim_weights.loading.slim_name`; checkpoint variables with no model
    variable keep their checkpoint name (a hybrid's unused top, a head). For a 1-channel
    model the first conv is summed over RGB (`loading.sum_rgb_channels`).

    Returns:
      ({name: array}, bookkeeping names ignored).
    """
    try:
        raw = checkpoint.read_checkpoint(path)
    except checkpoint.CheckpointReadError as e:
        raise InitCheckpointError(f"init.checkpoint: {e}") from None
    names, ignored = checkpoint.split_bookkeeping(raw)
    values = {n: raw[n] for n in names}
    first = [v for v in model.variables if loading.slim_name(v.name) == entry.first_conv]
    if first and first[0].shape[2] == 1 and np.shape(values.get(entry.first_conv))[2:3] == (3,):
        values = loading.sum_rgb_channels(values, entry.first_conv)
    to_model = {loading.slim_name(v.name): v.name for v in model.variables}
    return {to_model.get(n, n): v for n, v in values.items()}, sorted(ignored)


def initialize(model: tf.keras.Model, config: ml_collections.ConfigDict, plan: InitPlan) -> dict:
    """Applies `config.init` to a freshly built model and returns the report.

    Args:
      model: built by `experiment.build_model(config, plan)`, still at its initialisation.
      config: the run config (its `init`, `model` and `seed` fields).
      plan: `resolve(config)` (not read back from a workdir: it needs the weights).

    Returns:
      The report (JSON-ready): kind, config.init, model and parameter counts, the model's
      initialisers (what `reinitialised` and `fresh_head` variables drew from) and weight
      decay, the weights' entry and checkpoint, preprocessing, and the surgery report
      (every variable once).

    Raises:
      InitError: see `validate`; surgery.SurgeryError: weights that do not match.
    """
    init = config.init
    fresh = {v.name: v.numpy() for v in model.variables}
    endpoint_of = variable_endpoints(model)
    order = endpoint_names(model)
    head = [n for n, e in endpoint_of.items() if e == order[-1]]
    entry = plan.entry
    weights_info = None
    if plan.kind == "random":
        weights, report = surgery.random_init(fresh, exclude=head, endpoint_of=endpoint_of)
    else:
        if entry is None:
            raise ValueError("initialize needs a plan from resolve(config), not a recorded one")
        path = plan.checkpoint
        pretrained, ignored = pretrained_variables(model, entry, path)
        exclude = tuple(entry.head_scopes)
        outside = [n for n in head if not loading.in_scopes(n, exclude)]
        if outside:
            raise InitError(f"head variables {outside} lie outside the weights' head {exclude}")
        foreign = [n for n in pretrained if n not in endpoint_of]
        endpoint_of = {
            **{n: e for n, e in endpoints_by_scope(foreign, endpoint_of).items() if e},
            **endpoint_of,
        }
        rng = np.random.default_rng([config.seed, init.seed])
        kept_fresh = tuple(
            n for n in excluded_variables(model, init) if not loading.in_scopes(n, exclude)
        )
        weights, report = _SURGERY[plan.kind](
            init, model, fresh, pretrained, exclude + kept_fresh, endpoint_of, order, rng
        )
        report = surgery.keep_fresh(report, kept_fresh, "init.exclude_scopes")
        weights_info = {
            "type": "trained" if isinstance(entry, registry.TrainedEntry) else "released",
            **_plain(dataclasses.asdict(entry)),
            "checkpoint_path": path,
            "ignored_bookkeeping": ignored,
            "pretrained_values_outside_head": int(
                sum(np.size(v) for n, v in pretrained.items() if not loading.in_scopes(n, exclude))
            ),
        }
    for var in model.variables:
        var.assign(weights[var.name])
    return {
        "kind": init.kind,
        "init": init.to_dict(),
        "model": {
            "name": config.model.name,
            "options": _plain(plan.model_options),
            "parameters": int(model.count_params()),
            "trainable_parameters": int(sum(np.size(v) for v in model.trainable_variables)),
            **init_summary(model),
        },
        "weights": weights_info,
        "preprocessing": plan.preprocessing,
        "surgery": report.to_json(),
    }


def excluded_variables(model: tf.keras.Model, init: ml_collections.ConfigDict) -> tuple:
    """Names of the model variables `init.exclude_scopes` keeps at the model's own
    initialisation (TF-Slim's `checkpoint_exclude_scopes`; the head is always fresh).

    Raises:
      scopes.ScopeError: a scope that selects no variable of the model.
    """
    names = scopes.scope_names(init.get("exclude_scopes", ""))
    selected = scopes.select(model, names, "init.exclude_scopes") if names else {}
    chosen = {name for names in selected.values() for name in names}
    return tuple(v.name for v in model.variables if v.name in chosen)


# One function per pretrained kind: (init, model, fresh, pretrained, exclude, endpoint_of,
# endpoint order, rng) -> (weights, surgery report).


def _transfer(init, model, fresh, pretrained, exclude, endpoint_of, order, rng):
    return surgery.transfer(pretrained, fresh, exclude=exclude, endpoint_of=endpoint_of)


def _mean_var(init, model, fresh, pretrained, exclude, endpoint_of, order, rng):
    return surgery.mean_var(
        pretrained, fresh, rng=rng, exclude=exclude, bn_mode=init.bn_mode, endpoint_of=endpoint_of
    )


def _transfuse(init, model, fresh, pretrained, exclude, endpoint_of, order, rng):
    return surgery.transfuse(
        pretrained,
        fresh,
        endpoint_of=endpoint_of,
        endpoints=order,
        up_to=init.up_to,
        exclude=exclude,
        rest=init.rest,
        rng=rng,
        bn_mode=init.bn_mode,
    )


def _hybrid(init, model, fresh, pretrained, exclude, endpoint_of, order, rng):
    return surgery.hybrid(
        pretrained,
        fresh,
        endpoint_of=endpoint_of,
        endpoints=order,
        up_to=init.up_to or HYBRID_DEFAULT_UP_TO,
        exclude=exclude,
    )


def _gabor(init, model, fresh, pretrained, exclude, endpoint_of, order, rng):
    conv1 = first_conv_kernel(model)
    if conv1 not in pretrained:
        raise InitError(f"the pretrained weights have no {conv1} to take the std from")
    return surgery.gabor_conv1(
        fresh,
        conv1=conv1,
        target_std=float(np.std(np.asarray(pretrained[conv1], np.float64))),
        exclude=exclude,
        endpoint_of=endpoint_of,
    )


_SURGERY = {
    "imagenet": _transfer,
    "mean_var": _mean_var,
    "transfusion": _transfuse,
    "hybrid_slim": _hybrid,
    "gabor_conv1": _gabor,
}


def first_conv_kernel(model: tf.keras.Model) -> str:
    """The name of the model's first 4-D kernel (conv1 of every registered family)."""
    for var in model.variables:
        if var.name.split(":")[0].endswith("/kernel") and len(var.shape) == 4:
            return var.name
    raise InitError(f"model {model.name!r} has no conv kernel")


def _plain(value):
    """JSON-normal form (tuples -> lists), so configs and JSON entries compare equal."""
    return json.loads(json.dumps(value, default=lambda v: v.to_dict()))
