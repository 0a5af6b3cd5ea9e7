r"""Export a trained run as a TensorFlow SavedModel for serving.

  python -m transfusion_tf.export --workdir=<run> --out=<dir> [--checkpoint=latest]

The SavedModel reloads with `tf.saved_model.load(<dir>)` without this package. Its
`serving_default` signature takes `images`, uint8 (batch, height, width, channels) of any
size, and its `serve_encoded` signature `encoded`, a (batch,) string tensor of JPEG/PNG
bytes; both resize and preprocess as the run did, and return `logits`, `probabilities` and
one tensor per column of the task's predictions CSV (dr_grade: p_grade0-4, referable_score).
<dir>/export.json records the run, checkpoint, step, preprocessing, image size, channels,
resize mode and the signatures' tensors. (The slim-named checkpoint for the weights registry
is `transfusion_tf.register_weights`.) A bad flag is one `error:` line and exit status 2; a
missing run or checkpoint, or an existing non-empty <dir>, exits with 1.
"""

from absl import flags

import errors
from transfusion_tf import serving, trained_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A training workdir (holds config.json).")
_OUT = flags.DEFINE_string("out", None, "Directory to create for the SavedModel (absent or empty).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest", trained_run.CHECKPOINT_HELP)
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    record = serving.export_saved_model(_WORKDIR.value, _OUT.value, checkpoint=_CHECKPOINT.value)
    print(serving.format_export(record, _OUT.value))


if __name__ == "__main__":
    errors.run(main)
