"""Tests for analysis/plot_cca.py on hand-made result tables (no models involved)."""

import pandas as pd
import pytest

from analysis import plot_cca

SHAPE = {"grid": "4x4", "datapoints": 100, "neurons_a": 8, "neurons_b": 8}


def _write_tables(directory, label="cbr_tiny"):
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
                    | {"endpoint": endpoint, **SHAPE, "measure": measure, "value": v + offset}
                )
                fig4.append(
                    {"label": label, "comparison": comparison, "run_a": a, "run_b": b}
                    | {"endpoint": endpoint, **SHAPE, "measure": measure}
                    | {"init_value": v - 0.1, "final_value": v + offset}
                )
        for start, run in (("random", "r0"), ("random", "r1"), ("pretrained", "p0")):
            for i, endpoint in enumerate(("block1", "block2", "block3")):
                fig3.append(
                    {"label": label, "start": start, "run": run, "endpoint": endpoint}
                    | {**SHAPE, "measure": measure, "value": 0.9 - 0.1 * i}
                )
    for name, rows in (("fig2", fig2), ("fig3", fig3), ("fig4", fig4)):
        pd.DataFrame(rows).to_csv(directory / f"{name}_{label}.csv", index=False)


def test_read_tables_selects_the_measure(tmp_path):
    _write_tables(tmp_path)
    _write_tables(tmp_path, label="resnet_v1_50")
    tables = plot_cca.read_tables(str(tmp_path), "fig2", "cka")
    assert list(tables) == ["cbr_tiny", "resnet_v1_50"]
    assert set(tables["cbr_tiny"]["measure"]) == {"cka"} and len(tables["cbr_tiny"]) == 6
    with pytest.raises(ValueError, match=r"has no measure 'pwcca'; it has \['cka', 'mean_cca'\]"):
        plot_cca.read_tables(str(tmp_path), "fig2", "pwcca")


@pytest.mark.parametrize("style", plot_cca.FIG2_STYLES)
def test_plot_all_writes_every_figure_in_every_format(tmp_path, style):
    _write_tables(tmp_path)
    out = tmp_path / "figures"
    written = plot_cca.plot_all(str(tmp_path), out_dir=str(out), fig2_style=style)
    names = [f"{s}.{ext}" for s in ("fig2", "fig3", "fig4") for ext in ("png", "pdf")]
    assert written == [str(out / n) for n in names]
    assert all((out / n).stat().st_size > 1000 for n in names)


def test_missing_inputs_and_bad_options(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fig2_.*csv .* run python -m analysis.run_"):
        plot_cca.plot_all(str(tmp_path))
    _write_tables(tmp_path)
    with pytest.raises(ValueError, match="unknown fig2 style 'bar'; valid: box, violin"):
        plot_cca.plot_all(str(tmp_path), fig2_style="bar")
    with pytest.raises(ValueError, match=r"unknown figure formats \['gif'\]"):
        plot_cca.plot_all(str(tmp_path), formats=["gif"])
