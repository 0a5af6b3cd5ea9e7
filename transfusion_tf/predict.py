r"""Predict unlabelled images with a trained run.

  python -m transfusion_tf.predict --workdir=<run> --images=<folder or CSV> \
      --out=predictions.csv [--checkpoint=latest] [--tta=none|flip] [--batch_size=N]

Images go through the run's own decoding, resize (`data.resize_mode`), image size, channels
and preprocessing (the one recorded at training start). A folder is scanned recursively for
.jpg/.jpeg/.png files (names starting with '.' skipped), sorted by path; a CSV names one
image per row in its `image` column, relative to the CSV's directory (paths outside it are
not read). Writes <out> (`image` as given, then the task's columns: dr_grade p_grade0-4 and
referable_score; multi-label p_<pathology>; classification predicted, p_predicted) and
<out stem>_unreadable.csv (`image`, `reason`): unreadable images are listed and counted,
never fatal. Prints the checkpoint and step. `--tta=flip` averages the logits of each image
and its left-right mirror. A bad flag is one `error:` line and exit status 2; a missing
run, checkpoint or image source exits with 1.
"""

from absl import flags

import errors
from transfusion_tf import prediction, trained_run

_WORKDIR = flags.DEFINE_string("workdir", None, "A training workdir (holds config.json).")
_IMAGES = flags.DEFINE_string(
    "images", None, "A folder of images (searched recursively) or a CSV with an `image` column."
)
_OUT = flags.DEFINE_string(
    "out", None, "Predictions CSV to write; the unreadable images go to <stem>_unreadable.csv."
)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "latest", trained_run.CHECKPOINT_HELP)
_TTA = flags.DEFINE_enum(
    "tta",
    "none",
    list(prediction.TTA_VIEWS),
    "Test-time augmentation: 'flip' averages the logits of each image and its left-right mirror.",
)
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size",
    None,
    "Images per forward pass (default: the run's eval.batch_size).",
    lower_bound=1,
)
flags.mark_flags_as_required(["workdir", "images", "out"])


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    summary = prediction.predict_images(
        _WORKDIR.value,
        _IMAGES.value,
        _OUT.value,
        checkpoint=_CHECKPOINT.value,
        tta=_TTA.value,
        batch_size=_BATCH_SIZE.value,
    )
    print(prediction.format_summary(summary))


if __name__ == "__main__":
    errors.run(main)
