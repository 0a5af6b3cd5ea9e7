"""Draws Figs 2-4 from an analysis directory's saved CSVs (`analysis.figures.cca`).

python -m analysis.plot_cca --analysis_dir=analysis/out [--measure=mean_cca]
  [--fig2_style=box|violin] [--formats=png,pdf] [--out=<dir>]
"""

from __future__ import annotations

from absl import flags

import errors
from analysis.figures.cca import FIG2_STYLES, plot_all
from analysis.figures.files import FORMATS, draw

flags.DEFINE_string("analysis_dir", None, "Directory with fig2/3/4 CSVs.")
flags.DEFINE_string("out", None, "Where to write the figures; default --analysis_dir.")
flags.DEFINE_string("measure", "mean_cca", "Measure to plot (a `measure` value).")
flags.DEFINE_enum("fig2_style", "box", FIG2_STYLES, "fig2: boxes or violins.")
flags.DEFINE_list("formats", list(FORMATS), "Figure file formats.")

FLAGS = flags.FLAGS


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    for path in draw(
        plot_all,
        FLAGS.analysis_dir,
        out_dir=FLAGS.out,
        measure=FLAGS.measure,
        fig2_style=FLAGS.fig2_style,
        formats=FLAGS.formats,
    ):
        print(path)


if __name__ == "__main__":
    flags.mark_flags_as_required(["analysis_dir"])
    errors.run(main)
