"""Released TF-Slim ImageNet checkpoints: manifest, reading, loading by name, download.

Modules: `manifest` (what each checkpoint is and which preprocessing it needs),
`checkpoint` (read/write V1 and V2 checkpoints as {name: array}), `loading` (`load_into` any
Keras model by slim name), `fetch` (resumable download, safe extraction). Binaries:
`download`, `convert`, `make_inventory`. This package imports nothing from `transfusion_tf`
or `pipelines`; only its binaries do.
"""

from errors import tensorflow_import as _tensorflow_import

_tensorflow_import.quiet_tensorflow_import()  # Before any module here imports TensorFlow.
