"""What a study's analyses saved, read back for its claims and report (nothing recomputed).

`analysis.run_analysis` writes, per analysis directory: `fig2_<name>.json` (a summary per
measure and comparison, with each pair's value and the null floor), `fig3_<name>.csv` and
`fig4_<name>.csv` (long format, one row per endpoint and measure, with floors), and
`weight_movement_endpoints.csv`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np
import pandas as pd

from transfusion_tf.studies import commands
from transfusion_tf.studies.spec import Study

MEASURE = "mean_cca"  # The measure claims are judged on (the paper's Fig 2-3).


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One Fig 2 box: a measure's value and null floor per pair of networks."""

    values: tuple[float, ...]
    floors: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def floor(self) -> float:
        return float(np.mean(self.floors)) if self.floors else float("nan")

    @property
    def above_floor(self) -> tuple[float, ...]:
        """Each pair's value minus its own floor."""
        return tuple(v - f for v, f in zip(self.values, self.floors, strict=True))


@dataclasses.dataclass
class AnalysisEvidence:
    """The analyses' saved numbers that claims are judged on.

    Attributes:
      thresholds: the study's steps-to-threshold targets.
      fig2: analysis name -> comparison (`random_vs_random`, ...) -> its pairs (mean CCA).
      fig3_drop: analysis name -> per network, mean CCA above the floor of its lowest
        endpoint at init vs after training, minus that of its highest endpoint.
    """

    thresholds: tuple[float, ...] = ()
    fig2: dict[str, dict[str, Comparison]] = dataclasses.field(default_factory=dict)
    fig3_drop: dict[str, list[float]] = dataclasses.field(default_factory=dict)


def load(study: Study, workdir: str) -> AnalysisEvidence:
    """Reads every completed analysis of the study."""
    found = AnalysisEvidence(thresholds=tuple(study.thresholds))
    for analysis in study.analyses:
        out = commands.analysis_dir(workdir, analysis.name)
        if not os.path.exists(os.path.join(out, ".complete.json")):
            continue
        fig2 = fig2_comparisons(out, analysis.name)
        if fig2:
            found.fig2[analysis.name] = fig2
        drop = fig3_drops(out, analysis.name)
        if drop:
            found.fig3_drop[analysis.name] = drop
    return found


def fig2_comparisons(out: str, name: str, measure: str = MEASURE) -> dict[str, Comparison]:
    """comparison -> Comparison from `fig2_<name>.json` ({} when absent)."""
    path = os.path.join(out, f"fig2_{name}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        summary = json.load(f).get("summary", {}).get(measure, {})
    return {
        comparison: Comparison(
            values=tuple(float(p["value"]) for p in value["per_pair"]),
            floors=tuple(float(p.get("floor", math.nan)) for p in value["per_pair"]),
        )
        for comparison, value in summary.items()
    }


def fig3_drops(out: str, name: str, measure: str = MEASURE) -> list[float]:
    """Per network: similarity to its init above the floor, lowest endpoint minus highest.

    Floors grow with a layer's channels, so layers compare by value minus floor.
    """
    table = read_table(out, f"fig3_{name}.csv")
    if table is None:
        return []
    table = table[table["measure"] == measure]
    order = list(dict.fromkeys(table["endpoint"]))  # Bottom to top, as written.
    if len(order) < 2:
        return []
    drops = []
    column = "minus_floor" if "minus_floor" in table else "value"
    for _, rows in table.groupby("run", sort=False):
        by_endpoint = rows.set_index("endpoint")[column]
        drops.append(float(by_endpoint[order[0]] - by_endpoint[order[-1]]))
    return drops


def read_table(out: str, name: str) -> pd.DataFrame | None:
    path = os.path.join(out, name)
    return pd.read_csv(path) if os.path.exists(path) else None
