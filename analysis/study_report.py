"""A study's report from its saved results: tables beside the paper's numbers, figures, provenance.

Reads only files the runs and analyses wrote (config.json, train_summary.json,
eval_log.csv, metrics.json, the analysis CSV/JSON/NPZ files) and draws the figures with
the plot modules; nothing is trained or recomputed here. Runs that have not finished are
listed as such and left out of the numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import pandas as pd

from analysis import aggregate, plot_cca, plot_convergence, plot_filters
from analysis.report import NOT_PUBLISHED, Section, format_mean_std, write_report
from transfusion_tf import provenance, studies

_FORMATS = ("png",)


def build_report(study: studies.Study, workdir: str, data_roots: Mapping[str, str]):
    """Writes `<workdir>/report.md` and `report.html`; returns their paths."""
    figures = os.path.join(workdir, "figures")
    results, states = [], {}
    for run in study.runs:
        path = studies.run_dir(workdir, run.name)
        states[run.name] = studies.run_state(path)
        if states[run.name] == "finished":
            results.append(aggregate.load_run(run, path))
    finished = sum(s == "finished" for s in states.values())
    sections = [Section("Study", _overview(study, finished, states))]
    by_metric: dict[str, list[aggregate.RunResult]] = {}
    for result in results:
        by_metric.setdefault(result.main_metric, []).append(result)
    for metric, members in by_metric.items():
        sections.append(_final_table(study, metric, members))
        if metric == "accuracy":  # Source pretraining: its curve is enough.
            sections.append(_curves(f"{metric} during training", members, metric, (), figures))
            continue
        sections.append(_steps_section(study, metric, members))
        for family, group in _families(members).items():
            title = f"Convergence: {family}" if family else "Convergence"
            sections.append(_curves(title, group, metric, study.thresholds, figures))
    for analysis in study.analyses:
        sections += _analysis_sections(study, analysis, workdir)
    sections.append(_provenance(study, workdir, results, data_roots))
    return write_report(workdir, study.title, sections)


def headline(md_path: str, prefixes=("Final", "Steps", "Fig 2")) -> str:
    """The report's result tables (sections whose titles start with `prefixes`), as text."""
    with open(md_path) as f:
        sections = f.read().split("\n## ")[1:]
    chosen = [s for s in sections if s.startswith(prefixes)]
    return "\n".join("## " + s.strip() + "\n" for s in chosen)


def _overview(study: studies.Study, finished: int, states: Mapping[str, str]) -> str:
    lines = [f"Study `{study.name}`: {finished} of {len(states)} runs finished."]
    waiting = [name for name, state in states.items() if state != "finished"]
    if waiting:
        lines.append("Not finished (left out of every number): " + ", ".join(waiting) + ".")
    if study.notes:
        lines.append(study.notes)
    lines.append(
        "Numbers are ours, from the saved run files; columns marked 'paper' are the "
        "published values (secondary copies, approximate), 'not published' where none are."
    )
    return " ".join(lines)


def _final_table(study, metric: str, members) -> Section:
    table = aggregate.metric_table(members, metric)
    split = members[0].split
    paper = study.paper.get(metric, {})
    rows = pd.DataFrame(
        {
            "group": table["group"],
            f"{split} {metric} (mean ± std)": [
                format_mean_std(m, s) for m, s in zip(table["mean"], table["std"], strict=True)
            ],
            "seeds": table["runs"],
            "per seed": [", ".join(f"{v:.3f}" for v in values) for values in table["values"]],
            "paper": [_paper(paper, g) for g in table["group"]],
        }
    )
    note = (
        f"Held-out `{split}` split, evaluated at the final step of each run "
        "(`metrics.json`); mean and sample std over seeds."
    )
    return Section(f"Final {metric} ({split})", note, rows)


def _steps_section(study, metric: str, members) -> Section:
    table = aggregate.steps_table(members, study.thresholds)
    paper = study.paper.get("steps", {})
    rows = pd.DataFrame(
        {
            "group": table["group"],
            "threshold": table["threshold"],
            "reached": [f"{r}/{n}" for r, n in zip(table["reached"], table["runs"], strict=True)],
            "steps (mean ± std)": [
                format_mean_std(m, s, 0)
                for m, s in zip(table["mean_steps"], table["std_steps"], strict=True)
            ],
            "per seed": [
                ", ".join("-" if s is None else str(s) for s in v) for v in table["steps"]
            ],
            "paper": [_paper(paper, g) for g in table["group"]],
        }
    )
    note = (
        f"First evaluated step whose validation {metric} is at or above the threshold "
        "(`eval_log.csv`); '-' never reached within the budget. Evaluations are every "
        f"{_eval_every(members)} steps, so steps are resolved to that grid."
    )
    return Section(f"Steps to {metric} threshold", note, rows)


def _curves(title: str, members, metric: str, thresholds, figures: str) -> Section:
    stem = "curves_" + "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")
    files = plot_convergence.plot_convergence(
        [r.path for r in members],
        figures,
        labels=[r.spec.group or r.spec.name for r in members],
        metric=metric,
        thresholds=list(thresholds),
        stem=stem,
        formats=_FORMATS,
    )
    note = f"Validation {metric} by step; thin lines are seeds, thick their mean."
    return Section(title, note, figure=files[0])


