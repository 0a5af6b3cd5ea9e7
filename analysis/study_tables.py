"""What the representation studies save: their long tables, JSON summaries and metadata.

`analysis.representation_studies` computes; this module lays the results out as the files
`analysis/figures` and the study report read: `<study>_<label>.csv` (one row per endpoint
pair and measure: value, null floor, value minus floor, and the datapoints used) and the
`summary` and provenance of `<study>_<label>.json`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import pandas as pd

from analysis import null_floor
from transfusion_tf import provenance


def fig2_summary(table: pd.DataFrame) -> dict:
    """Per measure and comparison: each pair's mean over endpoints, their mean and std.

    Args:
      table: a fig2 table (columns comparison, run_a, run_b, endpoint, measure, value,
        floor, minus_floor).

    Returns:
      {measure: {comparison: {"pairs": n, "mean": m, "std": s (ddof 0), "floor": mean
      floor, "floor_std", "minus_floor": mean of value - floor, "minus_floor_std",
      "per_pair": [{"run_a", "run_b", "value", "floor", "minus_floor"}, ...]}}}; a pair's
      numbers are means over the endpoints. Tables without floors (older files) give the
      value keys only.
    """
    columns = [c for c in FLOOR_COLUMNS if c in table.columns]
    per_pair = table.groupby(["measure", "comparison", "run_a", "run_b"], sort=False)[columns]
    per_pair = per_pair.mean().reset_index()
    summary = {}
    for (measure, comparison), group in per_pair.groupby(["measure", "comparison"], sort=False):
        entry = {"pairs": len(group)} | _mean_std(group, columns)
        entry["per_pair"] = group[["run_a", "run_b", *columns]].to_dict("records")
        summary.setdefault(measure, {})[comparison] = entry
    return summary


def endpoint_summary(table: pd.DataFrame, by: str) -> dict:
    """Per measure, group and endpoint: the mean and std (ddof 0) of every value column.

    Fig 3 (`by="start"`): value, floor, minus_floor of each run at init against itself
    trained. Fig 4 (`by="comparison"`): init_value, final_value, init_floor, final_floor,
    init_minus_floor, final_minus_floor of each pair of runs: the similarity of the
    compared networks at initialisation and after training, each with its floor.

    Returns:
      {measure: {group: {endpoint: {"count": n, <column>: mean, <column>_std: std}}}}, the
      "value" column being named "mean" and "std" as in `fig2_summary`.
    """
    columns = [c for c in (*FLOOR_COLUMNS, *FIG4_COLUMNS) if c in table.columns]
    summary = {}
    keys = ["measure", by, "endpoint"]
    for (measure, group, endpoint), rows in table.groupby(keys, sort=False):
        entry = {"count": len(rows)} | _mean_std(rows, columns)
        summary.setdefault(measure, {}).setdefault(group, {})[endpoint] = entry
    return summary


def _mean_std(rows: pd.DataFrame, columns) -> dict:
    out = {}
    for column in columns:
        values = rows[column].to_numpy(dtype=float)
        stem = "mean" if column == "value" else column
        out[stem] = float(values.mean())
        out["std" if column == "value" else f"{column}_std"] = float(values.std())
    return out


# Per endpoint pair: the datapoints actually used and how they were drawn.
SHAPE_COLUMNS = (
    "datapoints",
    "neurons_a",
    "neurons_b",
    "images",
    "positions_per_image",
    "target_datapoints",
    "supply_limited",
)


FLOOR_COLUMNS = ("value", "floor", "minus_floor")


FIG4_COLUMNS = (
    "init_value",
    "final_value",
    "init_floor",
    "final_floor",
    "init_minus_floor",
    "final_minus_floor",
)


def long_table(plan, by_key, measures) -> pd.DataFrame:
    rows = []
    for comparisons, columns in plan:
        prefixes = ("",) if len(comparisons) == 1 else ("init_", "final_")
        for endpoint, _ in comparisons[-1].endpoint_pairs:
            records = [by_key[(c.a, c.b, endpoint)] for c in comparisons]
            last = records[-1]
            for measure in measures:
                values = {f"{p}value": r[measure] for p, r in zip(prefixes, records, strict=True)}
                floors = {
                    f"{p}floor": r[f"{measure}_floor"]
                    for p, r in zip(prefixes, records, strict=True)
                }
                differences = {
                    f"{p}minus_floor": values[f"{p}value"] - floors[f"{p}floor"] for p in prefixes
                }
                rows.append(
                    {**columns, "endpoint": endpoint, "grid": last["grid"]}
                    | {k: last[k] for k in SHAPE_COLUMNS}
                    | {"measure": measure}
                    | values
                    | floors
                    | differences
                )
    return pd.DataFrame(rows)


def metadata(study, label, runs, networks, rows, options, plan, table) -> dict:
    used = sorted({n for cs, _ in plan for c in cs for n in (c.a, c.b)})
    per_endpoint = table.drop_duplicates("endpoint")[["endpoint", "grid", *SHAPE_COLUMNS]]
    limited = per_endpoint[per_endpoint["supply_limited"]]
    return {
        "analysis": study,
        "label": label,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "runs": {
            name: {"workdir": os.path.abspath(w), "group": g} for name, (w, g) in runs.items()
        },
        "networks": {
            n: {"checkpoint": networks[n].checkpoint, "step": networks[n].step} for n in used
        },
        "endpoints": [e for e, _ in plan[0][0][0].endpoint_pairs],
        "measures": list(options.measures),
        "pwcca": "symmetric (mean of both sides' weightings)",
        "images": {
            "split": options.split,
            "requested": options.num_images,
            "count": len(rows),
            "seed": options.image_seed,
            "paths": rows["path"].tolist(),
        },
        "sampling": dataclasses.asdict(options.sampling),
        "datapoint_rule": (
            f"max({options.sampling.datapoints}, {options.sampling.per_channel} x the larger "
            "layer's channels), spread evenly over the images; every position where the "
            "images hold fewer"
        ),
        "datapoints": per_endpoint.to_dict("records"),
        "supply_limited": (
            f"images x positions held fewer datapoints than the rule asks at "
            f"{', '.join(limited['endpoint'])}: all were used"
            if len(limited)
            else ""
        ),
        "null_floor": {
            "null": "the same measure with the y side's images permuted (positions kept)",
            "pairing": "a seeded random single cycle through each group of images",
            "group": null_floor.FLOOR_GROUP,
            "seed": options.floor_seed,
            "columns": "floor = the measure under that pairing; minus_floor = value - floor",
        },
        "batch_size": options.batch_size,
        "git": provenance.git_state(),
        "versions": provenance.package_versions(),
    }
