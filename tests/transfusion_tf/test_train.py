"""The training binary: --help, flags only in binaries, resume after SIGKILL to equal weights."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from transfusion_tf import checkpointing

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _command(root, workdir, total_steps):
    return [
        sys.executable,
        "-m",
        "transfusion_tf.train",
        "--config=transfusion_tf/configs/retina.py:test",
        f"--config.data.root={root}",
        f"--config.train.total_steps={total_steps}",
        "--config.train.eval_every=1000",
        "--config.train.checkpoint_every=2",
        "--config.augment.rotate_degrees=10",
        f"--workdir={workdir}",
    ]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)


# TensorFlow 2.15 logs these at ERROR level on import unless the package quiets them
# (errors/tensorflow_import.py); TF_CPP_MIN_LOG_LEVEL=2 does not hide them.
DUPLICATE_REGISTRATION = "Attempting to register factory for plugin"


def test_help_lists_the_flags():
    result = subprocess.run(
        [sys.executable, "-m", "transfusion_tf.train", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=_env(),
    )
    out = result.stdout
    assert "--config" in out and "--workdir" in out and "resumes" in out
    assert DUPLICATE_REGISTRATION not in result.stderr


def test_a_config_file_that_does_not_load_is_one_line_and_exit_status_2(tmp_path):
    """The binary's own path (ml_collections reports such a file only on first use, here in
    main); tests/test_bad_input_matrix.py runs the config checks in process."""
    command = [*_command(str(tmp_path / "no_data"), str(tmp_path / "run"), 6)[:3]]
    command += ["--config=nope.py", f"--workdir={tmp_path / 'run'}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=_env())
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


def test_sigkill_then_rerun_ends_equal_to_an_uninterrupted_run(eyepacs_root, tmp_path):
    total = 200
    straight = str(tmp_path / "straight")
    result = subprocess.run(
        _command(eyepacs_root, straight, total),
        cwd=REPO,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    assert DUPLICATE_REGISTRATION not in result.stderr and "step 200/200" in result.stderr

    killed = str(tmp_path / "killed")
    process = subprocess.Popen(
        _command(eyepacs_root, killed, total),
        cwd=REPO,
        env=_env(),
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

    subprocess.run(
        _command(eyepacs_root, killed, total), cwd=REPO, env=_env(), check=True, capture_output=True
    )
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
