"""Every binary's --help: the module docstring exactly as written, the binary's own flags,
and no traceback or unfilled `%(...)` template. All binaries run one after another in this
process (`collect`, `binaries.run_main`: flags that binaries imported as libraries defined
here are set aside, so that names do not clash)."""

from __future__ import annotations

import re
import sys

import pytest

import errors
from tests import binaries
from tests.test_layers import BINARIES


def help_text(module: str) -> tuple[int, str, str]:
    """Runs `python -m <module> --help` in this process (`binaries.run_main`).

    Returns:
      (exit status, stdout, the `__main__` docstring the binary ran with).
    """
    result = binaries.run_main(module, "--help")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, _docstring(module)


def _docstring(module: str) -> str:
    """The module's docstring as an import leaves it (a binary may fill it in)."""
    with binaries.imported_alone(module) as imported:
        return imported.__doc__


def collect() -> dict[str, tuple[int, str, str]]:
    """`help_text` of every binary, in this process."""
    return {module: help_text(module) for module in BINARIES}


@pytest.fixture(scope="module")
def helps() -> dict[str, tuple[int, str, str]]:
    """Seconds: the first import of every binary (its tests are `slow`)."""
    return collect()


@pytest.mark.slow
@pytest.mark.parametrize("module", BINARIES)
def test_help_shows_the_docstring_as_written_and_the_flags(module, helps):
    code, out, doc = helps[module]
    assert code == 1  # absl's status for --help.
    assert doc.strip() and doc in out  # Verbatim: a `%` in it would have been filled in.
    assert "%(" not in out and "Traceback" not in out
    own = out.split("\nflags:\n", 1)[1]
    assert f"{module.replace('.', '/')}.py:\n  --" in own  # The binary's own flags follow.


def test_a_percent_sign_in_a_docstring_is_printed_as_written():
    module = type(sys)("fake_main", "Prints progress every 10% and a summary (%s is kept).")
    errors._escape_percent_signs(module)
    assert module.__doc__ % () == "Prints progress every 10% and a summary (%s is kept)."


# The whole list of a binary's own flags in its --help, for binaries whose tests run them
# in a process only to do work (their --help is checked here, not in a process of its own).
OWN_FLAGS = {
    "analysis.run_analysis": [
        "analyses", "batch_size", "checkpoint", "datapoints", "datapoints_per_channel",
        "endpoints", "filter_layer", "floor_seed", "image_seed", "label", "measures",
        "num_images", "out", "pool_grid", "position_seed", "pretrained_runs", "random_runs",
        "sampling", "split", "top_endpoints",
    ],
    "analysis.plot_cca": ["analysis_dir", "fig2_style", "formats", "measure", "out"],
    "analysis.plot_filters": ["analysis_dir", "formats", "max_filters", "normalize", "out"],
    "analysis.plot_convergence": [
        "formats", "labels", "metric", "out", "runs", "stem", "thresholds", "x",
    ],
    "transfusion_tf.train": ["config", "workdir"],
    "transfusion_tf.evaluate": ["bootstrap_samples", "checkpoint", "ema", "split", "workdir"],
    "transfusion_tf.export": ["checkpoint", "out", "workdir"],
    "transfusion_tf.predict": ["batch_size", "checkpoint", "images", "out", "tta", "workdir"],
    "slim_weights.download": ["attempts", "dir", "model", "url"],
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("module", sorted(OWN_FLAGS))
def test_help_lists_each_own_flag(module, helps):
    own = helps[module][1].split("\nflags:\n", 1)[1]
    assert re.findall(r"^  --(?:\[no\])?(\w+):", own, flags=re.MULTILINE) == OWN_FLAGS[module]


@pytest.mark.slow
def test_download_help_names_the_models(helps):
    assert (
        "<inception_v3|resnet_v1_50>: Model whose ImageNet checkpoint"
        in helps["slim_weights.download"][1]
    )


@pytest.mark.slow
def test_train_help_points_at_the_config_reference(helps):
    _, out, _ = helps["transfusion_tf.train"]
    assert "transfusion_tf/configs/base.py" in out and 'BUILD.md\'s "Config fields"' in out
    assert "--config.data.root=/data/eyepacs --workdir=runs/retina_demo" in out
