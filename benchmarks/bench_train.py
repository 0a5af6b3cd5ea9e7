"""Is the input pipeline the bottleneck? Trainer images/s vs the compute-only step.

Side by side in one process, for each precision: (a) the full trainer path
(`transfusion_tf.trainer.train_and_evaluate`: JPEG files on disk -> tf.data -> Keras fit with
the trainer's callbacks) and (b) the same model, optimizer and callbacks fitting one
in-memory batch repeated. Each is measured as the median images/s over logging intervals
after warm-up; a and b alternate `--repeats` times so machine noise hits both alike.

  python benchmarks/bench_train.py [--steps=30] [--precisions=float32,mixed_bfloat16]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from pipelines.synthetic import eyepacs as synthetic_eyepacs
from transfusion_tf import callbacks, experiment, precision, schedule, trainer
from transfusion_tf.configs import retina

_STEPS = flags.DEFINE_integer("steps", 30, "Timed steps per measurement (after warm-up).")
_WARMUP = flags.DEFINE_integer("warmup", 10, "Untimed steps before timing.")
_LOG_EVERY = flags.DEFINE_integer("log_every", 5, "Steps per timing interval.")
_REPEATS = flags.DEFINE_integer("repeats", 4, "Alternating repetitions of (a) and (b).")
_SIZE = flags.DEFINE_integer("image_size", 128, "Model input side.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Global batch size.")
_MODEL = flags.DEFINE_string("model", "cbr_small", "Registered model name.")
_PRECISIONS = flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Precisions.")
_PATIENTS = flags.DEFINE_integer("num_patients", 200, "Synthetic patients (2 images each).")


def _config(root: str, policy: str):
    config = retina.get_config("demo")
    config.data.root = root
    config.precision = policy
    config.model.name = _MODEL.value
    config.data.image_size = _SIZE.value
    config.train.batch_size = _BATCH.value
    total = _WARMUP.value + _STEPS.value
    config.train.total_steps = total
    config.train.checkpoint_every = total
    config.train.eval_every = total
    config.train.log_every = _LOG_EVERY.value
    config.eval.log_bootstrap_samples = 0
    return config


def trainer_rate(root: str, policy: str) -> float:
    """(a) images/s of the real trainer on JPEG files (median interval after warm-up).

    Read back from the run's own TensorBoard `images_per_second` scalars.
    """
    with tempfile.TemporaryDirectory() as workdir:
        trainer.train_and_evaluate(_config(root, policy), workdir)
        rates = {}
        events = os.path.join(workdir, "tensorboard", "train")
        for name in os.listdir(events):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(events, name)):
                for value in event.summary.value:
                    if value.tag == "images_per_second":
                        rates[event.step] = float(tf.make_ndarray(value.tensor))
    return statistics.median(v for step, v in rates.items() if step > _WARMUP.value)


def compute_rate(root: str, policy: str) -> float:
    """(b) images/s of the same model, optimizer and callbacks on one in-memory batch."""
    config = _config(root, policy)
    precision.apply_precision(policy)
    task = experiment.get_task(config)
    model = experiment.build_model(config)
    lr = schedule.make_schedule(config.schedule, base=1e-3, total_steps=config.train.total_steps)
    model.compile(
        optimizer=schedule.make_optimizer(config.optimizer, lr),
        loss=task.loss(),
        metrics=task.keras_metrics(),
    )
    size, batch = config.data.image_size, config.train.batch_size
    images = tf.random.stateless_uniform((batch, size, size, 3), (0, 0), -1.0, 1.0)
    labels = tf.random.stateless_uniform((batch,), (0, 1), 0, 5, tf.int64)
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    logger = callbacks.TrainLogger(
        writer=None,
        schedule=lr,
        log_every=_LOG_EVERY.value,
        total_steps=config.train.total_steps,
        batch_size=batch,
    )
    model.fit(
        data,
        steps_per_epoch=config.train.total_steps,
        callbacks=[callbacks.NonFiniteLossGuard(), logger],
        verbose=0,
    )
    # Interval i ends at step (i + 1) * log_every; keep those ending after the warm-up.
    rates = logger.images_per_second
    return statistics.median(
        r for i, r in enumerate(rates) if (i + 1) * _LOG_EVERY.value > _WARMUP.value
    )


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    data_root = tempfile.mkdtemp(prefix="bench_train_")
    start = time.perf_counter()
    synthetic_eyepacs.write_eyepacs(
        data_root, num_patients=_PATIENTS.value, image_size=max(_SIZE.value, 160), seed=0
    )
    print(f"generated {2 * _PATIENTS.value} JPEGs in {time.perf_counter() - start:.1f} s")
    print(
        f"model {_MODEL.value}, {_SIZE.value}x{_SIZE.value}, batch {_BATCH.value}, "
        f"{_STEPS.value} timed steps after {_WARMUP.value}, {_REPEATS.value} alternating repeats"
    )
    print(f"{'precision':<16}{'(a) trainer img/s':>20}{'(b) compute img/s':>20}{'a/b':>8}")
    for policy in _PRECISIONS.value:
        a, b = [], []
        for _ in range(_REPEATS.value):
            a.append(trainer_rate(data_root, policy))
            b.append(compute_rate(data_root, policy))
        ra, rb = float(np.median(a)), float(np.median(b))
        print(f"{policy:<16}{ra:>20.1f}{rb:>20.1f}{ra / rb:>8.3f}")
        print(f"{'':<16}(a) runs: {', '.join(f'{x:.1f}' for x in a)}")
        print(f"{'':<16}(b) runs: {', '.join(f'{x:.1f}' for x in b)}")


if __name__ == "__main__":
    app.run(main)
