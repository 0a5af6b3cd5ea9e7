"""transfusion_tf: the Transfusion study (Raghu et al., NeurIPS 2019) in TensorFlow 2 / Keras."""

from errors import tensorflow_import as _tensorflow_import

_tensorflow_import.quiet_tensorflow_import()  # Before any module here imports TensorFlow.
