r"""Writes the synthetic source task as TF-Slim ImageNet TFRecords.

Usage:
  python -m pipelines.generate_source --root=/tmp/source --num_classes=24 \
      --train_per_class=400 --validation_per_class=50 --image_size=64 --seed=0

Pretrain a CBR on it with `transfusion_tf/configs/source_pretrain.py:demo` (see that file).
Prints progress about every 10% and a JSON summary at the end.
"""

from __future__ import annotations

import json
import time

from absl import flags

import errors
from pipelines.synthetic import source as synthetic_source

_ROOT = flags.DEFINE_string("root", None, "Output directory.", required=True)
_NUM_CLASSES = flags.DEFINE_integer("num_classes", 24, "Classes (at most 24).")
_TRAIN = flags.DEFINE_integer("train_per_class", 400, "Training images per class.")
_VALIDATION = flags.DEFINE_integer("validation_per_class", 50, "Validation images per class.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Image side in pixels.")
_SEED = flags.DEFINE_integer("seed", 0, "Dataset seed; same seed, same bytes.")
_TRAIN_SHARDS = flags.DEFINE_integer("train_shards", 8, "TFRecord files of the train split.")
_VALIDATION_SHARDS = flags.DEFINE_integer("validation_shards", 2, "Files of validation.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality (1..95).")


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    start = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done % max(1, total // 10) == 0 or done == total:
            rate = done / max(time.monotonic() - start, 1e-9)
            print(f"{done}/{total} images, {rate:.0f} images/s", flush=True)

    summary = synthetic_source.write_source(
        _ROOT.value,
        num_classes=_NUM_CLASSES.value,
        train_per_class=_TRAIN.value,
        validation_per_class=_VALIDATION.value,
        image_size=_IMAGE_SIZE.value,
        seed=_SEED.value,
        train_shards=_TRAIN_SHARDS.value,
        validation_shards=_VALIDATION_SHARDS.value,
        jpeg_quality=_JPEG_QUALITY.value,
        progress=progress,
    )
    summary["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    errors.run(main)
