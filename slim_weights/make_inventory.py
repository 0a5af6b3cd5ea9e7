r"""Writes `slim_weights/inventory/<model>.json` from the live TF-Slim graph.

The inventory is the list of (variable name, shape) of the graph that wrote a released
checkpoint: `tf_slim.nets.resnet_v1.resnet_v1_50` with 1000 classes, and
`tf_slim.nets.inception_v3.inception_v3` with 1001 classes and its AuxLogits head.

  python -m slim_weights.make_inventory --model=resnet_v1_50
  python -m slim_weights.make_inventory --model=inception_v3 --output_dir=/tmp/inv
"""

from __future__ import annotations

import json
import pathlib

from absl import flags

import errors
from slim_weights import manifest
from slim_weights.slim_compat import slim_inventory

_MODEL = flags.DEFINE_enum("model", None, manifest.list_entries(), "Model whose graph to list.")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir",
    str(pathlib.Path(manifest.__file__).parent / "inventory"),
    "Directory for <model>.json.",
)


def write_inventory(model: str, output_dir: str) -> pathlib.Path:
    """Builds the slim graph of `model` and writes its inventory JSON; returns the path."""
    entry = manifest.get_entry(model)
    variables = slim_inventory(model)
    total = 0
    for shape in variables.values():
        count = 1
        for dim in shape:
            count *= dim
        total += count
    data = {
        "checkpoint": entry.checkpoint,
        "source": f"tf_slim.nets graph for {model}, num_classes={entry.num_classes}",
        "total_values": total,
        "variables": [[name, list(shape)] for name, shape in variables.items()],
    }
    path = pathlib.Path(output_dir) / f"{model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One variable per line: small, and reviewable as a diff when slim's graph changes.
    header = {k: v for k, v in data.items() if k != "variables"}
    lines = [json.dumps([name, list(shape)]) for name, shape in variables.items()]
    text = json.dumps(header, indent=1)[:-2] + ',\n "variables": [\n  '
    text += ",\n  ".join(lines) + "\n ]\n}\n"
    assert json.loads(text) == data
    path.write_text(text)
    return path


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    path = write_inventory(_MODEL.value, _OUTPUT_DIR.value)
    print(f"wrote {path}")


if __name__ == "__main__":
    flags.mark_flag_as_required("model")
    errors.run(main)
