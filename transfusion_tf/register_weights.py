r"""Register a trained run's weights as its model's pretrained weights.

  python -m transfusion_tf.register_weights --workdir=runs/source_cbr_small \
      [--checkpoint=latest] [--registry=~/.transfusion_tf/weights.json] [--output=<prefix>]

Exports the checkpoint as a slim-named V2 checkpoint (default
`<workdir>/export/<model>-<step>`), then adds it to the registry under the run's model
name, replacing any earlier entry for that name. Afterwards `--config.init.kind=imagenet`
(also mean_var, transfusion, hybrid_slim, gabor_conv1) with that `model.name` starts from
these weights; pass the same `--config.init.registry` if you used a non-default one.
Prints the entry.
"""

from __future__ import annotations

import json

from absl import flags

import errors
from slim_weights import registry
from transfusion_tf import weights_export

_WORKDIR = flags.DEFINE_string("workdir", None, "The training run whose weights to register.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    "latest",
    "Which checkpoint: 'latest', 'best' (runs with train.keep_best), 'init' or a step "
    "number. A run that scored its weight averages (train.ema_decay) exports them.",
)
_REGISTRY = flags.DEFINE_string(
    "registry", "", f"Registry file to add the entry to; '' is {registry.DEFAULT_REGISTRY}."
)
_OUTPUT = flags.DEFINE_string(
    "output", "", "Where to write the exported checkpoint (a V2 prefix); '' is under workdir."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    entry = weights_export.export_run(
        _WORKDIR.value, which=_CHECKPOINT.value, output=_OUTPUT.value or None
    )
    path = registry.register(entry, _REGISTRY.value or None)
    print(json.dumps(entry.to_json(), indent=2))
    print(f"registered {entry.model} in {path}")


if __name__ == "__main__":
    errors.run(main)
