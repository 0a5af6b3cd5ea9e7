"""Saving figures: one call writes every requested format; the plot binaries' backend and
their drawing call.

Plot scripts run headless (CI, clusters), so the non-interactive Agg backend is selected
before pyplot is imported anywhere in them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported

from matplotlib import pyplot as plt

import errors

FORMATS = ("png", "pdf")


def save_figure(fig, out_dir: str, stem: str, formats: Sequence[str] = FORMATS) -> list[str]:
    """Writes `<out_dir>/<stem>.<format>` for each format, closes the figure.

    Returns:
      The paths written.

    Raises:
      ValueError: a format matplotlib cannot write (the message lists the valid ones).
    """
    supported = fig.canvas.get_supported_filetypes()
    bad = [f for f in formats if f not in supported]
    if bad:
        plt.close(fig)
        raise ValueError(f"unknown figure formats {bad}; valid: {', '.join(sorted(supported))}")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fmt in formats:
        path = os.path.join(out_dir, f"{stem}.{fmt}")
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def draw(plot: Callable[..., Iterable[str]], *args, **kwargs) -> list[str]:
    """`plot(*args, **kwargs)` as a plot binary calls it: the paths it wrote, as a list.

    The drawing functions document ValueError for a bad argument and FileNotFoundError for a
    missing input (named in the message); here they become `errors.UsageError` (exit status
    2) and `errors.ExpectedError` (1), message unchanged.
    """
    with errors.documented(usage=(ValueError,), failure=(FileNotFoundError,)):
        return list(plot(*args, **kwargs))
