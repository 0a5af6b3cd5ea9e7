"""TensorFlow's import without its false CUDA "errors", for every binary and library user.

Importing TensorFlow 2.15 registers the cuDNN, cuFFT and cuBLAS plugins twice and logs each
second registration at ERROR level, on every machine, GPU or not:

  E ... cuda_dnn.cc:9261] Unable to register cuDNN factory: Attempting to register factory
  for plugin cuDNN when one has already been registered

(and the same for cuFFT and cuBLAS; tensorflow/tensorflow issue 62075). Nothing is wrong,
yet three error lines open every command's output. `TF_CPP_MIN_LOG_LEVEL=3` would hide
them together with every real C++ error of the whole process (a cuDNN handle that cannot be
created, a failed allocation); `quiet_tensorflow_import` drops exactly these lines, and
only while TensorFlow is imported.

It installs a one-shot import hook: the first `import tensorflow` runs with file
descriptor 2 sent to a temporary file, whose lines except the duplicate-registration ones
go back to stderr, in order, when the import ends (a crash inside the import would lose
them with the file). Every top-level package with binaries (`pipelines`, `slim_weights`,
`transfusion_tf`, `analysis`, `benchmarks`) calls it first thing, so it runs before any
binary imports TensorFlow; if TensorFlow is imported already it does nothing.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys
import tempfile

# What the three duplicate registrations log (cuDNN, cuFFT, cuBLAS), and nothing else does.
DUPLICATE_REGISTRATION = "when one has already been registered"


def quiet_tensorflow_import() -> None:
    """Makes the process's first `import tensorflow` drop the duplicate-registration lines."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` with the other finders and wraps its loader's `exec_module`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # One shot; also keeps the lookup below from recursing.
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            with stderr_without(DUPLICATE_REGISTRATION):
                execute(module)

        spec.loader.exec_module = exec_module  # This loader instance only.
        return spec


@contextlib.contextmanager
def stderr_without(fragment: str):
    """Captures file descriptor 2 (C++ and Python writes alike) inside the block, then
    writes back every captured line that does not contain `fragment`.

    A process without a usable descriptor 2 runs the block uncaptured.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        saved = None
    if saved is None:
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if fragment not in line)
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
