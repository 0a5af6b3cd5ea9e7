"""Aggregating finished runs of a study: per-group numbers over seeds, steps to thresholds.

Reads only what the runs saved (config.json, train_summary.json, eval_log.csv,
metrics.json, predictions_<split>.csv); nothing is recomputed from checkpoints here.
A run's group is `<panel>/<arm>` (e.g. `cbr_small/imagenet`, `chexpert_resnet_v1_50/random`,
`n1000_cbr_small/random`): runs of one group differ only by seed.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from transfusion_tf import metrics
from transfusion_tf.studies.spec import RunSpec


@dataclasses.dataclass
class RunResult:
    """What one finished run saved.

    Attributes:
      spec: the run's place in the grid.
      path: its workdir.
      config: its config.json.
      main_metric: the task's headline metric name (e.g. `auc`, `mean_auc`).
      eval_log: its eval_log.csv (validation metrics by step).
      split: the held-out split of `test` (the run's first `eval.final_splits`).
      test: its metrics.json entry for that split ({} if not evaluated).
    """

    spec: RunSpec
    path: str
    config: dict
    main_metric: str
    eval_log: pd.DataFrame
    split: str
    test: dict

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def group(self) -> str:
        return self.spec.group or self.spec.name

    @property
    def panel(self) -> str:
        """The group's part before `/` (model, with a dataset or size prefix)."""
        return self.group.partition("/")[0]

    @property
    def arm(self) -> str:
        """The group's part after `/` (how the weights started)."""
        return self.group.partition("/")[2] or self.group

    @property
    def eval_every(self) -> int:
        return int(self.config["train"]["eval_every"])

    @property
    def total_steps(self) -> int:
        return int(self.config["train"]["total_steps"])

    @property
    def train_subset(self) -> int:
        return int(self.config["data"].get("train_subset", 0) or 0)

    def steps_to(self, threshold: float) -> int | None:
        if self.eval_log.empty:
            return None
        return metrics.steps_to_threshold(
            self.eval_log["step"], self.eval_log[self.main_metric], threshold
        )

    def predicted_grades(self) -> np.ndarray | None:
        """The argmax grade of each held-out image (None: no grade probabilities saved)."""
        path = os.path.join(self.path, f"predictions_{self.split}.csv")
        if not os.path.exists(path):
            return None
        table = pd.read_csv(path)
        grades = sorted(c for c in table.columns if c.startswith("p_grade"))
        if not grades:
            return None
        return table[grades].to_numpy().argmax(axis=1)


def load_run(spec: RunSpec, path: str) -> RunResult:
    """Reads a finished run's saved files.

    Raises:
      FileNotFoundError: naming the run and the missing file.
    """

    def read_json(name):
        file = os.path.join(path, name)
        if not os.path.exists(file):
            raise FileNotFoundError(f"run {spec.name}: {file} not found (is the run finished?)")
        with open(file) as f:
            return json.load(f)

    summary = read_json("train_summary.json")
    config = read_json("config.json")
    log_path = os.path.join(path, "eval_log.csv")
    eval_log = pd.read_csv(log_path) if os.path.exists(log_path) else pd.DataFrame()
    split = (list(config["eval"].get("final_splits", ())) or ["test"])[0]
    test = {}
    if os.path.exists(os.path.join(path, "metrics.json")):
        test = read_json("metrics.json").get(split, {})
    return RunResult(
        spec=spec,
        path=path,
        config=config,
        main_metric=summary["main_metric"],
        eval_log=eval_log,
        split=split,
        test=test,
    )


def by_group(results: list[RunResult]) -> dict[str, list[RunResult]]:
    """Runs by group, groups in the order their first run appears."""
    groups: dict[str, list[RunResult]] = {}
    for result in results:
        groups.setdefault(result.group, []).append(result)
    return groups


def metric_table(results: list[RunResult], metric: str | None = None) -> pd.DataFrame:
    """Per group: the held-out metric's mean and std over seeds, and each seed's value and CI.

    Args:
      results: finished runs (those without a held-out evaluation are ignored).
      metric: metric name; default each run's main metric.

    Returns:
      Columns `group, runs, mean, std, values, ci` where `ci` lists each seed's bootstrap
      95% interval (low, high) from metrics.json, (NaN, NaN) where it has none; std is the
      sample std over seeds, NaN for one run.
    """
    rows = []
    for group, members in by_group(results).items():
        key = metric or members[0].main_metric
        scored = [r for r in members if key in r.test]
        values = [float(r.test[key]) for r in scored]
        ci = [
            (
                float(r.test.get(f"{key}_ci_low", float("nan"))),
                float(r.test.get(f"{key}_ci_high", float("nan"))),
            )
            for r in scored
        ]
        rows.append(
            {
                "group": group,
                "runs": len(values),
                "mean": float(np.mean(values)) if values else float("nan"),
                "std": sample_std(values),
                "values": values,
                "ci": ci,
            }
        )
    return pd.DataFrame(rows, columns=["group", "runs", "mean", "std", "values", "ci"])


def steps_table(results: list[RunResult], thresholds) -> pd.DataFrame:
    """Per group and threshold: each seed's first step at or above it, and their summary.

    Returns:
      Columns `group, threshold, runs, reached, mean_steps, std_steps, steps, resolution`
      (`metrics.summarize_steps` over `steps`, each seed's first evaluated step or None;
      `resolution` the groups' evaluation interval in steps).
    """
    rows = []
    for group, members in by_group(results).items():
        for threshold in thresholds:
            steps = [r.steps_to(threshold) for r in members]
            summary = metrics.summarize_steps(steps)
            rows.append(
                {
                    "group": group,
                    "threshold": threshold,
                    "runs": summary["runs"],
                    "reached": summary["reached"],
                    "mean_steps": summary["mean"],
                    "std_steps": summary["std"],
                    "steps": steps,
                    "resolution": max(r.eval_every for r in members),
                }
            )
    return pd.DataFrame(rows)


def sample_std(values) -> float:
    """Sample standard deviation over seeds; NaN for fewer than two."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
