"""Tests for analysis/representation_studies.py: Figs 2-4 tables and files from tiny runs."""

import json

import pandas as pd
import pytest

from analysis import representation_studies as studies
from analysis.activations import SpatialSampling

OPTIONS = studies.StudyOptions(num_images=10, sampling=SpatialSampling(datapoints=200))
SHAPE_COLUMNS = ["endpoint", "grid", "datapoints", "neurons_a", "neurons_b", "measure"]


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
    columns = {
        "fig2": [*pair, "value"],
        "fig3": ["label", "start", "run", "step_init", "step_final", *SHAPE_COLUMNS, "value"],
        "fig4": [*pair, "init_value", "final_value"],
    }
    for study, expected in columns.items():
        on_disk = pd.read_csv(out / f"{study}_cbr_tiny.csv")
        assert list(on_disk.columns) == expected
        pd.testing.assert_frame_equal(on_disk, result[study], check_dtype=False)


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
    per_pair = cca.groupby(["run_a", "run_b"], sort=False)["value"].mean()
    assert summary["random_vs_random"]["pairs"] == 1
    assert summary["random_vs_random"]["mean"] == pytest.approx(per_pair[("random0", "random1")])
    cross = [per_pair[("random0", "pretrained")], per_pair[("random1", "pretrained")]]
    assert summary["random_vs_pretrained"]["mean"] == pytest.approx(sum(cross) / 2)


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
    assert result["fig3"]["value"].to_numpy() == pytest.approx(1.0, abs=1e-9)


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
