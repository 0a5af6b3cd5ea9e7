"""Tests for analysis/cca.py on hand-made result tables (no models involved)."""

import pandas as pd
import pytest

from analysis.figures import cca

SHAPE = {"grid": "4x4", "datapoints": 100, "neurons_a": 8, "neurons_b": 8}


def _floored(prefix, value, floor):
    return {
        f"{prefix}value": value,
        f"{prefix}floor": floor,
        f"{prefix}minus_floor": value - floor,
    }


def _write_tables(directory, label="cbr_tiny", floors=True):
    """Hand-made fig2/3/4 CSVs; floors=False writes the columns of files from before floors."""
    fig2, fig3, fig4 = [], [], []
    for measure, offset in (("mean_cca", 0.0), ("cka", 0.1)):
        for comparison, a, b, v in (
            ("random_vs_random", "r0", "r1", 0.6),
            ("random_vs_pretrained", "r0", "p0", 0.5),
            ("random_vs_pretrained", "r1", "p0", 0.4),
        ):
            for endpoint in ("block3", "block4"):
                fig2.append(
                    {"label": label, "comparison": comparison, "run_a": a, "run_b": b}
                    | {"endpoint": endpoint, **SHAPE, "measure": measure}
                    | _floored("", v + offset, 0.3)
                )
                fig4.append(
                    {"label": label, "comparison": comparison, "run_a": a, "run_b": b}
                    | {"endpoint": endpoint, **SHAPE, "measure": measure}
                    | _floored("init_", v - 0.1, 0.28)
                    | _floored("final_", v + offset, 0.31)
                )
        for start, run in (("random", "r0"), ("random", "r1"), ("pretrained", "p0")):
            for i, endpoint in enumerate(("block1", "block2", "block3")):
                fig3.append(
                    {"label": label, "start": start, "run": run, "endpoint": endpoint}
                    | {**SHAPE, "measure": measure}
                    | _floored("", 0.9 - 0.1 * i, 0.25)
                )
    for name, rows in (("fig2", fig2), ("fig3", fig3), ("fig4", fig4)):
        table = pd.DataFrame(rows)
        if not floors:
            table = table[[c for c in table.columns if "floor" not in c]]
        table.to_csv(directory / f"{name}_{label}.csv", index=False)


def test_read_tables_selects_the_measure(tmp_path):
    _write_tables(tmp_path)
    _write_tables(tmp_path, label="resnet_v1_50")
    tables = cca.read_tables(str(tmp_path), "fig2", "cka")
    assert list(tables) == ["cbr_tiny", "resnet_v1_50"]
    assert set(tables["cbr_tiny"]["measure"]) == {"cka"} and len(tables["cbr_tiny"]) == 6
    with pytest.raises(ValueError, match=r"has no measure 'pwcca'; it has \['cka', 'mean_cca'\]"):
        cca.read_tables(str(tmp_path), "fig2", "pwcca")


@pytest.mark.parametrize(("style", "floors"), [("box", True), ("violin", True), ("box", False)])
def test_plot_all_writes_every_figure_in_every_format(tmp_path, style, floors):
    _write_tables(tmp_path, floors=floors)
    out = tmp_path / "figures"
    written = cca.plot_all(str(tmp_path), out_dir=str(out), fig2_style=style)
    names = [f"{s}.{ext}" for s in ("fig2", "fig3", "fig4") for ext in ("png", "pdf")]
    assert written == [str(out / n) for n in names]
    assert all((out / n).stat().st_size > 1000 for n in names)


def test_figures_show_the_floor_and_name_metric_and_layers(tmp_path):
    _write_tables(tmp_path)
    tables = cca.read_tables(str(tmp_path), "fig2", "mean_cca")
    fig = cca.plot_fig2(tables, "mean_cca")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "mean_cca, mean over block3, block4"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["null floor: range over pairs", "null floor (images paired at random)"]
    # One dashed floor segment per box, at the floor, and the axis reaches down to it.
    floors = [c for c in ax.collections if c.get_linestyle()[0][1] is not None]
    assert len(floors) == 2
    for segments in floors:
        assert segments.get_segments()[0][:, 1] == pytest.approx([0.3, 0.3])
    assert ax.get_ylim()[0] < 0.3
    cca.plt.close(fig)
    fig = cca.plot_fig3(cca.read_tables(str(tmp_path), "fig3", "mean_cca"), "mean_cca")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [
        "random init",
        "random: null floor",
        "pretrained init",
        "pretrained: null floor",
    ]
    cca.plt.close(fig)
    fig = cca.plot_fig4(cca.read_tables(str(tmp_path), "fig4", "mean_cca"), "mean_cca")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[-1] == "null floor (x: init, y: final)"
    assert fig.axes[0].get_xlabel() == "mean_cca at initialisation, per endpoint"
    cca.plt.close(fig)


def test_missing_inputs_and_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fig2_.*csv .* run python -m analysis.run_"):
        cca.plot_all(str(tmp_path))
    _write_tables(tmp_path)
    with pytest.raises(ValueError, match="unknown fig2 style 'bar'; valid: box, violin"):
        cca.plot_all(str(tmp_path), fig2_style="bar")
    with pytest.raises(ValueError, match=r"unknown figure formats \['gif'\]"):
        cca.plot_all(str(tmp_path), formats=["gif"])
