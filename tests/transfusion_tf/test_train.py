"""The training binary: a config that does not load, resume after SIGKILL to equal weights
(its --help: tests/test_help.py)."""

import os
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tests import binaries
from transfusion_tf import checkpointing, experiment

TRAIN = "transfusion_tf.train"


def _flags(root, workdir, total_steps, *overrides):
    return [
        "--config=transfusion_tf/configs/retina.py:test",
        f"--config.data.root={root}",
        f"--config.train.total_steps={total_steps}",
        "--config.train.eval_every=1000",
        "--config.train.checkpoint_every=6",
        "--config.augment.rotate_degrees=10",
        *overrides,
        f"--workdir={workdir}",
    ]


# Fine-tuning on, each with state a resume must restore: block1-2 frozen (their batch norm
# in inference mode), weight averages, the best evaluation kept, early stopping's count
# (a patience it never reaches), smoothed and class-weighted loss.
FINE_TUNING = (
    "--config.train.trainable_scopes=block3,block4,logits",
    "--config.train.ema_decay=0.9",
    "--config.train.eval_every=12",
    "--config.train.keep_best=True",
    "--config.train.early_stopping=100",
    "--config.train.label_smoothing=0.1",
    "--config.train.class_weights=balanced",
)


def test_a_config_file_that_does_not_load_is_one_line_and_exit_status_2(tmp_path):
    """The binary's own path (ml_collections reports such a file only on first use, here in
    main); tests/test_bad_input_matrix.py runs the config checks in process."""
    result = binaries.run_main(TRAIN, "--config=nope.py", f"--workdir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: --config: Configuration is not available because of an ")
    assert "No such file or directory: 'nope.py'" in last and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def _weights(workdir, which="latest"):
    reader = tf.train.load_checkpoint(checkpointing.checkpoint_path(workdir, which))
    return {
        key: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if key.startswith(("model/", "optimizer/", "ema/")) and "save_counter" not in key
    }


@pytest.mark.slow
def test_sigkill_then_rerun_ends_equal_to_an_uninterrupted_run(eyepacs_root, tmp_path):
    """With fine-tuning on (`FINE_TUNING`): the kill comes after evaluations at 12 and 24
    have kept a best checkpoint, so the resume replays them. Only the killed run needs a
    process of its own: the uninterrupted run and the rerun are the binary's main with the
    same flags in this process. (That a binary's TensorFlow import is quiet:
    tests/test_tensorflow_import.py.)"""
    total = 48
    straight = str(tmp_path / "straight")
    done = binaries.run_main(TRAIN, *_flags(eyepacs_root, straight, total, *FINE_TUNING))
    assert done.returncode == 0, done.stderr[-3000:]

    killed = str(tmp_path / "killed")
    process = binaries.start(
        TRAIN,
        *_flags(eyepacs_root, killed, total, *FINE_TUNING),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and _recorded_step(killed) < 24:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    # The step a restart resumes from: the last checkpoint the state file records (a kill
    # between writing ckpt-N's files and recording it leaves N-1 the latest complete one).
    resume_step = _recorded_step(killed)
    assert 24 <= resume_step < total, resume_step
    assert checkpointing.best_record(killed) is not None  # Kept before the kill.

    # The rerun: the binary's main again, in this process (the kill is what needed one).
    done = binaries.run_main(TRAIN, *_flags(eyepacs_root, killed, total, *FINE_TUNING))
    assert done.returncode == 0, done.stderr[-3000:]
    assert max(checkpointing.available_steps(killed)) == total
    log = open(os.path.join(killed, "train.log")).read()
    assert f"at step {resume_step}" in log  # It resumed rather than restarting.
    assert f"step {total}/{total}  loss" in log
    a, b = _weights(straight), _weights(killed)
    assert a.keys() == b.keys() and len(a) > 20
    assert len([k for k in a if k.startswith("ema/")]) == 12  # block3, block4, logits.
    different = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not different, different  # Bit for bit, weight averages included.
    # The same evaluations, to the bit, and the same best checkpoint.
    rows = [pd.read_csv(os.path.join(w, "eval_log.csv")) for w in (straight, killed)]
    assert list(rows[1]["step"]) == list(range(12, total + 1, 12))
    columns = ["step", "loss", "auc"]
    pd.testing.assert_frame_equal(rows[0][columns], rows[1][columns], check_exact=True)
    assert checkpointing.best_record(straight) == checkpointing.best_record(killed)
    best = [_weights(w, "best") for w in (straight, killed)]
    assert best[0].keys() == best[1].keys() and len(best[0]) > 20
    assert [k for k in best[0] if not np.array_equal(best[0][k], best[1][k])] == []
    # Frozen layers, batch-norm statistics included, never moved across the kill.
    init, final = _model_variables(killed, "init"), _model_variables(killed, "latest")
    frozen = [n for n in init if n.startswith(("block1/", "block2/"))]
    assert len(frozen) == 10
    assert [n for n in frozen if not np.array_equal(init[n], final[n])] == []
    assert [n for n in init if n not in frozen and np.array_equal(init[n], final[n])] == []


def _model_variables(workdir, which):
    """{variable name: value} of a run's checkpoint, restored into its model."""
    model = experiment.build_model(experiment.load_config(workdir))
    checkpointing.restore_weights(model, checkpointing.checkpoint_path(workdir, which))
    return {v.name: v.numpy() for v in model.variables}


def _recorded_step(workdir: str) -> int:
    """The step of the latest checkpoint recorded in the run's checkpoint state (-1: none)."""
    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    return int(path.rsplit("-", 1)[1]) if path else -1
