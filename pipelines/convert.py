r"""Converts a registered image-file dataset to sharded TFRecords and a manifest.

Usage:
  python -m pipelines.convert --dataset=eyepacs --root=/data/eyepacs --out=/data/eyepacs_tfr \
      [--split_fractions=train=0.8,valid=0.1,test=0.1] [--split_seed=0] \
      [--on_bad_image=stop|skip] [--shard_mb=200 | --num_shards=64] [--shuffle_seed=0] \
      [--max_side=0] [--jpeg_quality=95] [--option=key=value ...] [--workers=4]

Writes `<out>/<split>-NNNNN-of-MMMMM` and `<out>/manifest.json`
(`pipelines.records.conversion.convert_dataset`). Train from the result with
`--config.data.name=tfrecords --config.data.root=<out>`. Pass the split fractions, seed
and reader options of your config: the splits are fixed here. `--max_side=N` downscales
every image whose longer side exceeds N once, here, instead of every epoch (e.g. 3-10 MP
EyePACS photographs to 1024 px for a 587 px model). Exit status 1 when the dataset is
refused (one `error:` line naming the file and line), 2 for a bad flag value.
"""

from __future__ import annotations

import json
import time

from absl import flags

import errors
from pipelines import datasets, flag_values
from pipelines.records import conversion

_DATASET = flags.DEFINE_string("dataset", None, "Registered image-file dataset.", required=True)
_ROOT = flags.DEFINE_string("root", None, "Dataset root, as for training.", required=True)
_OUT = flags.DEFINE_string("out", None, "Output directory (new or empty).", required=True)
_SPLIT_FRACTIONS = flags.DEFINE_string(
    "split_fractions",
    "",
    "As data.split_fractions, e.g. train=0.8,valid=0.1,test=0.1; '' is the dataset's "
    "default (its DatasetSpec.split_fractions in pipelines.datasets).",
)
_SPLIT_SEED = flags.DEFINE_integer("split_seed", 0, "As data.split_seed.")
_ON_BAD_IMAGE = flags.DEFINE_enum(
    "on_bad_image", "stop", ["stop", "skip"], "As data.on_bad_image; skips are in the manifest."
)
_SHUFFLE_SEED = flags.DEFINE_integer("shuffle_seed", 0, "Seeds the order across shards.")
_NUM_SHARDS = flags.DEFINE_integer(
    "num_shards", 0, "Shards per split; 0 chooses them by --shard_mb (at least one)."
)
_SHARD_MB = flags.DEFINE_float(
    "shard_mb", conversion.DEFAULT_SHARD_MB, "Target shard size in MB (source bytes)."
)
_OPTIONS = flags.DEFINE_multi_string(
    "option", [], "Reader option key=value (repeatable), as data.options."
)
_MAX_SIDE = flags.DEFINE_integer(
    "max_side", 0, "Downscale images whose longer side exceeds this (0: store as they are)."
)
_JPEG_QUALITY = flags.DEFINE_integer(
    "jpeg_quality", 95, "Quality of JPEGs re-encoded by --max_side.", lower_bound=1, upper_bound=100
)
_WORKERS = flags.DEFINE_integer("workers", 4, "Threads reading and decoding images.")


def _print_progress(start: float, done: int, total: int) -> None:
    if done % max(1, total // 10) == 0 or done == total:
        rate = done / max(time.monotonic() - start, 1e-9)
        print(f"{done}/{total} images, {rate:.0f} images/s", flush=True)


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    fractions = flag_values.parse_fractions(_SPLIT_FRACTIONS.value)
    start = time.monotonic()
    manifest = conversion.convert_dataset(
        _DATASET.value,
        _ROOT.value,
        _OUT.value,
        split_fractions=fractions or datasets.get_dataset(_DATASET.value).split_fractions,
        split_seed=_SPLIT_SEED.value,
        on_bad_image=_ON_BAD_IMAGE.value,
        shuffle_seed=_SHUFFLE_SEED.value,
        num_shards=_NUM_SHARDS.value or None,
        shard_mb=_SHARD_MB.value,
        max_side=_MAX_SIDE.value,
        jpeg_quality=_JPEG_QUALITY.value,
        workers=_WORKERS.value,
        progress=lambda done, total: _print_progress(start, done, total),
        **flag_values.parse_key_values(_OPTIONS.value),
    )
    splits = {
        split: {"examples": e["examples"], "shards": len(e["shards"]), "bytes": e["bytes"]}
        for split, e in manifest["splits"].items()
    }
    print(
        json.dumps(
            {
                "out": _OUT.value,
                "splits": splits,
                "totals": manifest["totals"],
                "skipped_images": manifest["skipped_images"],
                "seconds": round(time.monotonic() - start, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    errors.run(main)
