"""A study's report from its saved results: the paper's claims tested, tables, figures, provenance.

Reads only files the runs and analyses wrote (config.json, train_summary.json,
eval_log.csv, metrics.json, predictions CSVs, the analysis CSV/JSON/NPZ files) and draws
the figures with `analysis/`'s figure code; nothing is trained or recomputed here. Runs
that have not finished are listed as such and left out of the numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.figures import convergence
from transfusion_tf import provenance
from transfusion_tf.studies import aggregate, arms, claims, commands, evidence, report_analyses
from transfusion_tf.studies import state as run_states
from transfusion_tf.studies.report_files import Section, format_mean_std, write_report
from transfusion_tf.studies.spec import Study

_FORMATS = ("png",)
METRIC_LABELS = {
    "auc": "referable-DR AUC",
    "mean_auc": "mean AUC of 5 pathologies",
    "accuracy": "top-1 accuracy",
}
SYNTHETIC_BANNER = "Synthetic data: compare trends, not values."


def build_report(study: Study, workdir: str, data_roots: Mapping[str, str]):
    """Writes `<workdir>/report.md` and `report.html`; returns their paths."""
    results, states = load_results(study, workdir)
    found = evidence.load(study, workdir)
    sources = arms.sources(results)
    sections = [
        claims_section(claims.evaluate_claims(results, found)),
        Section("Study", _overview(study, states)),
    ]
    sections += _training_sections(study, results, sources, os.path.join(workdir, "figures"))
    for analysis in study.analyses:
        sections += report_analyses.sections(analysis, workdir, found, study.paper)
    sections.append(_provenance(workdir, results, data_roots))
    banner = _banner(data_roots)
    return write_report(workdir, study.title, sections, banner=banner)


def load_results(study: Study, workdir: str):
    """(finished runs' results, run name -> state) for every run of the study."""
    results, states = [], {}
    for run in study.runs:
        path = commands.run_dir(workdir, run.name)
        states[run.name] = run_states.run_state(path)
        if states[run.name] == "finished":
            results.append(aggregate.load_run(run, path))
    return results, states


def console_summary(study: Study, workdir: str, md_path: str) -> str:
    """What the study binary prints last: claims, held-out metric per group, the report path."""
    results, _ = load_results(study, workdir)
    rows = claims.evaluate_claims(results, evidence.load(study, workdir))
    lines = ["claims of the paper:"]
    lines += [f"  {r.verdict:<13} {r.claim}" for r in rows]
    for metric, members in _by_metric(results).items():
        label = METRIC_LABELS.get(metric, metric)
        lines.append(f"held-out {label} (mean ± std over seeds; kappa where graded):")
        table = aggregate.metric_table(members, metric)
        kappa = aggregate.metric_table(members, "kappa").set_index("group")
        for _, row in table.iterrows():
            extra = ""
            if kappa.loc[row["group"], "runs"]:
                extra = f"  kappa {format_mean_std(kappa.loc[row['group'], 'mean'], np.nan)}"
            shown = format_mean_std(row["mean"], row["std"])
            lines.append(f"  {row['group']:<32} {shown:<16} n={row['runs']}{extra}")
    html = os.path.splitext(md_path)[0] + ".html"
    lines.append(f"report: {md_path}\n        {html}")
    return "\n".join(lines)


def claims_section(rows: list[claims.ClaimRow]) -> Section:
    table = pd.DataFrame(
        {
            "claim (paper)": [f"{r.claim} ({r.source})" for r in rows],
            "this study's numbers": [r.numbers or "-" for r in rows],
            "verdict": [r.verdict for r in rows],
            "rule": [r.rule for r in rows],
        }
    )
    note = (
        "Each claim of the paper, the numbers of this study that test it (differences ± 2 "
        "standard errors over seeds), and the verdict of the stated rule. 'not run': the "
        "study has no runs that test it."
    )
    return Section("Claims of the paper", note, table)


def _by_metric(results) -> dict[str, list[aggregate.RunResult]]:
    out: dict[str, list[aggregate.RunResult]] = {}
    for result in results:
        out.setdefault(result.main_metric, []).append(result)
    return out


def _training_sections(study, results, sources, figures: str) -> list[Section]:
    sections = []
    for metric, members in _by_metric(results).items():
        if metric == "accuracy":  # Source pretraining: its table and its curve.
            sections.append(_source_table(members, sources))
            sections.append(_curves("Source pretraining curves", members, metric, (), figures))
            continue
        sections.append(_final_table(study, metric, members, sources))
        sections.append(_steps_section(study, metric, members, sources))
        for family, group in _families(members).items():
            title = f"Convergence: {family}" if family else "Convergence"
            sections.append(_curves(title, group, metric, study.thresholds, figures))
    return sections


def _overview(study: Study, states: Mapping[str, str]) -> str:
    finished = sum(s == "finished" for s in states.values())
    lines = [f"Study `{study.name}`: {finished} of {len(states)} runs finished."]
    waiting = [name for name, s in states.items() if s != "finished"]
    if waiting:
        lines.append("Not finished (left out of every number): " + ", ".join(waiting) + ".")
    if study.notes:
        lines.append(study.notes)
    lines.append(
        "Numbers are ours, from the saved run files; a 'paper' column gives the published "
        "value (secondary copies, approximate) where one exists."
    )
    return " ".join(lines)


def _starts(members, sources) -> dict[str, str]:
    return {r.group: arms.describe(r, sources) for r in members}


def _final_table(study: Study, metric: str, members, sources) -> Section:
    table = aggregate.metric_table(members, metric)
    split = members[0].split
    label = METRIC_LABELS.get(metric, metric)
    starts = _starts(members, sources)
    rows = pd.DataFrame(
        {
            "group": table["group"],
            "start": [starts[g] for g in table["group"]],
            f"{split} {label} (mean ± std)": [
                format_mean_std(m, s) for m, s in zip(table["mean"], table["std"], strict=True)
            ],
            "per seed (95% CI)": [
                _per_seed(v, c) for v, c in zip(table["values"], table["ci"], strict=True)
            ],
        }
    )
    for extra in ("kappa", "accuracy"):
        other = aggregate.metric_table(members, extra)
        if other["runs"].sum():
            rows[f"{extra} (mean ± std)"] = [
                format_mean_std(m, s) for m, s in zip(other["mean"], other["std"], strict=True)
            ]
    _add_paper(rows, study.paper.get(metric, {}))
    notes = _collapse_notes(members)
    if any(notes.values()):
        rows["note"] = [notes.get(g, "") for g in table["group"]]
    note = (
        f"Held-out `{split}` split at the final step of each run (`metrics.json`): mean and "
        "sample std over seeds, then each seed with its patient-level bootstrap 95% CI."
    )
    return Section(f"Final {label} ({split})", note, rows)


def _per_seed(values, intervals) -> str:
    parts = []
    for value, (low, high) in zip(values, intervals, strict=True):
        ci = f" ({low:.3f}-{high:.3f})" if np.isfinite(low) and np.isfinite(high) else ""
        parts.append(f"{value:.3f}{ci}")
    return ", ".join(parts)


def _collapse_notes(members) -> dict[str, str]:
    """Groups whose seeds predict one grade for every held-out image (kappa is then 0)."""
    notes = {}
    for group, runs in aggregate.by_group(members).items():
        collapsed = []
        for r in runs:
            grades = r.predicted_grades()
            if grades is not None and len(grades) and len(np.unique(grades)) == 1:
                collapsed.append(int(grades[0]))
        if collapsed:
            notes[group] = (
                f"{len(collapsed)} of {len(runs)} seeds predict grade "
                f"{'/'.join(str(g) for g in sorted(set(collapsed)))} for every image"
            )
    return notes


def _add_paper(rows: pd.DataFrame, paper: Mapping[str, float]) -> None:
    """A 'paper' column only where the paper published a value for some row."""
    values = [paper.get(g) for g in rows["group"]]
    if any(v is not None for v in values):
        rows["paper"] = [
            "" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:.3f}" for v in values
        ]


