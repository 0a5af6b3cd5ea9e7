"""Aggregating finished runs of a study: per-group means over seeds, steps to thresholds.

Reads only what the runs saved (config.json, train_summary.json, eval_log.csv,
metrics.json); nothing is recomputed from checkpoints here.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from transfusion_tf import metrics, studies


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

    spec: studies.RunSpec
    path: str
    config: dict
    main_metric: str
    eval_log: pd.DataFrame
    split: str
    test: dict

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    def steps_to(self, threshold: float) -> int | None:
        if self.eval_log.empty:
            return None
        return metrics.steps_to_threshold(
            self.eval_log["step"], self.eval_log[self.main_metric], threshold
        )


def load_run(spec: studies.RunSpec, path: str) -> RunResult:
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


def metric_table(results: list[RunResult], metric: str | None = None) -> pd.DataFrame:
    """Per group: the test metric's mean and std over seeds, and each seed's value.

    Args:
      results: finished runs (those without a test evaluation are ignored).
      metric: metric name; default each run's main metric.

    Returns:
      Columns `group, runs, mean, std, values` (std is the sample std, NaN for one run).
    """
    rows = []
    for group, members in _by_group(results).items():
        key = metric or members[0].main_metric
        values = [float(r.test[key]) for r in members if key in r.test]
        rows.append(
            {
                "group": group,
                "runs": len(values),
                "mean": float(np.mean(values)) if values else float("nan"),
                "std": _std(values),
                "values": values,
            }
        )
    return pd.DataFrame(rows, columns=["group", "runs", "mean", "std", "values"])


def steps_table(results: list[RunResult], thresholds) -> pd.DataFrame:
    """Per group and threshold: how many seeds reached it, and the mean/std of the steps.

    Returns:
      Columns `group, threshold, reached, runs, mean_steps, std_steps, steps` where `steps`
      lists each seed's first evaluated step at or above the threshold (None if never).
    """
    rows = []
    for group, members in _by_group(results).items():
        for threshold in thresholds:
            steps = [r.steps_to(threshold) for r in members]
            reached = [s for s in steps if s is not None]
            rows.append(
                {
                    "group": group,
                    "threshold": threshold,
                    "reached": len(reached),
                    "runs": len(members),
                    "mean_steps": float(np.mean(reached)) if reached else float("nan"),
                    "std_steps": _std(reached),
                    "steps": steps,
                }
            )
    return pd.DataFrame(rows)


def _by_group(results: list[RunResult]) -> dict[str, list[RunResult]]:
    groups: dict[str, list[RunResult]] = {}
    for result in results:
        groups.setdefault(result.spec.group or result.spec.name, []).append(result)
    return groups


def _std(values) -> float:
    """Sample standard deviation over seeds; NaN for fewer than two."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
