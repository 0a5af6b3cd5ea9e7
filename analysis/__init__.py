"""Representation analysis: CCA, SVCCA, PWCCA and CKA between layers.

Activations are `(neurons, datapoints)` arrays throughout; for conv layers every
(image, h, w) position is a datapoint. `analysis.similarity.similarity` is the entry point
the analyses use.
"""

from errors import tensorflow_import as _tensorflow_import

_tensorflow_import.quiet_tensorflow_import()  # Before any module here imports TensorFlow.