def _steps_section(study: Study, metric: str, members, sources) -> Section:
    table = aggregate.steps_table(members, study.thresholds)
    starts = _starts(members, sources)
    rows = pd.DataFrame(
        {
            "group": table["group"],
            "start": [starts[g] for g in table["group"]],
            "threshold": table["threshold"],
            "reached": [f"{r}/{n}" for r, n in zip(table["reached"], table["runs"], strict=True)],
            "steps (mean ± std)": [
                format_mean_std(m, s, 0)
                for m, s in zip(table["mean_steps"], table["std_steps"], strict=True)
            ],
            "per seed": [
                ", ".join("-" if s is None else str(s) for s in v) for v in table["steps"]
            ],
            "resolution (steps)": table["resolution"],
        }
    )
    _add_paper(rows, study.paper.get("steps", {}))
    label = METRIC_LABELS.get(metric, metric)
    note = (
        f"Each seed's first evaluated step with validation {label} at or above the threshold "
        "(`eval_log.csv`; '-' never within the budget), then the mean and std over the seeds "
        "that reached it, as the convergence figures mark them. A step is known only to the "
        "evaluation interval (the resolution column)."
    )
    return Section(f"Steps to {label} threshold", note, rows)


def _source_table(members, sources) -> Section:
    table = aggregate.metric_table(members, "accuracy")
    rows = []
    for _, row in table.iterrows():
        run = aggregate.by_group(members)[row["group"]][0]
        source = sources[run.config["model"]["name"]]
        rows.append(
            {
                "group": row["group"],
                "data": "synthetic source task" if source.synthetic else run.config["data"]["root"],
                f"{run.split} top-1": _per_seed(row["values"], row["ci"]),
                "chance": f"{source.chance:.3f}",
                "steps": run.total_steps,
            }
        )
    note = (
        "Source-task pretraining of the CBRs (the paper pretrained them on ImageNet): held-out "
        "top-1 accuracy with its bootstrap 95% CI, beside chance (1 / classes). Arms that "
        "start from these weights are named by this source, not as ImageNet."
    )
    return Section("Source pretraining", note, pd.DataFrame(rows))


