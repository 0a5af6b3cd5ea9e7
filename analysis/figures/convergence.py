"""Convergence curves (metric vs step) from runs' `eval_log.csv`, steps-to-threshold marked.

Runs are workdirs or eval_log.csv paths. Runs sharing a label (repetitions) are
drawn thin, with their mean over the evaluated steps they share drawn bold. Steps to a
threshold have one definition everywhere (`transfusion_tf.metrics`): each run's first
evaluation reaching it, then the mean and std over the runs of a label that reached it.
The figure marks exactly that: a tick per run on the threshold line and a bar for the mean
± std. `<stem>_steps_to_threshold.csv` holds the numbers (columns label, run, metric,
threshold, first_step, x, first_x, reached, runs, std; one row per run, then one per label
with run "mean over runs"; empty: never reached). A shaded band shows the bootstrap CI
when the log has `<metric>_ci_low/_ci_high` and the curve is a single run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from analysis.figures.files import FORMATS, plt, save_figure
from transfusion_tf.metrics import steps_to_threshold, summarize_steps

X_AXES = ("step", "examples_seen", "seconds")


def read_eval_log(run: str) -> pd.DataFrame:
    """A run's eval log, from its workdir or the CSV path itself.

    Raises:
      FileNotFoundError: naming the path looked for.
    """
    path = os.path.join(run, "eval_log.csv") if os.path.isdir(run) else run
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: give a training workdir or its eval_log.csv")
    return pd.read_csv(path)


MEAN_ROW = "mean over runs"
COLUMNS = [
    "label",
    "run",
    "metric",
    "threshold",
    "first_step",
    "x",
    "first_x",
    "reached",
    "runs",
    "std",
]


def threshold_table(
    groups: dict[str, list[tuple[str, pd.DataFrame]]],
    metric: str,
    thresholds: Sequence[float],
    x: str,
) -> pd.DataFrame:
    """Each run's first evaluation reaching each threshold, then per label their summary.

    Args:
      groups: label -> [(run, eval log)].

    Returns:
      Columns `COLUMNS`: a row per run (`first_step`, `first_x`; NaN: never reached), then
      a row per label with run `MEAN_ROW`: `first_step` the mean over the runs that reached
      it, `std` their sample std, `reached` of `runs`; `first_x` the mean of their x.
    """
    rows = []
    for t in thresholds:
        for label, members in groups.items():
            firsts, xs = [], []
            for run, log in members:
                step = steps_to_threshold(log["step"].astype(int), log[metric], t)
                first_x = log.loc[log["step"] == step, x].iloc[0] if step is not None else None
                firsts.append(step)
                if first_x is not None:
                    xs.append(float(first_x))
                rows.append(
                    {"label": label, "run": run, "metric": metric, "threshold": t}
                    | {"first_step": step, "x": x, "first_x": first_x}
                )
            summary = summarize_steps(firsts)
            rows.append(
                {"label": label, "run": MEAN_ROW, "metric": metric, "threshold": t, "x": x}
                | {"first_step": summary["mean"], "first_x": sum(xs) / len(xs) if xs else None}
                | {"reached": summary["reached"], "runs": summary["runs"], "std": summary["std"]}
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _run_label(run: str) -> str:
    """The workdir's name, also when given its eval_log.csv."""
    path = os.path.normpath(run)
    return os.path.basename(path if os.path.isdir(path) else os.path.dirname(path))


def plot_convergence(
    runs: Sequence[str],
    out_dir: str,
    *,
    labels: Sequence[str] | None = None,
    metric: str = "auc",
    thresholds: Sequence[float] = (),
    x: str = "step",
    stem: str = "convergence",
    formats: Sequence[str] = FORMATS,
    ylabel: str = "",
) -> list[str]:
    """Draws the curves and writes the figure files and the steps-to-threshold CSV.

    Args:
      ylabel: the vertical axis' label (default: the metric's column name).

    Returns:
      The files written.

    Raises:
      ValueError: labels/runs counts differ, unknown x axis, or a log without `metric`
        (the message lists its columns).
    """
    if x not in X_AXES:
        raise ValueError(f"unknown x axis {x!r}; valid: {', '.join(X_AXES)}")
    labels = list(labels) if labels else [_run_label(r) for r in runs]
    if len(labels) != len(runs):
        raise ValueError(f"{len(runs)} runs but {len(labels)} labels")
    groups: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for run, label in zip(runs, labels, strict=True):
        log = read_eval_log(run)
        if metric not in log:
            raise ValueError(f"{run}: eval log has no {metric!r}; columns: {list(log.columns)}")
        groups.setdefault(label, []).append((run, log.sort_values("step")))

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, members) in enumerate(groups.items()):
        colour = cycle[i % len(cycle)]
        for _, log in members:
            if len(members) > 1:
                ax.plot(log[x], log[metric], color=colour, alpha=0.3, lw=0.8)
        if len(members) > 1:
            # Mean over repetitions at the evaluations every one of them has.
            columns = list(dict.fromkeys(["step", x, metric]))
            merged = pd.concat([log[columns] for _, log in members])
            counts = merged.groupby("step")[metric].count()
            shared = counts.index[counts == len(members)]
            mean = merged[merged["step"].isin(shared)].groupby("step", as_index=False).mean()
            ax.plot(
                mean[x], mean[metric], color=colour, lw=2, label=f"{label} (mean of {len(members)})"
            )
        else:
            run, log = members[0]
            ax.plot(log[x], log[metric], color=colour, lw=1.5, marker=".", label=label)
            low, high = f"{metric}_ci_low", f"{metric}_ci_high"
            if low in log and high in log:
                ax.fill_between(log[x], log[low], log[high], color=colour, alpha=0.12, lw=0)
    table = threshold_table(groups, metric, thresholds, x)
    _mark_thresholds(ax, table, list(groups), cycle, thresholds)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or metric)
    ax.legend(fontsize=8)
    ax.set_title(
        f"{ylabel or metric} vs {x}"
        + (
            "\n(ticks: each run's first step at a threshold; bars: mean ± std)"
            if thresholds
            else ""
        ),
        fontsize=10,
    )
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, f"{stem}_steps_to_threshold.csv")
    table.to_csv(csv_path, index=False)
    return [*save_figure(fig, out_dir, stem, formats), csv_path]


def _mark_thresholds(ax, table: pd.DataFrame, labels, cycle, thresholds) -> None:
    """A tick per run where it first reaches each threshold; the mean ± std as a bar."""
    for t in thresholds:
        ax.axhline(t, color="gray", ls=":", lw=0.8)
    for i, label in enumerate(labels):
        colour = cycle[i % len(cycle)]
        mine = table[(table["label"] == label) & table["first_x"].notna()]
        runs = mine[mine["run"] != MEAN_ROW]
        ax.plot(runs["first_x"], runs["threshold"], "|", color=colour, ms=12, mew=1.5)
        for _, row in mine[mine["run"] == MEAN_ROW].iterrows():
            spread = row["std"] if pd.notna(row["std"]) else 0.0
            ax.errorbar(
                [row["first_x"]], [row["threshold"]], xerr=[[spread], [spread]],
                fmt="v", color=colour, ms=7, capsize=3,
            )  # fmt: skip
