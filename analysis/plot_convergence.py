"""Draws convergence curves from runs' `eval_log.csv` (`analysis.figures.convergence`).

python -m analysis.plot_convergence --runs=runs/random0,runs/transfer0
  [--labels=random,transfer] [--metric=auc] [--thresholds=0.91] [--x=step]
  [--out=analysis/out] [--stem=convergence] [--formats=png,pdf]
"""

from __future__ import annotations

import os

from absl import flags

import errors
from analysis.figures.convergence import X_AXES, plot_convergence
from analysis.figures.files import FORMATS, draw


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


flags.DEFINE_list("runs", None, "Workdirs or eval_log.csv paths.")
flags.DEFINE_list("labels", None, "One per run; equal labels are averaged.")
flags.DEFINE_string("metric", "auc", "An eval_log.csv column.")
flags.DEFINE_list("thresholds", [], "Metric values to mark, e.g. 0.91.")
flags.register_validator(
    "thresholds",
    lambda values: all(_is_number(v) for v in values),
    message="--thresholds takes numbers, e.g. 0.91,0.85",
)
flags.DEFINE_enum("x", "step", X_AXES, "Horizontal axis.")
flags.DEFINE_string("out", ".", "Directory for the figure and the CSV.")
flags.DEFINE_string("stem", "convergence", "File name stem.")
flags.DEFINE_list("formats", list(FORMATS), "Figure file formats.")

FLAGS = flags.FLAGS


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    for path in draw(
        plot_convergence,
        FLAGS.runs,
        FLAGS.out,
        labels=FLAGS.labels,
        metric=FLAGS.metric,
        thresholds=[float(t) for t in FLAGS.thresholds],
        x=FLAGS.x,
        stem=FLAGS.stem,
        formats=FLAGS.formats,
    ):
        print(path)
    with open(os.path.join(FLAGS.out, f"{FLAGS.stem}_steps_to_threshold.csv")) as f:
        print(f.read(), end="")


if __name__ == "__main__":
    flags.mark_flags_as_required(["runs"])
    errors.run(main)