def _analysis_sections(study, analysis: studies.AnalysisSpec, workdir: str) -> list[Section]:
    out = os.path.join(workdir, "analysis", analysis.name)
    if not os.path.exists(os.path.join(out, ".complete.json")):
        return [Section(f"Analysis {analysis.name}", "Not run yet (its runs are not finished).")]
    sections = []
    summary_path = os.path.join(out, f"fig2_{analysis.name}.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)["summary"]
        paper = study.paper.get("fig2", {})
        rows = [
            {
                "measure": measure,
                "comparison": comparison,
                "pairs": value["pairs"],
                "similarity (mean ± std over pairs)": format_mean_std(
                    value["mean"], value["std"] if value["pairs"] > 1 else float("nan")
                ),
                "paper": _paper(paper, f"{analysis.name}/{measure}/{comparison}"),
            }
            for measure, comparisons in summary.items()
            for comparison, value in comparisons.items()
        ]
        note = (
            "Fig 2: similarity of the top two stages between differently seeded random-init "
            "networks and between random-init and pretrained-start networks, after training. "
            "Pairs are averaged over the two stages."
        )
        title = f"Fig 2 ({analysis.name}): representation similarity"
        sections.append(Section(title, note, pd.DataFrame(rows)))
    measure = (analysis.flags.get("measures") or "mean_cca").split(",")[0]
    drawn = []
    if {"fig2", "fig3", "fig4"} & set(analysis.analyses):  # A fig5-only analysis has none.
        drawn = plot_cca.plot_all(out, out_dir=out, measure=measure, formats=_FORMATS)
    for path in drawn:
        name = os.path.basename(path)[: -len(".png")]
        title = f"Fig {name[3:]} figure ({analysis.name}, {measure})"
        sections.append(Section(title, _FIG_NOTES.get(name, ""), figure=path))
    if "fig5" in analysis.analyses:
        filters = plot_filters.plot_all(out, formats=_FORMATS)
        shown = {studies.run_dir(workdir, n) for n in _first_of_each(analysis)}
        for path in filters:
            run = os.path.basename(path)[len("fig5_") : -len(".png")]
            if any(os.path.basename(s) == run for s in shown):
                title = f"Fig 5: conv1 filters of {run}"
                sections.append(Section(title, _FIG_NOTES["fig5"], figure=path))
    movement = os.path.join(out, "weight_movement_endpoints.csv")
    if os.path.exists(movement):
        table = pd.read_csv(movement)
        note = "Relative weight change per endpoint, ||W_final - W_init|| / ||W_init||."
        sections.append(Section(f"Weight movement ({analysis.name})", note, table.round(4)))
    return sections


def _provenance(study, workdir: str, results, data_roots: Mapping[str, str]) -> Section:
    rows = []
    for result in results:
        config = result.config
        rows.append(
            {
                "run": result.spec.name,
                "config": result.spec.config,
                "model": config["model"]["name"],
                "init": config["init"]["kind"],
                "seed": config["seed"],
                "image size": config["data"]["image_size"],
                "steps": config["train"]["total_steps"],
                "batch": config["train"]["batch_size"],
                "precision": config["precision"],
                "data": config["data"]["root"],
            }
        )
    git = provenance.git_state()
    versions = provenance.package_versions()
    note = (
        f"Code: commit {git.get('commit', 'unknown')}"
        + (" (with uncommitted changes)" if git.get("dirty") else "")
        + ". Packages: "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + ". Data: "
        + "; ".join(f"{k} = {v}" for k, v in data_roots.items())
        + ". Each run's workdir holds its config.json, provenance.json (command, host, "
        "versions, commit per launch) and init_report.json; the study's commands are in "
        f"{os.path.join(workdir, 'study.json')}."
    )
    return Section("Provenance", note, pd.DataFrame(rows) if rows else None)


def _families(members) -> dict[str, list]:
    """Groups named `<family>/<arm>` share one convergence figure per family."""
    families: dict[str, list] = {}
    for result in members:
        family = (result.spec.group or result.spec.name).partition("/")[0]
        families.setdefault(family if "/" in (result.spec.group or "") else "", []).append(result)
    return families


def _first_of_each(analysis: studies.AnalysisSpec) -> list[str]:
    return [names[0] for names in (analysis.random_runs, analysis.pretrained_runs) if names]


def _eval_every(members) -> str:
    values = sorted({int(r.config["train"]["eval_every"]) for r in members})
    return "/".join(str(v) for v in values)


def _paper(paper: Mapping[str, float | None], group: str) -> str:
    value = paper.get(group)
    if value is None:
        return NOT_PUBLISHED
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


_FIG_NOTES = {
    "fig2": "Boxes over pairs of networks; higher is more similar.",
    "fig3": "Per endpoint: similarity of each network at initialisation and after training.",
    "fig4": "Per endpoint: similarity at initialisation against similarity at convergence.",
    "fig5": "First-layer filters at initialisation (left) and after training (right).",
}
