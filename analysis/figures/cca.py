"""Figs 2-4 from the CSVs `analysis.run_analysis` wrote (reads files only, draws, saves).

Reads every `fig2_*.csv`, `fig3_*.csv`, `fig4_*.csv` in the directory (one per model label)
and writes `fig2`, `fig3`, `fig4` (.png, .pdf) for those present:
- fig2: per model, each pair's similarity averaged over the top two stages, random vs
  random beside random vs pretrained (boxes or violins, every pair drawn as a point); the
  null floor as a dashed line (mean over pairs) in a grey band (its range over pairs);
- fig3: per model, similarity between a run at init and after training per endpoint, one
  line per start (mean over runs; thin lines: single runs), its floor dashed;
- fig4: per model, similarity at initialisation (x) vs at convergence (y), one point per
  pair of runs and endpoint, coloured by endpoint; crosses: each endpoint's floors (init,
  final); the dashed line is y = x.
The floor (`analysis.null_floor`) is what the same measure gives with the images paired at
random; files written before floors existed are drawn without them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.figures.files import FORMATS, plt, save_figure

FIG2_STYLES = ("box", "violin")
# Colours of the comparisons (fig2, fig4) and of the starts (fig3), by the names
# `analysis.representation_studies` writes; any other name is drawn grey.
_COMPARISON_COLOURS = {
    "random_vs_random": "tab:blue",
    "random_vs_pretrained": "tab:orange",
    "pretrained_vs_pretrained": "tab:green",
}
_START_COLOURS = {"random": "tab:blue", "pretrained": "tab:orange"}


def read_tables(analysis_dir: str, study: str, measure: str) -> dict[str, pd.DataFrame]:
    """label -> rows of `<study>_<label>.csv` for one measure.

    Raises:
      ValueError: the measure is absent from a file (the message lists those present).
    """
    tables = {}
    for path in sorted(glob.glob(os.path.join(analysis_dir, f"{study}_*.csv"))):
        table = pd.read_csv(path)
        if measure not in set(table["measure"]):
            raise ValueError(
                f"{path} has no measure {measure!r}; it has {sorted(set(table['measure']))}"
            )
        label = os.path.basename(path)[len(study) + 1 : -len(".csv")]
        tables[label] = table[table["measure"] == measure]
    return tables


def plot_fig2(tables: dict[str, pd.DataFrame], measure: str, style: str = "box"):
    """One group per model: random vs random, random vs pretrained, over pairs of runs."""
    if style not in FIG2_STYLES:
        raise ValueError(f"unknown fig2 style {style!r}; valid: {', '.join(FIG2_STYLES)}")
    fig, ax = plt.subplots(figsize=(1.8 + 2.2 * len(tables), 3.6))
    ticks, names = [], []
    layers = {label: ", ".join(pd.unique(t["endpoint"])) for label, t in tables.items()}
    shared = len(set(layers.values())) == 1
    for i, (label, table) in enumerate(tables.items()):
        columns = ["value", "floor"] if "floor" in table.columns else ["value"]
        per_pair = table.groupby(["comparison", "run_a", "run_b"], sort=False)[columns].mean()
        for j, comparison in enumerate(pd.unique(table["comparison"])):
            values = per_pair.loc[comparison, "value"].to_numpy()
            x = 3 * i + j
            colour = _COMPARISON_COLOURS.get(comparison, "tab:gray")
            if style == "violin" and len(values) >= 2 and np.ptp(values) > 0:
                parts = ax.violinplot(values, positions=[x], showmeans=True)
                for body in parts["bodies"]:
                    body.set_facecolor(colour)
            else:
                ax.boxplot(values, positions=[x], widths=0.6, showmeans=True)
            ax.scatter(np.full(len(values), x), values, color=colour, zorder=3, s=14)
            if "floor" in columns:
                _floor_band(ax, x, per_pair.loc[comparison, "floor"].to_numpy(), first=not ticks)
            ticks.append(x)
            where = "" if shared else f"\n({layers[label]})"
            names.append(f"{label}\n{comparison.replace('_vs_', ' vs ')}{where}")
    ax.set_xticks(ticks, names, fontsize=7)
    over = next(iter(layers.values())) if shared else "each model's top two stages"
    ax.set_ylabel(f"{measure}, mean over {over}")
    ax.set_title("Representations: random vs random and random vs pretrained")
    if any("floor" in t.columns for t in tables.values()):
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the boxes
    return fig


def _floor_band(ax, x: float, floors: np.ndarray, *, first: bool) -> None:
    """The null floor at one box: dashed at the mean over pairs, a band over their range."""
    ax.fill_between(
        [x - 0.4, x + 0.4], floors.min(), floors.max(), color="0.85", zorder=0, lw=0,
        label="null floor: range over pairs" if first else None,
    )  # fmt: skip
    ax.hlines(
        floors.mean(), x - 0.4, x + 0.4, colors="k", linestyles="--", lw=1,
        label="null floor (images paired at random)" if first else None,
    )  # fmt: skip


def plot_fig3(tables: dict[str, pd.DataFrame], measure: str):
    """Per model, per endpoint: similarity of a run at init with itself after training."""
    fig, axes = _panels(len(tables))
    for ax, (label, table) in zip(axes, tables.items(), strict=True):
        order = list(pd.unique(table["endpoint"]))
        x = np.arange(len(order))
        for start, group in table.groupby("start", sort=False):
            colour = _START_COLOURS.get(start, "tab:gray")
            wide = group.pivot_table(index="run", columns="endpoint", values="value")[order]
            for _, row in wide.iterrows():
                ax.plot(x, row.to_numpy(), color=colour, alpha=0.3, lw=0.8)
            ax.plot(x, wide.mean().to_numpy(), "o-", color=colour, label=f"{start} init")
            if "floor" in group.columns:
                floor = group.groupby("endpoint", sort=False)["floor"].mean()[order]
                ax.plot(x, floor.to_numpy(), "--", color=colour, lw=1, label=f"{start}: null floor")
        ax.set_xticks(x, order, rotation=45, ha="right", fontsize=7)
        ax.set_xlabel("endpoint (layer)")
        ax.set_ylim(0, 1.02)
        ax.set_title(label)
        ax.set_ylabel(f"{measure}(init, trained), per endpoint")
        ax.legend(fontsize=7)
    return fig


def plot_fig4(tables: dict[str, pd.DataFrame], measure: str):
    """Per model: similarity at init (x) vs at convergence (y) of pairs of runs."""
    fig, axes = _panels(len(tables))
    for ax, (label, table) in zip(axes, tables.items(), strict=True):
        order = list(pd.unique(table["endpoint"]))
        colours = dict(
            zip(order, plt.get_cmap("viridis")(np.linspace(0, 0.9, len(order))), strict=True)
        )
        comparisons = list(pd.unique(table["comparison"]))
        markers = dict(zip(comparisons, "o^sD", strict=False))
        for comparison, group in table.groupby("comparison", sort=False):
            ax.scatter(
                group["init_value"],
                group["final_value"],
                c=[colours[e] for e in group["endpoint"]],
                marker=markers[comparison],
                s=18,
            )
        # Two legends in one: colour = endpoint, marker = kind of pair.
        handles = [
            plt.Line2D([], [], ls="", marker="o", color=colours[e], label=e) for e in order
        ] + [
            plt.Line2D([], [], ls="", marker=markers[c], color="k", label=c.replace("_vs_", " vs "))
            for c in comparisons
        ]
        if "init_floor" in table.columns:
            floors = table.groupby("endpoint", sort=False)[["init_floor", "final_floor"]].mean()
            ax.scatter(
                floors["init_floor"],
                floors["final_floor"],
                c=[colours[e] for e in floors.index],
                marker="x",
                s=30,
            )
            label_floor = "null floor (x: init, y: final)"
            handles.append(plt.Line2D([], [], ls="", marker="x", color="k", label=label_floor))
        ax.legend(handles=handles, fontsize=6, loc="upper left")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"{measure} at initialisation, per endpoint")
        ax.set_ylabel(f"{measure} at convergence, per endpoint")
        ax.set_title(label)
    return fig


def plot_all(
    analysis_dir: str,
    *,
    out_dir: str | None = None,
    measure: str = "mean_cca",
    fig2_style: str = "box",
    formats: Sequence[str] = FORMATS,
) -> list[str]:
    """Draws every figure whose CSVs are present; returns the files written.

    Raises:
      FileNotFoundError: no fig2/fig3/fig4 CSV in `analysis_dir`.
    """
    out_dir = out_dir or analysis_dir
    drawers = {
        "fig2": lambda t: plot_fig2(t, measure, fig2_style),
        "fig3": lambda t: plot_fig3(t, measure),
        "fig4": lambda t: plot_fig4(t, measure),
    }
    written = []
    for study, draw in drawers.items():
        tables = read_tables(analysis_dir, study, measure)
        if tables:
            written += save_figure(draw(tables), out_dir, study, formats)
    if not written:
        raise FileNotFoundError(
            f"no fig2_*.csv, fig3_*.csv or fig4_*.csv in {analysis_dir}; run "
            "python -m analysis.run_analysis first"
        )
    return written


def _panels(count: int):
    fig, axes = plt.subplots(1, count, figsize=(4.2 * count, 3.8), squeeze=False)
    return fig, list(axes[0])
