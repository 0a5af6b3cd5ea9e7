"""TensorFlow's import without the duplicate CUDA plugin registration errors."""

import os
import subprocess
import sys

import pytest

from errors import tensorflow_import
from tests import binaries

NOISE = "Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN "


def test_only_the_duplicate_registration_lines_are_dropped(capfd):
    with tensorflow_import.stderr_without(tensorflow_import.DUPLICATE_REGISTRATION):
        os.write(2, b"E cuda_dnn.cc] " + NOISE.encode() + b"when one has already been registered\n")
        os.write(2, b"E some_op.cc] a real error\n")
    os.write(2, b"after " + NOISE.encode() + b"when one has already been registered\n")
    err = capfd.readouterr().err
    assert err.splitlines() == [
        "E some_op.cc] a real error",
        "after " + NOISE + "when one has already been registered",  # Outside: kept.
    ]


def _run(code: str) -> subprocess.CompletedProcess:
    """`python -c code` with TensorFlow's C++ logging at its default level."""
    return binaries.run("-c", code, env={"TF_CPP_MIN_LOG_LEVEL": None})


@pytest.mark.slow
def test_importing_a_package_first_quiets_tensorflow_and_nothing_else():
    assert NOISE in _run("import tensorflow").stderr  # TF 2.15 logs them on every machine.
    quiet = _run("import pipelines, tensorflow, sys; print('kept', file=sys.stderr)").stderr
    assert NOISE not in quiet and "kept" in quiet


@pytest.mark.slow
def test_every_package_with_binaries_installs_the_hook_first():
    for package in ("pipelines", "slim_weights", "transfusion_tf", "analysis", "benchmarks"):
        code = f"import sys, {package}; print(type(sys.meta_path[0]).__name__)"
        assert _run(code).stdout == "_QuietFinder\n", package


def test_the_hook_is_installed_once_and_not_after_tensorflow_is_imported():
    import tensorflow  # noqa: F401  (imported by the test session already)

    hooks = [f for f in sys.meta_path if isinstance(f, tensorflow_import._QuietFinder)]
    tensorflow_import.quiet_tensorflow_import()
    assert [f for f in sys.meta_path if isinstance(f, tensorflow_import._QuietFinder)] == hooks
