"""Running a binary as a user does (`python -m <module> --flags` from the repo): in a
subprocess, or its main in this process.

The one place tests start a process. Use it only where the process itself is under test (a
kill, a fresh interpreter, what a whole run prints); a binary's flags, exit status and error
lines run in this process (`run_main`, no TensorFlow start-up of ~5 s), anything else calls
the library. The child sees this checkout first on its path (not an installed copy of the
package), TensorFlow's start-up logs off, no inherited TF_CONFIG and a non-interactive
matplotlib backend.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import pathlib
import runpy
import subprocess
import sys
import warnings

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT = 900  # Seconds; a hung child fails its test instead of the whole session.


def environment(**changes: str | None) -> dict[str, str]:
    """The child's environment: ours, this checkout on PYTHONPATH, then `changes` (None
    removes a variable)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    env.pop("TF_CONFIG", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def command(module: str, *args: str) -> list[str]:
    """`python -m module *args` with this interpreter; module "-c" runs `args[0]` as code."""
    return [sys.executable, *(["-c"] if module == "-c" else ["-m", module]), *args]


def start(
    module: str,
    *args: str,
    env: dict[str, str | None] | None = None,
    cwd: str | os.PathLike = REPO,
    **popen,
) -> subprocess.Popen:
    """Starts `command(module, *args)`; stdout and stderr are pipes of text unless given.

    Args:
      module: a module name, or "-c" with the code as the first of `args`.
      args: the command-line arguments.
      env: changes to `environment()`.
      cwd: the working directory (the repo by default).
      popen: further `subprocess.Popen` arguments (`stdout=subprocess.DEVNULL`, ...).
    """
    return _popen(command(module, *args), cwd=cwd, env=environment(**(env or {})), **popen)


def finish(process: subprocess.Popen, *, check: bool = True) -> tuple[str, str]:
    """Waits for a started process: (stdout, stderr). With `check`, a non-zero exit fails
    the test showing the end of stderr."""
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    if check:
        assert process.returncode == 0, (err or "")[-3000:]
    return out, err


def run(
    module: str,
    *args: str,
    check: bool = True,
    env: dict[str, str | None] | None = None,
    cwd: str | os.PathLike = REPO,
) -> subprocess.CompletedProcess:
    """Runs `command(module, *args)` to the end (see `start`).

    Returns:
      The finished process, stdout and stderr as text. With `check`, a non-zero exit fails
      the test showing the end of stderr.
    """
    process = start(module, *args, env=env, cwd=cwd)
    out, err = finish(process, check=check)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_shell(line: str, *, cwd: str | os.PathLike) -> subprocess.CompletedProcess:
    """Runs a command line as printed for a user (through the shell); a non-zero exit fails."""
    process = _popen(line, shell=True, cwd=cwd, env=environment())
    out, err = finish(process)
    return subprocess.CompletedProcess(line, process.returncode, out, err)


def _popen(argv, **options) -> subprocess.Popen:
    """Every process a test starts starts here (conftest.py refuses it outside `slow` tests)."""
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **options}
    return subprocess.Popen(argv, **options)


def run_main(module: str, *args: str) -> subprocess.CompletedProcess:
    """Runs `python -m module *args` in this process: the module as `__main__` with that argv.

    For a binary's flags, exit status and `error:` lines (no fresh interpreter, no
    TensorFlow start-up). Environment and working directory are this process's (set them
    with pytest's monkeypatch). Flags that binaries imported here as libraries defined on
    absl's global FLAGS are set aside while it runs (binaries share flag names); the flags
    it defines are deleted afterwards, so that it can run again.

    Returns:
      The finished "process": its exit status (0 when main returned), and what it printed
      through Python's sys.stdout and sys.stderr (TensorFlow's C++ logs are not caught).
    """
    from absl import app

    app.define_help_flags()  # absl's own (--help, ...), defined once per process: kept.
    out, err = io.StringIO(), io.StringIO()
    argv, imported = sys.argv, sys.modules.pop(module, None)  # runpy warns if imported.
    code = 0
    try:
        with flags_of_binaries_set_aside():
            sys.argv = [module, *args]
            with (
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
                warnings.catch_warnings(),  # An alias binary runs its target, imported here.
            ):
                warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
                runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = argv
        if imported is not None:
            sys.modules[module] = imported
    return subprocess.CompletedProcess(command(module, *args), code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def flags_of_binaries_set_aside():
    """Every flag not absl's own is taken off absl's global FLAGS until the block ends; the
    flags the block defines are deleted then."""
    from absl import flags

    values = flags.FLAGS
    aside = {name: values[name] for name in list(values)}  # Short names included.
    modules = {f.name: values.find_module_defining_flag(f.name) for f in aside.values()}
    aside = {n: f for n, f in aside.items() if not modules[f.name].startswith("absl.")}
    for name in aside:
        delattr(values, name)
    before = set(values)
    try:
        yield
    finally:
        for name in set(values) - before:
            delattr(values, name)
        for name, flag in aside.items():
            values[name] = flag
        for flag in {id(f): f for f in aside.values()}.values():
            values.register_flag_by_module(modules[flag.name], flag)


@contextlib.contextmanager
def imported_alone(module: str):
    """The module imported afresh (a binary defines its flags on import, main does not
    run), with the flags of other binaries set aside; afterwards the import is undone,
    its flags deleted and an earlier import of it put back."""
    parent, _, name = module.rpartition(".")
    earlier = sys.modules.pop(module, None)
    attribute = getattr(sys.modules.get(parent), name, None)
    try:
        with flags_of_binaries_set_aside():
            yield importlib.import_module(module)
    finally:
        sys.modules.pop(module, None)
        if earlier is not None:
            sys.modules[module] = earlier
        if parent in sys.modules:  # The import set the package's attribute too.
            if attribute is None:
                vars(sys.modules[parent]).pop(name, None)
            else:
                setattr(sys.modules[parent], name, attribute)


def progress_and_summary(stdout: str) -> tuple[list[str], dict]:
    """(the progress lines, the JSON summary) of a binary that prints both, in that order."""
    progress, _, summary = stdout.partition("{")
    return progress.splitlines(), json.loads("{" + summary)
