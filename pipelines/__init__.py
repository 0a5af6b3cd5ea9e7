"""Data on disk -> tf.data, and the synthetic datasets written in the real formats."""

from errors import tensorflow_import as _tensorflow_import

_tensorflow_import.quiet_tensorflow_import()  # Before any module here imports TensorFlow.
