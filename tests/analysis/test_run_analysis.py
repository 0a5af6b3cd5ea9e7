"""End to end: short CBR-Tiny runs -> run_analysis (Figs 2-5, weights) -> every plot script.

run_analysis runs in this process with its real flags (`binaries.run_main`; TensorFlow is
already up here) and once more, for Fig 5 alone, as a `python -m` process; each plot script
runs once as a `python -m` process, as a user calls it. Their --help: tests/test_help.py.
"""

import os

import pandas as pd
import pytest

from analysis.figures import convergence
from tests import binaries

pytestmark = pytest.mark.slow


def _run(module, *args):
    return binaries.run(module, *args).stdout


def _run_here(module, *args):
    """`python -m module *args` in this process; a non-zero exit fails the test."""
    result = binaries.run_main(module, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def analysis_dir(trained_runs, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("analysis_out"))
    stdout = _run_here(
        "analysis.run_analysis",
        f"--out={out}",
        "--random_runs=" + ",".join(trained_runs["random"]),
        "--pretrained_runs=" + ",".join(trained_runs["pretrained"]),
        "--num_images=10",
        "--datapoints=200",
        "--datapoints_per_channel=30",
        "--batch_size=4",
    )
    assert "fig2: 24 rows" in stdout and "weights:" in stdout
    return out


def test_run_analysis_writes_every_file(analysis_dir):
    assert sorted(os.listdir(analysis_dir)) == [
        "fig2_cbr_tiny.csv",
        "fig2_cbr_tiny.json",
        "fig3_cbr_tiny.csv",
        "fig3_cbr_tiny.json",
        "fig4_cbr_tiny.csv",
        "fig4_cbr_tiny.json",
        "fig5_pretrained.npz",
        "fig5_random0.npz",
        "fig5_random1.npz",
        "weight_movement.csv",
        "weight_movement_endpoints.csv",
    ]
    fig2 = pd.read_csv(os.path.join(analysis_dir, "fig2_cbr_tiny.csv"))
    assert set(fig2["measure"]) == {"mean_cca", "svcca", "pwcca", "cka"}
    assert set(fig2["comparison"]) == {"random_vs_random", "random_vs_pretrained"}
    assert {"value", "floor", "minus_floor", "datapoints", "target_datapoints"} <= set(fig2)
    # block3/block4 have 8 channels: 30 per channel (240) beats the minimum of 200; their
    # 4x4 and 2x2 grids over 10 images hold fewer, so every position is used.
    assert set(fig2["target_datapoints"]) == {240}
    assert fig2.groupby("endpoint")["datapoints"].first().to_dict() == {"block3": 160, "block4": 40}
    assert fig2["supply_limited"].all()


def test_the_binary_runs_as_a_process_of_its_own(trained_runs, tmp_path):
    stdout = _run(
        "analysis.run_analysis",
        f"--out={tmp_path}",
        f"--random_runs={trained_runs['random'][0]}",
        "--analyses=fig5",
    )
    assert f"fig5: {tmp_path}/fig5_random0.npz" in stdout
    assert os.listdir(tmp_path) == ["fig5_random0.npz"]


def test_plot_scripts_draw_from_saved_results(analysis_dir, trained_runs, tmp_path):
    figures = str(tmp_path)
    stdout = _run("analysis.plot_cca", f"--analysis_dir={analysis_dir}", f"--out={figures}")
    _run_here(  # plot_cca's other options; its process is the one above.
        "analysis.plot_cca",
        f"--analysis_dir={analysis_dir}",
        f"--out={figures}/violin",
        "--fig2_style=violin",
        "--measure=pwcca",
        "--formats=png",
    )
    _run("analysis.plot_filters", f"--analysis_dir={analysis_dir}", f"--out={figures}")
    runs = [*trained_runs["random"], *trained_runs["pretrained"]]
    stdout = _run(
        "analysis.plot_convergence",
        "--runs=" + ",".join(runs),
        "--labels=random,random,pretrained",
        "--thresholds=0.5",
        f"--out={figures}",
    )
    assert "label,run,metric,threshold,first_step,x,first_x" in stdout
    stems = ["fig2", "fig3", "fig4", "fig5_random0", "fig5_random1", "fig5_pretrained"]
    expected = [f"{stem}.{ext}" for stem in [*stems, "convergence"] for ext in ("png", "pdf")]
    for name in [*expected, "violin/fig2.png"]:
        assert os.path.getsize(os.path.join(figures, name)) > 1000, name
    assert sorted(os.listdir(os.path.join(figures, "violin"))) == [
        "fig2.png",
        "fig3.png",
        "fig4.png",
    ]
    table = pd.read_csv(os.path.join(figures, "convergence_steps_to_threshold.csv"))
    mean = convergence.MEAN_ROW
    assert list(table["run"]) == [*runs[:2], mean, runs[2], mean]
