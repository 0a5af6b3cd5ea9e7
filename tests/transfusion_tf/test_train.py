"""The training binary: --help, flags only in binaries, resume after SIGKILL to equal weights."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from tests import binaries
from transfusion_tf import checkpointing

TRAIN = "transfusion_tf.train"


def _flags(root, workdir, total_steps):
    return [
        "--config=transfusion_tf/configs/retina.py:test",
        f"--config.data.root={root}",
        f"--config.train.total_steps={total_steps}",
        "--config.train.eval_every=1000",
        "--config.train.checkpoint_every=10",
        "--config.augment.rotate_degrees=10",
        f"--workdir={workdir}",
    ]


@pytest.mark.slow
def test_help_lists_the_flags():
    out = binaries.run(TRAIN, "--help", check=False).stdout
    assert "--config" in out and "--workdir" in out and "resumes" in out


@pytest.mark.slow
def test_a_config_file_that_does_not_load_is_one_line_and_exit_status_2(tmp_path):
    """The binary's own path (ml_collections reports such a file only on first use, here in
    main); tests/test_bad_input_matrix.py runs the config checks in process."""
    result = binaries.run(TRAIN, "--config=nope.py", f"--workdir={tmp_path / 'run'}", check=False)
    assert result.returncode == 2, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: --config: Configuration is not available because of an ")
    assert "No such file or directory: 'nope.py'" in last and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def _weights(workdir):
    reader = tf.train.load_checkpoint(checkpointing.checkpoint_path(workdir))
    return {
        key: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if key.startswith(("model/", "optimizer/")) and "save_counter" not in key
    }


@pytest.mark.slow
def test_sigkill_then_rerun_ends_equal_to_an_uninterrupted_run(eyepacs_root, tmp_path):
    total = 40  # 4 loops of 10 steps, each checkpointed: a kill after step 10 lands mid-run.
    straight = str(tmp_path / "straight")
    binaries.run(TRAIN, *_flags(eyepacs_root, straight, total))

    killed = str(tmp_path / "killed")
    process = binaries.start(
        TRAIN,
        *_flags(eyepacs_root, killed, total),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and _recorded_step(killed) < 10:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    # The step a restart resumes from: the last checkpoint the state file records (a kill
    # between writing ckpt-N's files and recording it leaves N-1 the latest complete one).
    resume_step = _recorded_step(killed)
    assert 10 <= resume_step < total, resume_step

    binaries.run(TRAIN, *_flags(eyepacs_root, killed, total))
    assert max(checkpointing.available_steps(killed)) == total
    log = open(os.path.join(killed, "train.log")).read()
    assert f"at step {resume_step}" in log  # It resumed rather than restarting.
    a, b = _weights(straight), _weights(killed)
    assert a.keys() == b.keys() and len(a) > 20
    different = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not different, different  # Bit for bit.


def _recorded_step(workdir: str) -> int:
    """The step of the latest checkpoint recorded in the run's checkpoint state (-1: none)."""
    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    return int(path.rsplit("-", 1)[1]) if path else -1
