"""Every binary's --help: the module docstring exactly as written, the binary's own flags,
and no traceback or unfilled `%(...)` template. All binaries run one after another in one
fresh process (`collect`): a test process may have imported binaries already, whose flags
would clash on absl's global FLAGS."""

from __future__ import annotations

import contextlib
import io
import json
import runpy
import sys

import pytest
from absl import app, flags

import errors
from tests import binaries
from tests.test_layers import BINARIES


def help_text(module: str) -> tuple[int, str, str]:
    """Runs `python -m <module> --help` in this process.

    Each binary defines its flags on absl's global FLAGS when it runs; they are deleted
    afterwards so that the next binary can define flags of the same names.

    Returns:
      (exit status, stdout, the `__main__` docstring the binary ran with).
    """
    app.define_help_flags()  # absl's own (--help, ...), defined once per process: kept.
    before = set(flags.FLAGS)
    argv = sys.argv
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [module, "--help"]
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as exit_info,
        ):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = argv
        for name in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, name)
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return exit_info.value.code, out.getvalue(), _docstring(module)


def _docstring(module: str) -> str:
    """The module's docstring, from a plain import undone afterwards (runpy warns when the
    module it runs as `__main__` is imported already)."""
    before, imported = set(flags.FLAGS), module in sys.modules
    try:
        return __import__(module, fromlist=["_"]).__doc__
    finally:
        for name in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, name)
        if not imported:
            del sys.modules[module]


def collect() -> dict[str, tuple[int, str, str]]:
    """`help_text` of every binary, in this process."""
    return {module: help_text(module) for module in BINARIES}


@pytest.fixture(scope="module")
def helps() -> dict[str, list]:
    script = "import json, tests.test_help as t; print(json.dumps(t.collect()))"
    return json.loads(binaries.run("-c", script).stdout.splitlines()[-1])


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


@pytest.mark.slow
def test_train_help_points_at_the_config_reference(helps):
    _, out, _ = helps["transfusion_tf.train"]
    assert "transfusion_tf/configs/base.py" in out and 'BUILD.md\'s "Config fields"' in out
    assert "--config.data.root=/data/eyepacs --workdir=runs/retina_demo" in out
