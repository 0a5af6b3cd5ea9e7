"""Decode + resize speed: JPEG files on disk vs the same images in TFRecord shards.

Side by side in one process: synthetic retina JPEGs at a realistic source size (the
generator behind `pipelines.generate --dataset=eyepacs`), converted once with
`pipelines.records.conversion` (bytes stored as they are). Each measurement runs one input
pipeline restricted to one core (tf.data private thread pool of 1, map parallelism 1,
intra-op parallelism 1) over every image: (a) `decoding.load_image` on the file
paths, as the file pipeline does; (b) TFRecordDataset -> `image_examples.parse_example`
-> `decoding.decode_image`, as the record pipeline does; (c) as (b) on shards
converted with `max_side` = the model input (`pipelines.convert --max_side`), which
downscale each image once at conversion. All resize to the model input (587 px, pad mode).
a, b and c alternate `--repeats` times, their order rotated each repeat; the table gives
the median images/s of each, per CPU-second of the process (robust to other jobs on a
shared machine) and per wall-clock second on the one core, and the ratios to the files.

Then, in the same run, what training consumes: a compute-only float32 train step (forward,
softmax cross-entropy, gradients, SGD with momentum; one random in-memory batch, no input
pipeline) of `get_model('cbr_small')` and `get_model('resnet_v1_50')` at the same input
size, on every core TensorFlow uses, timed over `--train_steps` steps after
`--train_warmup` (tracing). The second table gives its images/s (wall) and images per
CPU-second (= per training core fully busy), and per input pipeline the input cores one
training core needs, (training images per CPU-second) / (decode images per CPU-second),
and its inverse, the training cores one input core can feed.

  python benchmarks/bench_pipeline.py [--num_patients=32] [--source_size=1024] [--repeats=5] \
      [--models=cbr_small,resnet_v1_50] [--train_batch_size=2] [--train_steps=3]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from absl import app, flags

from pipelines import datasets, decoding
from pipelines.records import conversion
from pipelines.records.record_split import RecordSplit
from pipelines.synthetic import eyepacs as synthetic_eyepacs
from transfusion_tf import models

_PATIENTS = flags.DEFINE_integer("num_patients", 32, "Synthetic patients (2 images each).")
_SOURCE = flags.DEFINE_integer("source_size", 1024, "Side of the source JPEGs in pixels.")
_SIZE = flags.DEFINE_integer("image_size", 587, "Resize target (the paper's retina input).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Alternating repetitions of (a) and (b).")
_SHARDS = flags.DEFINE_integer("num_shards", 4, "Shards of the converted split.")
_ROOT = flags.DEFINE_string("root", "", "Reuse/keep data here ('' = a temporary directory).")
_MODELS = flags.DEFINE_list("models", ["cbr_small", "resnet_v1_50"], "Models whose train step.")
_TRAIN_BATCH = flags.DEFINE_integer("train_batch_size", 2, "Batch of the timed train step.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 3, "Timed train steps per model.")
_TRAIN_WARMUP = flags.DEFINE_integer("train_warmup", 2, "Untimed train steps (tracing) first.")


def _one_core(ds: tf.data.Dataset) -> tf.data.Dataset:
    opts = tf.data.Options()
    opts.threading.private_threadpool_size = 1
    opts.threading.max_intra_op_parallelism = 1
    opts.autotune.enabled = False
    return ds.with_options(opts)


def _files(paths: list[str], size: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(paths)
    return _one_core(ds.map(lambda p: decoding.load_image(p, size=size, channels=3)))


def _shards(split: RecordSplit, size: int) -> tf.data.Dataset:
    def load(source, record):
        example = split.parse(record, source=source)
        return decoding.decode_image(example["image"], size=size, channels=3)

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


def train_rate(name: str, size: int, batch: int, steps: int, warmup: int) -> tuple[float, float]:
    """(images/s wall, images per CPU-second) of a compute-only float32 train step.

    One random in-memory batch of (batch, size, size, 3) float32 images in [-1, 1] and
    5-class labels, reused every step; the step is one `tf.function`.
    """
    tf.keras.backend.clear_session()
    model = models.get_model(name, num_classes=5, input_shape=(size, size, 3))
    optimizer = tf.keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    images = tf.random.stateless_uniform((batch, size, size, 3), (0, 0), -1.0, 1.0)
    labels = tf.random.stateless_uniform((batch,), (0, 1), 0, 5, tf.int64)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(logits, tf.float32))
            )
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    for _ in range(warmup):
        step().numpy()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step().numpy()  # .numpy() waits for the step.
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return steps * batch / wall, steps * batch / cpu


def _prepare(root: str) -> tuple[list[str], dict[str, RecordSplit]]:
    source = os.path.join(root, "jpeg")
    if not os.path.exists(os.path.join(source, "trainLabels.csv")):
        synthetic_eyepacs.write_eyepacs(
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
    return list(files.splits["train"].rows()["path"]), shards


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
        names = list(pipelines)
        for repeat in range(_REPEATS.value):
            # Rotate the order each repeat so no path always runs first (or after another).
            for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                rates[name].append(_rate(pipelines[name](), n))
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
    batch, steps = _TRAIN_BATCH.value, _TRAIN_STEPS.value
    print()
    print(
        f"Training consumption: compute-only float32 train step at {size} px, batch {batch}, "
        f"{steps} timed steps after {_TRAIN_WARMUP.value}, {os.cpu_count()} cores"
    )
    print(
        "| model | train images/s wall | train images per CPU-second | input | decode images "
        "per CPU-second | input cores per training core | training cores fed per input core |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in _MODELS.value:
        wall, cpu = train_rate(name, size, batch, steps, _TRAIN_WARMUP.value)
        for path, (decode, _) in median.items():
            print(
                f"| {name} | {wall:.2f} | {cpu:.2f} | {labels[path]} | {decode:.1f} | "
                f"{cpu / decode:.3f} | {decode / cpu:.1f} |"
            )


if __name__ == "__main__":
    app.run(main)
