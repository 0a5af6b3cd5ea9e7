"""The download binary: flags, an end-to-end run against a local server, offline message."""

from __future__ import annotations

import os
import subprocess
import sys

import portpicker

from tests.slim_weights.conftest import server_url

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "slim_weights.download", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )


def test_help_lists_the_flags():
    result = _run("--help")  # absl prints the main module's flags (and exits with 1)
    for flag in ("--model", "--dir", "--url", "--attempts"):
        assert f"  {flag}:" in result.stdout, result.stderr
    assert "inception_v3" in result.stdout and "resnet_v1_50" in result.stdout


def test_end_to_end_against_local_server(server, release_tarball, tmp_path):
    server.files["/resnet_v1_50_2016_08_28.tar.gz"] = release_tarball
    result = _run(
        "--model=resnet_v1_50",
        f"--dir={tmp_path}",
        f"--url={server_url(server, 'resnet_v1_50_2016_08_28.tar.gz')}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "resnet_v1_50.ckpt")
    assert "100.0%" in result.stderr  # the progress bar
    closed = f"http://127.0.0.1:{portpicker.pick_unused_port()}/x.tar.gz"
    offline = _run("--model=inception_v3", f"--dir={tmp_path / 'x'}", f"--url={closed}")
    assert offline.returncode == 1
    assert "Are you offline?" in offline.stderr
