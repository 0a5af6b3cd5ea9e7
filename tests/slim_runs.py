"""The slim reference runs of ResNet-50 v1 and Inception-v3, each made once per test session.

A run (`reference_run`) is the real slim graph (`slim_weights.slim_compat`) filled with
random weights and saved by slim's own Saver as V1 and V2, its end points on fixed random
images at the native size and at 587 px, the epsilons of its batch norms, and what slim's
own seeded initialisers drew and its regularisation loss of the random weights. Building a
graph takes seconds, evaluating it at 587 px more: `session_run` makes each run once for
all xdist workers of the session (tests/session.py) and every file reads it from there.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from slim_weights import manifest
from slim_weights.slim_compat import build_slim_inception_v3, build_slim_resnet_v1_50
from tests import session
from tests.slim_reference import random_slim_values, run_slim

# The graph seed under which slim's initialisers draw the run's `initial` values.
SLIM_INIT_SEED = 1234


@dataclasses.dataclass(frozen=True)
class ReferenceSpec:
    """How one slim network runs as the reference of its Keras twin (see `reference_run`).

    Attributes:
      name: the manifest entry, and the stem of the V1 checkpoint file (V2 is always
        `model.ckpt`).
      native_size: the released checkpoint's input side; two images are evaluated there.
      build: the slim graph at `native_size`, whose variables are saved as V1 and V2.
      build_587: the slim graph evaluated on one 587 px image, restored from a checkpoint;
        None evaluates `build`'s graph there too (one graph build fewer: seconds).
      restore_version: which saved checkpoint (`V1` or `V2`) `build_587` restores.
      pixel_range: (low, high) of the uniform random images, in the preprocessed range.
      seed: of the random weights.
      fetch: which slim end-point names to evaluate.
    """

    name: str
    native_size: int
    build: Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]]
    build_587: Callable[[tf.Tensor], tuple[tf.Tensor, dict[str, tf.Tensor]]] | None
    restore_version: str | None
    pixel_range: tuple[float, float]
    seed: int
    fetch: Callable[[str], bool]


RESNET_V1_50 = ReferenceSpec(
    name="resnet_v1_50",
    native_size=224,
    build=lambda x: build_slim_resnet_v1_50(x, num_classes=1000),
    build_587=None,  # slim's ResNet takes any size: the native graph runs at 587 too.
    restore_version=None,
    pixel_range=(-124.0, 152.0),  # vgg preprocessing: pixels minus the channel means
    seed=1,
    fetch=lambda k: k != "predictions",
)
INCEPTION_V3 = ReferenceSpec(
    name="inception_v3",
    native_size=299,
    build=lambda x: build_slim_inception_v3(x, num_classes=1001, aux_logits=True),
    # Beyond ~330 px slim's own head is an 8x8/2 average pool, not global; the reference
    # for our global-pool head is slim's body plus a global mean and slim's logits conv.
    build_587=lambda x: build_slim_inception_v3(
        x, num_classes=1001, aux_logits=False, global_pool=True
    ),
    restore_version="V2",
    pixel_range=(-1.0, 1.0),
    seed=2,
    fetch=lambda k: k != "Predictions",
)


def session_run(tmp_path_factory, spec: ReferenceSpec) -> dict:
    """`spec`'s run, made once per session (treat it as read-only); see `reference_run`."""
    directory = session.build_once(
        tmp_path_factory, f"slim_{spec.name}", lambda d: reference_run(spec, pathlib.Path(d))
    )
    return read_run(directory)


def reference_run(spec: ReferenceSpec, directory: pathlib.Path) -> None:
    """Random weights for the manifest's inventory run through slim at the native size and
    at 587 px; everything written into `directory` (read it with `read_run`).

    The slim graph's own variables must be the manifest's inventory, name for name and
    shape for shape (asserted: the inventory files are checked here against slim itself).
    """
    inventory = manifest.get_entry(spec.name).inventory()
    rng = np.random.default_rng(0)
    sizes = {spec.native_size: 2, 587: 1}  # side -> images
    inputs = {
        size: rng.uniform(*spec.pixel_range, (batch, size, size, 3)).astype(np.float32)
        for size, batch in sizes.items()
    }
    values = random_slim_values(inventory, seed=spec.seed)
    prefixes = {"V1": f"v1/{spec.name}.ckpt", "V2": "v2/model.ckpt"}
    same_graph = spec.build_587 is None
    native = run_slim(
        spec.build,
        values,
        [inputs[spec.native_size], *([inputs[587]] if same_graph else [])],
        fetch=spec.fetch,
        save_prefixes={k: str(directory / v) for k, v in prefixes.items()},
        initial_seed=SLIM_INIT_SEED,
    )
    assert native.inventory == inventory
    large = native.outputs[1] if same_graph else None
    if not same_graph:
        (large,) = run_slim(
            spec.build_587,
            values,
            [inputs[587]],
            fetch=spec.fetch,
            restore_from=str(directory / prefixes[spec.restore_version]),
        ).outputs
    np.savez(directory / "values.npz", **values)
    np.savez(directory / "initial.npz", **native.initial)
    np.savez(directory / "inputs.npz", **{str(size): x for size, x in inputs.items()})
    for size, outputs in ((spec.native_size, native.outputs[0]), (587, large)):
        np.savez(directory / f"outputs_{size}.npz", **outputs)
    meta = {
        "prefixes": prefixes,
        "epsilons": native.epsilons,
        "regularization_loss": native.regularization_loss,
        "regularized": sorted(native.regularized),
    }
    (directory / "run.json").write_text(json.dumps(meta))


def read_run(directory: pathlib.Path) -> dict:
    """The run `reference_run` wrote into `directory`.

    Returns:
      {'values': the random weights {name: array},
       'prefixes': {'V1' or 'V2': checkpoint path, holding `values` and the bookkeeping a
         released checkpoint carries: `global_step` and one Momentum slot},
       'inputs': {size: images (batch, size, size, 3) float32},
       'outputs': {size: a mapping {slim end point: array}},
       'epsilons': of the native-size graph's fused batch norms, in order,
       'initial': {name: the value slim's initialiser drew (graph seed SLIM_INIT_SEED)},
       'regularization_loss': slim's regularisation loss of `values` (float32 value),
       'regularized': {names of the variables it is over}}.
    """
    meta = json.loads((directory / "run.json").read_text())

    def arrays(name):
        with np.load(directory / name) as data:
            return {key: data[key] for key in data.files}

    return {
        "values": arrays("values.npz"),
        "prefixes": {k: str(directory / v) for k, v in meta["prefixes"].items()},
        "inputs": {int(k): v for k, v in arrays("inputs.npz").items()},
        # Read an end point at a time, when asked for (hundreds of MB at 587 px; some
        # readers need none): a mapping, each access reading the array afresh.
        "outputs": {
            int(path.stem.removeprefix("outputs_")): np.load(path)
            for path in sorted(directory.glob("outputs_*.npz"))
        },
        "epsilons": meta["epsilons"],
        "initial": arrays("initial.npz"),
        "regularization_loss": meta["regularization_loss"],
        "regularized": set(meta["regularized"]),
    }
