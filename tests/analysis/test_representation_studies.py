"""Tests for analysis/representation_studies.py: Figs 2-4 tables and files from tiny runs."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis import representation_studies as studies
from analysis import study_tables
from analysis.activations import SpatialSampling

OPTIONS = studies.StudyOptions(num_images=10, sampling=SpatialSampling(datapoints=200))
SHAPE_COLUMNS = [
    "endpoint", "grid", "datapoints", "neurons_a", "neurons_b", "images",
    "positions_per_image", "target_datapoints", "supply_limited", "measure",
]  # fmt: skip


@pytest.fixture(scope="module")
def tables(trained_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("studies")
    result = studies.representation_studies(
        str(out),
        random_runs=trained_runs["random"],
        pretrained_runs=trained_runs["pretrained"],
        options=OPTIONS,
    )
    return out, result


def test_files_and_columns(tables):
    out, result = tables
    assert sorted(p.name for p in out.iterdir()) == [
        f"{s}_cbr_tiny.{ext}" for s in ("fig2", "fig3", "fig4") for ext in ("csv", "json")
    ]
    pair = ["label", "comparison", "run_a", "run_b", "step_a", "step_b", *SHAPE_COLUMNS]
    floored = ["value", "floor", "minus_floor"]
    assert list(study_tables.FIG4_COLUMNS) == [
        "init_value", "final_value", "init_floor", "final_floor",
        "init_minus_floor", "final_minus_floor",
    ]  # fmt: skip
    columns = {
        "fig2": [*pair, *floored],
        "fig3": ["label", "start", "run", "step_init", "step_final", *SHAPE_COLUMNS, *floored],
        "fig4": [*pair, *study_tables.FIG4_COLUMNS],
    }
    for study, expected in columns.items():
        on_disk = pd.read_csv(out / f"{study}_cbr_tiny.csv")
        assert list(on_disk.columns) == expected
        pd.testing.assert_frame_equal(on_disk, result[study], check_dtype=False)
        for prefix in ("init_", "final_") if study == "fig4" else ("",):
            difference = on_disk[f"{prefix}value"] - on_disk[f"{prefix}floor"]
            # Float64 through CSV text: equal to the last digit or two.
            np.testing.assert_allclose(on_disk[f"{prefix}minus_floor"], difference, atol=1e-12)
            assert on_disk[f"{prefix}floor"].between(-1e-12, 1).all()
        # 200 datapoints asked (more than 10 per channel: at most 8 channels) from 10
        # images: 20 positions each where the grid has them.
        shapes = on_disk.drop_duplicates("endpoint").set_index("endpoint")
        assert (shapes["images"] == 10).all() and (shapes["target_datapoints"] == 200).all()
        assert (shapes["datapoints"] == 10 * shapes["positions_per_image"]).all()
        assert (shapes["supply_limited"] == (shapes["datapoints"] < 200)).all()
    meta = json.load(open(out / "fig4_cbr_tiny.json"))
    assert meta["null_floor"]["seed"] == 0 and meta["null_floor"]["group"] == 16
    assert meta["sampling"]["per_channel"] == 10
    by_endpoint = {r["endpoint"]: r for r in meta["datapoints"]}
    assert (
        by_endpoint["block1"]["datapoints"] == 200 and not by_endpoint["block1"]["supply_limited"]
    )
    assert by_endpoint["block4"]["datapoints"] == 40 and by_endpoint["block4"]["supply_limited"]
    assert "block4" in meta["supply_limited"] and "block1" not in meta["supply_limited"]


def test_fig2_pairs_and_summary(tables):
    out, result = tables
    fig2 = result["fig2"]
    # 1 random pair + 2 random x pretrained pairs, top stages block3/block4, 4 measures.
    assert len(fig2) == 3 * 2 * 4
    pairs = fig2[["comparison", "run_a", "run_b"]].drop_duplicates().values.tolist()
    assert pairs == [
        ["random_vs_random", "random0", "random1"],
        ["random_vs_pretrained", "random0", "pretrained"],
        ["random_vs_pretrained", "random1", "pretrained"],
    ]
    assert list(pd.unique(fig2["endpoint"])) == ["block3", "block4"]
    assert set(fig2["step_a"]) == set(fig2["step_b"]) == {6}
    assert fig2["value"].between(0, 1).all()
    meta = json.load(open(out / "fig2_cbr_tiny.json"))
    assert meta["endpoints"] == ["block3", "block4"] and meta["images"]["count"] == 10
    assert meta["runs"]["pretrained"]["group"] == "pretrained"
    assert set(meta["networks"]) == {"random0@latest", "random1@latest", "pretrained@latest"}
    summary = meta["summary"]["mean_cca"]
    cca = fig2[fig2["measure"] == "mean_cca"]
    per_pair = cca.groupby(["run_a", "run_b"], sort=False)[["value", "floor"]].mean()
    assert summary["random_vs_random"]["pairs"] == 1
    assert summary["random_vs_random"]["mean"] == pytest.approx(
        per_pair.loc[("random0", "random1"), "value"]
    )
    cross = per_pair.loc[[("random0", "pretrained"), ("random1", "pretrained")]]
    entry = summary["random_vs_pretrained"]
    assert entry["mean"] == pytest.approx(cross["value"].mean())
    assert entry["std"] == pytest.approx(cross["value"].std(ddof=0))
    assert entry["floor"] == pytest.approx(cross["floor"].mean())
    assert entry["minus_floor"] == pytest.approx(entry["mean"] - entry["floor"])
    # Every pair is kept, with its floor, so the spread over pairs can be judged.
    assert [(p["run_a"], p["run_b"]) for p in entry["per_pair"]] == list(cross.index)
    for record in entry["per_pair"]:
        expected = per_pair.loc[(record["run_a"], record["run_b"])]
        assert record["value"] == pytest.approx(expected["value"])
        assert record["floor"] == pytest.approx(expected["floor"])
        assert record["minus_floor"] == pytest.approx(expected["value"] - expected["floor"])


def test_fig3_and_fig4(tables):
    _, result = tables
    fig3, fig4 = result["fig3"], result["fig4"]
    endpoints = ["block1", "block2", "block3", "block4", "pre_logits", "logits"]
    assert len(fig3) == 3 * len(endpoints) * 4
    assert list(pd.unique(fig3["endpoint"])) == endpoints
    assert fig3.groupby("start")["run"].unique().map(list).to_dict() == {
        "pretrained": ["pretrained"],
        "random": ["random0", "random1"],
    }
    assert set(fig3["step_init"]) == {0} and set(fig3["step_final"]) == {6}
    # Three pairs of runs, each at init and at convergence.
    assert len(fig4) == 3 * len(endpoints) * 4
    assert list(pd.unique(fig4["comparison"])) == ["random_vs_random", "random_vs_pretrained"]
    assert fig4[["init_value", "final_value"]].stack().between(0, 1).all()
    # Different seeds start from different weights: not the same representation.
    block1 = fig4[(fig4["endpoint"] == "block1") & (fig4["measure"] == "mean_cca")]
    assert (block1["init_value"] < 0.99).all()
    assert fig4[["init_floor", "final_floor"]].stack().between(-1e-12, 1).all()
    # The JSON summary: per endpoint, init and final similarity with their floors.
    out, _ = tables
    summary = json.load(open(out / "fig4_cbr_tiny.json"))["summary"]["mean_cca"]
    entry = summary["random_vs_pretrained"]["block1"]
    rows = fig4[
        (fig4["measure"] == "mean_cca")
        & (fig4["comparison"] == "random_vs_pretrained")
        & (fig4["endpoint"] == "block1")
    ]
    assert entry["count"] == 2
    for column in ("init_value", "final_value", "init_floor", "final_floor"):
        assert entry[column] == pytest.approx(rows[column].mean())
        assert entry[f"{column}_std"] == pytest.approx(rows[column].std(ddof=0))
    fig3_summary = json.load(open(out / "fig3_cbr_tiny.json"))["summary"]["cka"]
    assert fig3_summary["random"]["block2"]["count"] == 2


def test_a_run_compared_with_itself_at_init(trained_runs, tmp_path):
    # fig3 of a run whose "final" checkpoint is its init: similarity 1 at every endpoint.
    result = studies.representation_studies(
        str(tmp_path),
        random_runs=trained_runs["random"][:1],
        studies=["fig3"],
        endpoints=["block1", "block4"],
        label="self",
        options=studies.StudyOptions(
            checkpoint="init", num_images=10, sampling=SpatialSampling(datapoints=100)
        ),
    )
    assert (tmp_path / "fig3_self.csv").exists()
    fig3 = result["fig3"]
    assert fig3["value"].to_numpy() == pytest.approx(1.0, abs=1e-9)
    # Identical layers: value - floor is 1 - floor, and the floor is below 1.
    assert (fig3["floor"] < 1.0).all()
    assert fig3["minus_floor"].to_numpy() == pytest.approx(1.0 - fig3["floor"], abs=1e-9)


def test_errors(trained_runs, tmp_path):
    random, pretrained = trained_runs["random"], trained_runs["pretrained"]
    with pytest.raises(ValueError, match="fig2 needs at least 2 random and 1 pretrained; got 2"):
        studies.representation_studies(str(tmp_path), random_runs=random, studies=["fig2"])
    with pytest.raises(ValueError, match=r"unknown studies \['fig6'\]; valid: fig2, fig3, fig4"):
        studies.representation_studies(str(tmp_path), random_runs=random, studies=["fig6"])
    with pytest.raises(ValueError, match="two runs are both named 'random0'"):
        studies.representation_studies(str(tmp_path), random_runs=[random[0], random[0]])
    with pytest.raises(ValueError, match="no top-stage endpoints recorded for model 'vit'"):
        studies.top_stages("vit")
    assert studies.top_stages("resnet_v1_50") == ("block3", "block4")
    with pytest.raises(ValueError, match="unknown endpoint 'block9'; valid: block1"):
        studies.representation_studies(
            str(tmp_path),
            random_runs=random,
            pretrained_runs=pretrained,
            studies=["fig2"],
            top_endpoints=["block9"],
            options=OPTIONS,
        )
