"""Benchmark scripts: `python -m benchmarks.<name>` prints dated measurements."""

from errors import tensorflow_import as _tensorflow_import

_tensorflow_import.quiet_tensorflow_import()  # Before any script here imports TensorFlow.
