"""Draws Fig 5, conv1 filters, from saved NPZ files (`analysis.figures.filters`).

python -m analysis.plot_filters --analysis_dir=analysis/out [--normalize=per_filter|shared]
  [--max_filters=64] [--formats=png,pdf] [--out=<dir>]
"""

from __future__ import annotations

from absl import flags

import errors
from analysis.figures.files import FORMATS, draw
from analysis.figures.filters import NORMALIZATIONS, plot_all

flags.DEFINE_string("analysis_dir", None, "Directory with fig5_*.npz files.")
flags.DEFINE_string("out", None, "Where to write the figures; default --analysis_dir.")
flags.DEFINE_enum("normalize", "per_filter", NORMALIZATIONS, "Tile contrast: per filter or shared.")
flags.DEFINE_integer("max_filters", 64, "Draw at most this many filters.")
flags.DEFINE_list("formats", list(FORMATS), "Figure file formats.")

FLAGS = flags.FLAGS


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    for path in draw(
        plot_all,
        FLAGS.analysis_dir,
        out_dir=FLAGS.out,
        normalize=FLAGS.normalize,
        max_filters=FLAGS.max_filters,
        formats=FLAGS.formats,
    ):
        print(path)


if __name__ == "__main__":
    flags.mark_flags_as_required(["analysis_dir"])
    errors.run(main)