def _curves(title: str, members, metric: str, thresholds, figures: str) -> Section:
    stem = "curves_" + "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")
    label = f"validation {METRIC_LABELS.get(metric, metric)}"
    files = convergence.plot_convergence(
        [r.path for r in members],
        figures,
        labels=[r.group for r in members],
        metric=metric,
        thresholds=list(thresholds),
        stem=stem,
        formats=_FORMATS,
        ylabel=label,
    )
    note = (
        f"{label} by step; thin lines are seeds, thick their mean. On each threshold, ticks "
        "mark each seed's first step reaching it and a bar the mean ± std over those seeds "
        "(the steps table's numbers)."
    )
    return Section(title, note, figure=files[0])


def _families(members) -> dict[str, list]:
    """Groups named `<family>/<arm>` share one convergence figure per family."""
    families: dict[str, list] = {}
    for result in members:
        family = result.panel if "/" in result.group else ""
        families.setdefault(family, []).append(result)
    return families


def _banner(data_roots: Mapping[str, str]) -> str:
    synthetic = sorted(k for k, root in data_roots.items() if run_states.is_synthetic(root))
    if not synthetic:
        return ""
    return f"{SYNTHETIC_BANNER} Synthetic here: {', '.join(synthetic)}."


def _provenance(workdir: str, results, data_roots: Mapping[str, str]) -> Section:
    rows = [
        {
            "run": r.spec.name,
            "config": r.spec.config,
            "model": r.config["model"]["name"],
            "init": r.config["init"]["kind"],
            "seed": r.config["seed"],
            "image size": r.config["data"]["image_size"],
            "steps": r.total_steps,
            "batch": r.config["train"]["batch_size"],
            "precision": r.config["precision"],
        }
        for r in results
    ]
    git = provenance.git_state()
    versions = provenance.package_versions()
    note = (
        f"Code: commit {git.get('commit', 'unknown')}"
        + (" (with uncommitted changes)" if git.get("dirty") else "")
        + ". Packages: "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + ". Data: "
        + "; ".join(f"{k} = `{v}`" for k, v in data_roots.items())
        + ". Each run's workdir holds its config.json, provenance.json (command, host, "
        "versions, commit per launch) and init_report.json; the study's commands are in "
        f"`{os.path.join(workdir, 'study.json')}`."
    )
    return Section("Provenance", note, pd.DataFrame(rows) if rows else None)
