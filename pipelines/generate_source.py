r"""Writes the synthetic source task as TF-Slim ImageNet TFRecords.

Usage:
  python -m pipelines.generate_source --root=/tmp/source --num_classes=24 \
      --train_per_class=400 --validation_per_class=50 --image_size=64 --seed=0

Pretrain a CBR on it with `transfusion_tf/configs/source_pretrain.py:demo` (see that file).
Prints progress after every tenth of the images and a JSON summary at the end.
"""

from __future__ import annotations

import json
import time

from absl import flags

import errors
from pipelines.synthetic import source as synthetic_source
from pipelines.synthetic import writing

_ROOT = flags.DEFINE_string("root", None, "Output directory.", required=True)
# Every other flag is the `write_source` argument of its name.
_WRITER_FLAGS = (
    flags.DEFINE_integer("num_classes", 24, "Classes (at most 24)."),
    flags.DEFINE_integer("train_per_class", 400, "Training images per class."),
    flags.DEFINE_integer("validation_per_class", 50, "Validation images per class."),
    flags.DEFINE_integer("image_size", 64, "Image side in pixels."),
    flags.DEFINE_integer("seed", 0, "Dataset seed; same seed, same bytes."),
    flags.DEFINE_integer("train_shards", 8, "TFRecord files of the train split."),
    flags.DEFINE_integer("validation_shards", 2, "Files of validation."),
    flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality (1..95)."),
)


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    start = time.monotonic()
    arguments = {flag.name: flag.value for flag in _WRITER_FLAGS}
    progress = writing.console_progress()
    summary = synthetic_source.write_source(_ROOT.value, progress=progress, **arguments)
    summary["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    errors.run(main)
