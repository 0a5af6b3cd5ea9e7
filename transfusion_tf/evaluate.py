"""Evaluate a trained run: `python -m transfusion_tf.evaluate --workdir=<dir> [--split=test]`.

Writes metrics.json (the task's metrics: for dr_grade the exact referable-DR ROC AUC with a
patient-bootstrap 95% CI, AUPRC, quadratic weighted kappa, per-grade one-vs-rest AUC; for
chexpert5 the per-pathology ROC AUCs with CIs and their mean) and predictions_<split>.csv.
An unknown split or checkpoint name is one `error:` line and exit status 2; a missing run
or checkpoint, a damaged file or checkpoint, or bad data exit with 1, before any scoring.
"""

from absl import app, flags

import errors
from transfusion_tf import evaluation

_WORKDIR = flags.DEFINE_string("workdir", None, "A training workdir (holds config.json).")
_SPLIT = flags.DEFINE_string(
    "split",
    "test",
    "Split to evaluate, by name: eyepacs has train/valid/test; chexpert has train, "
    "valid_internal (patients of train.csv) and valid (the official valid.csv).",
)
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint",
    "latest",
    "Checkpoint: 'latest', 'best' (the best evaluation's, runs with train.keep_best), "
    "'init' (the initial weights) or a step.",
)
_EMA = flags.DEFINE_boolean(
    "ema",
    None,
    "Score the weight averages (--ema) or the trained weights (--noema) of a run with "
    "train.ema_decay > 0; default: the run's eval.use_ema.",
)
_BOOTSTRAP = flags.DEFINE_integer(
    "bootstrap_samples", None, "Bootstrap replicates for the CIs (default: the run's config)."
)
flags.mark_flags_as_required(["workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    result = evaluation.evaluate_run(
        _WORKDIR.value,
        split=_SPLIT.value,
        checkpoint=_CHECKPOINT.value,
        bootstrap_samples=_BOOTSTRAP.value,
        ema=_EMA.value,
    )
    print(f"{_SPLIT.value}: " + evaluation.format_metrics(result))
    print(f"metrics: {_WORKDIR.value}/metrics.json")
    print(f"TensorBoard: tensorboard --logdir {_WORKDIR.value}/tensorboard")


if __name__ == "__main__":
    errors.run(main)
