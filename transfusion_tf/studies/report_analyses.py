"""The report's representation and weight sections: Fig 2 with its null floor, Figs 3-5,
similarity at initialisation vs after training, weight movement (from saved results)."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis import plot_cca, plot_filters
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
            std = float(np.std(box.values, ddof=1)) if len(box.values) > 1 else float("nan")
            rows.append(
                {
                    "measure": measure,
                    "comparison": comparison,
                    "pairs": len(box.values),
                    "value (mean ± std over pairs)": format_mean_std(box.mean, std),
                    "null floor": _number(box.floor),
                    "value - floor": _number(box.mean - box.floor),
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
        "pair is the mean over the two stages. The null floor is what the measure gives "
        "without any shared representation (see the analysis manual); only value - floor "
        "is comparable across models and with the paper."
    )
    return Section(f"Fig 2 ({name}): representation similarity", note, table)


def _model_comparison(found: evidence.AnalysisEvidence) -> list[Section]:
    """Between models: is one model's Fig 2 gap different from another's beyond the noise?"""
    gaps = {}
    for name, boxes in found.fig2.items():
        rr, rp = boxes.get("random_vs_random"), boxes.get("random_vs_pretrained")
        if rr is not None and rp is not None and len(rr.values) > 1 and len(rp.values) > 1:
            gaps[name] = claims.estimate(rr.values).minus(claims.estimate(rp.values))
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
        "mean CCA with its standard error over pairs, and whether two gaps differ by more "
        "than twice the standard error of their difference."
    )
    return [Section("Fig 2 across models: differences beyond the noise?", note, pd.DataFrame(rows))]


def _figures(analysis: AnalysisSpec, out: str) -> list[Section]:
    parts = []
    measure = (analysis.flags.get("measures") or "mean_cca").split(",")[0]
    if {"fig2", "fig3", "fig4"} & set(analysis.analyses):
        for path in plot_cca.plot_all(out, out_dir=out, measure=measure, formats=_FORMATS):
            name = os.path.basename(path)[: -len(".png")]
            kind = name.split("_")[0]
            title = f"Fig {kind[3:]} figure ({analysis.name}, {measure})"
            parts.append(Section(title, _FIG_NOTES.get(kind, ""), figure=path))
    if "fig5" in analysis.analyses:
        shown = {names[0] for names in (analysis.random_runs, analysis.pretrained_runs) if names}
        for path in plot_filters.plot_all(out, formats=_FORMATS):
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
    if table is None:
        return None
    table = table[table["measure"] == evidence.MEASURE]
    floor = "floor" if "floor" in table else None
    order = list(dict.fromkeys(table["endpoint"]))
    rows = []
    for (comparison, endpoint), group in table.groupby(["comparison", "endpoint"], sort=False):
        rows.append(
            {
                "comparison": comparison,
                "endpoint": endpoint,
                "pairs": len(group),
                "at init": f"{group['init_value'].mean():.3f}",
                "after training": f"{group['final_value'].mean():.3f}",
                "null floor": _number(group[floor].mean()) if floor else "-",
            }
        )
    rows.sort(key=lambda r: (r["comparison"], order.index(r["endpoint"])))
    note = (
        "Mean CCA between two networks per layer, at initialisation and after training "
        "(the paper's Fig 4). Two random initialisations share no features, so their "
        "similarity sits near the floor at init; a pretrained start shares its lower layers "
        "exactly. Training can lower similarity below its value at init where the two "
        "networks, starting alike, move apart while learning the task."
    )
    return Section(f"Similarity at init vs after training ({name})", note, pd.DataFrame(rows))


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


def _number(value: float) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
    )
