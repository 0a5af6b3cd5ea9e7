"""The report's representation and weight sections: Fig 2 with its null floor, Figs 3-5,
similarity at initialisation vs after training, weight movement (from saved results)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.figures import cca as cca_figures
from analysis.figures import filters as filter_figures
from transfusion_tf.studies import claims, commands, evidence
from transfusion_tf.studies.report_files import Section, format_mean_std
from transfusion_tf.studies.spec import AnalysisSpec

_FORMATS = ("png",)
_FIG_NOTES = {
    "fig2": "Boxes over pairs of networks (top two stages); the dashed line is the null floor.",
    "fig3": "Per endpoint: similarity of each network at initialisation and after training.",
    "fig4": "Per endpoint: similarity of two networks at initialisation against after training.",
}


def sections(
    analysis: AnalysisSpec, workdir: str, found: evidence.AnalysisEvidence, paper: Mapping
) -> list[Section]:
    out = commands.analysis_dir(workdir, analysis.name)
    if not os.path.exists(os.path.join(out, ".complete.json")):
        return [Section(f"Analysis {analysis.name}", "Not run yet (its runs are not finished).")]
    parts = []
    if analysis.name in found.fig2:
        parts.append(_fig2_table(analysis.name, out, paper.get("fig2", {})))
        if analysis.name == _last_fig2(found):
            parts += _model_comparison(found)
    parts += _figures(analysis, out)
    init_vs_final = _init_vs_final(analysis.name, out)
    if init_vs_final is not None:
        parts.append(init_vs_final)
    movement = _weight_movement(analysis, out)
    if movement is not None:
        parts.append(movement)
    return parts


def _last_fig2(found: evidence.AnalysisEvidence) -> str:
    return list(found.fig2)[-1]


def _fig2_table(name: str, out: str, paper: Mapping) -> Section:
    rows = []
    for measure in ("mean_cca", "svcca", "pwcca", "cka"):
        for comparison, box in evidence.fig2_comparisons(out, name, measure).items():
            rows.append(
                {
                    "measure": measure,
                    "comparison": comparison,
                    "pairs": len(box.values),
                    "value (mean ± std over pairs)": _mean_std(box.values),
                    "null floor": _mean_std(box.floors),
                    "value - floor": _mean_std(box.above_floor),
                    "paper": paper.get(f"{name}/{measure}/{comparison}"),
                }
            )
    table = pd.DataFrame(rows)
    if table["paper"].isna().all():
        table = table.drop(columns="paper")
    else:
        table["paper"] = ["" if pd.isna(v) else f"{v:.3f}" for v in table["paper"]]
    note = (
        "Fig 2: similarity of the top two stages between random-init networks of different "
        "seeds and between random-init and pretrained-start networks, after training; each "
        "pair is the mean over the two stages. The null floor is the same measure with the "
        "second network's images shuffled (whole images, positions kept): what it gives "
        "without shared representation at this number of datapoints. Value - floor is what "
        "compares across models; the paper reports values without a floor."
    )
    return Section(f"Fig 2 ({name}): representation similarity", note, table)


def _model_comparison(found: evidence.AnalysisEvidence) -> list[Section]:
    """Between models: is one model's Fig 2 gap different from another's beyond the noise?"""
    gaps = {}
    for name, boxes in found.fig2.items():
        rr, rp = boxes.get("random_vs_random"), boxes.get("random_vs_pretrained")
        if rr is not None and rp is not None and len(rr.values) > 1 and len(rp.values) > 1:
            gaps[name] = claims.estimate(rr.above_floor).minus(claims.estimate(rp.above_floor))
    if len(gaps) < 2:
        return []
    rows = []
    for a, b in itertools.combinations(gaps, 2):
        diff = gaps[a].minus(gaps[b])
        rows.append(
            {
                "models": f"{a} vs {b}",
                "gap (rr - rp), first": f"{gaps[a].mean:+.3f} ± {gaps[a].se:.3f}",
                "gap, second": f"{gaps[b].mean:+.3f} ± {gaps[b].se:.3f}",
                "difference": f"{diff.mean:+.3f} ± {diff.se:.3f}",
                "beyond the noise (abs diff > 2 SE)": "yes"
                if abs(diff.mean) > 2 * diff.se
                else "no",
            }
        )
    note = (
        "Whether models differ in Fig 2 (the paper's reviewers asked this of CBR-LargeT and "
        "CBR-LargeW): each model's gap between random-vs-random and random-vs-pretrained "
        "mean CCA above the floor, with its standard error over pairs, and whether two gaps "
        "differ by more than twice the standard error of their difference."
    )
    return [Section("Fig 2 across models: differences beyond the noise?", note, pd.DataFrame(rows))]


def _figures(analysis: AnalysisSpec, out: str) -> list[Section]:
    parts = []
    measure = (analysis.flags.get("measures") or "mean_cca").split(",")[0]
    if {"fig2", "fig3", "fig4"} & set(analysis.analyses):
        for path in cca_figures.plot_all(out, out_dir=out, measure=measure, formats=_FORMATS):
            name = os.path.basename(path)[: -len(".png")]
            kind = name.split("_")[0]
            title = f"Fig {kind[3:]} figure ({analysis.name}, {measure})"
            parts.append(Section(title, _FIG_NOTES.get(kind, ""), figure=path))
    if "fig5" in analysis.analyses:
        shown = {names[0] for names in (analysis.random_runs, analysis.pretrained_runs) if names}
        for path in filter_figures.plot_all(out, formats=_FORMATS):
            run = os.path.basename(path)[len("fig5_") : -len(".png")]
            if run in shown:
                note = (
                    "First-layer filters at initialisation (left) and after training (right), "
                    "each filter scaled to its own largest weight (mid-gray = 0), enlarged."
                )
                parts.append(Section(f"Fig 5: conv1 filters of {run}", note, figure=path))
    return parts


def _init_vs_final(name: str, out: str) -> Section | None:
    table = evidence.read_table(out, f"fig4_{name}.csv")
    if table is None or "init_floor" not in table:
        return None
    table = table[table["measure"] == evidence.MEASURE]
    order = list(dict.fromkeys(table["endpoint"]))
    rows = []
    for (comparison, endpoint), group in table.groupby(["comparison", "endpoint"], sort=False):
        change = claims.estimate(group["final_value"] - group["init_value"])
        rows.append(
            {
                "comparison": comparison,
                "endpoint": endpoint,
                "pairs": len(group),
                "at init (floor)": _with_floor(group, "init"),
                "after training (floor)": _with_floor(group, "final"),
                "change": f"{change.mean:+.3f} ± {change.se:.3f}"
                if len(group) > 1
                else f"{change.mean:+.3f}",
                "beyond the noise": _beyond(change),
            }
        )
    rows.sort(key=lambda r: (r["comparison"], order.index(r["endpoint"])))
    lower = sum(r["beyond the noise"] == "lower" for r in rows)
    randoms = table[table["comparison"] == "random_vs_random"]
    above = int((randoms.groupby("endpoint")["init_minus_floor"].mean() > 0).sum())
    note = (
        "Mean CCA between two networks per layer at initialisation and after training, each "
        "with its null floor (the paper's Fig 4 asks how far similarity at init predicts it "
        "at convergence). Change: after minus at init, ± its standard error over pairs; "
        "'lower'/'higher' where it exceeds twice that. Here similarity is lower after "
        f"training beyond the noise in {lower} of {len(rows)} rows, and two random "
        f"initialisations sit above the floor at init in {above} of "
        f"{randoms['endpoint'].nunique()} layers: random features of the same images "
        "already correlate, and a drop after training is each network moving to its own "
        "solution (a reading of these numbers, not a test of it)."
    )
    return Section(f"Similarity at init vs after training ({name})", note, pd.DataFrame(rows))


def _with_floor(group: pd.DataFrame, when: str) -> str:
    return f"{group[f'{when}_value'].mean():.3f} ({group[f'{when}_floor'].mean():.3f})"


def _beyond(change: claims.Estimate) -> str:
    if change.n < 2 or not np.isfinite(change.se):
        return "-"
    if abs(change.mean) <= 2 * change.se:
        return "no"
    return "higher" if change.mean > 0 else "lower"


def _weight_movement(analysis: AnalysisSpec, out: str) -> Section | None:
    table = evidence.read_table(out, "weight_movement_endpoints.csv")
    if table is None:
        return None
    groups = {n: "random" for n in analysis.random_runs} | {
        n: "pretrained" for n in analysis.pretrained_runs
    }
    table["start"] = table["run"].map(groups).fillna("other")
    order = list(dict.fromkeys(table["endpoint"]))
    pivot = table.pivot_table(index="start", columns="endpoint", values="relative_change")
    pivot = pivot[order].reset_index().round(4)
    counts = table.groupby("start")["run"].nunique()
    pivot.insert(1, "runs", [int(counts[s]) for s in pivot["start"]])
    note = (
        "Relative change of each endpoint's kernels, ||W_final - W_init|| / ||W_init||, "
        "mean over the runs of each start."
    )
    return Section(f"Weight movement ({analysis.name})", note, pivot)


def _mean_std(values) -> str:
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return format_mean_std(float(np.mean(values)) if len(values) else float("nan"), std)
