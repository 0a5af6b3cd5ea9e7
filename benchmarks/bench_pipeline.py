"""Decode + resize speed: JPEG files on disk vs the same images in TFRecord shards.

Side by side in one process: synthetic retina JPEGs at a realistic source size (the
generator behind `pipelines.generate --dataset=eyepacs`), converted once with
`pipelines.conversion` (bytes stored as they are). Each measurement runs one input
pipeline restricted to one core (tf.data private thread pool of 1, map parallelism 1,
intra-op parallelism 1) over every image: (a) `input_pipeline.load_image` on the file
paths, as the file pipeline does; (b) TFRecordDataset -> `image_examples.parse_example`
-> `input_pipeline.decode_image`, as the record pipeline does; (c) as (b) on shards
converted with `max_side` = the model input (`pipelines.convert --max_side`), which
downscale each image once at conversion. All resize to the model input (587 px, pad mode).
a, b and c alternate `--repeats` times; the table gives the median images/s of each, per
CPU-second of the process (robust to other jobs on a shared machine) and per wall-clock
second on the one core, and the ratios to the files.

  python benchmarks/bench_pipeline.py [--num_patients=32] [--source_size=1024] [--repeats=5]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from absl import app, flags

from pipelines import conversion, datasets, input_pipeline, record_datasets, synthetic_retina

_PATIENTS = flags.DEFINE_integer("num_patients", 32, "Synthetic patients (2 images each).")
_SOURCE = flags.DEFINE_integer("source_size", 1024, "Side of the source JPEGs in pixels.")
_SIZE = flags.DEFINE_integer("image_size", 587, "Resize target (the paper's retina input).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Alternating repetitions of (a) and (b).")
_SHARDS = flags.DEFINE_integer("num_shards", 4, "Shards of the converted split.")
_ROOT = flags.DEFINE_string("root", "", "Reuse/keep data here ('' = a temporary directory).")


def _one_core(ds: tf.data.Dataset) -> tf.data.Dataset:
    opts = tf.data.Options()
    opts.threading.private_threadpool_size = 1
    opts.threading.max_intra_op_parallelism = 1
    opts.autotune.enabled = False
    return ds.with_options(opts)


def _files(paths: list[str], size: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(paths)
    return _one_core(ds.map(lambda p: input_pipeline.load_image(p, size=size, channels=3)))


def _shards(split: record_datasets.RecordSplit, size: int) -> tf.data.Dataset:
    def load(source, record):
        example = split.parse(record, source=source)
        return input_pipeline.decode_image(example["image"], size=size, channels=3)

    files = tf.data.Dataset.from_tensor_slices(list(split.files))
    ds = files.flat_map(lambda f: tf.data.TFRecordDataset(f).map(lambda r: (f, r)))
    return _one_core(ds.map(load))


def _rate(ds: tf.data.Dataset, expected: int) -> tuple[float, float]:
    """(images per CPU-second of this process, images per wall-clock second)."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = 0
    for image in ds:
        count += 1
        del image
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if count != expected:
        raise RuntimeError(f"read {count} images, expected {expected}")
    return count / cpu, count / wall


def _prepare(root: str) -> tuple[list[str], dict[str, record_datasets.RecordSplit]]:
    source = os.path.join(root, "jpeg")
    if not os.path.exists(os.path.join(source, "trainLabels.csv")):
        synthetic_retina.write_eyepacs(
            source,
            num_patients=_PATIENTS.value,
            image_size=_SOURCE.value,
            seed=0,
            workers=os.cpu_count() or 1,
        )
    shards = {}
    for name, max_side in (("shards", 0), ("downscaled", _SIZE.value)):
        out = os.path.join(root, f"tfrecords_{max_side}")
        if not os.path.exists(os.path.join(out, "manifest.json")):
            conversion.convert_dataset(
                "eyepacs", source, out, split_fractions={"train": 1.0},
                num_shards=_SHARDS.value, max_side=max_side,
            )  # fmt: skip
        shards[name] = datasets.load_dataset("tfrecords", out, split_fractions={}).splits["train"]
    files = datasets.load_dataset("eyepacs", source, split_fractions={"train": 1.0})
    return list(files.splits["train"]["path"]), shards


def main(argv: list[str]) -> None:
    del argv
    with tempfile.TemporaryDirectory() as tmp:
        root = _ROOT.value or tmp
        paths, shards = _prepare(root)
        size, n = _SIZE.value, len(paths)
        megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
        print(
            f"{n} JPEGs of {_SOURCE.value} px ({megabytes / n:.2f} MB each), "
            f"{len(shards['shards'].files)} shards; decode + resize to {size} px on one core"
        )
        pipelines = {
            "files": lambda: _files(paths, size),
            "shards": lambda: _shards(shards["shards"], size),
            "downscaled": lambda: _shards(shards["downscaled"], size),
        }
        for make in pipelines.values():  # Warm-up: graph building, file cache.
            _rate(make().take(4), 4)
        rates = {name: [] for name in pipelines}
        for repeat in range(_REPEATS.value):
            for name, make in pipelines.items():
                rates[name].append(_rate(make(), n))
            print(
                f"  repeat {repeat + 1}: "
                + ", ".join(f"{name} {r[-1][0]:.1f}" for name, r in rates.items())
                + " images per CPU-second"
            )
    median = {
        path: [statistics.median(r[k] for r in runs) for k in (0, 1)]
        for path, runs in rates.items()
    }
    labels = {
        "files": "JPEG files",
        "shards": "TFRecord shards",
        "downscaled": f"TFRecord shards, --max_side={size}",
    }
    files = median["files"]
    print()
    print("| path | images per CPU-second | ratio | images/s wall, one core | ratio |")
    print("|---|---|---|---|---|")
    for name, (cpu, wall) in median.items():
        print(
            f"| {labels[name]} | {cpu:.1f} | {cpu / files[0]:.2f} | {wall:.1f} | "
            f"{wall / files[1]:.2f} |"
        )


if __name__ == "__main__":
    app.run(main)
