"""Study configs, grids and commands (no training here; see test_runner.py)."""

import importlib
import json
import os
import re
import threading

import pytest

from tests import binaries
from tests.test_layers import UNSHIPPED_DOCUMENT
from transfusion_tf import studies
from transfusion_tf.studies import AnalysisSpec, DataSpec, RunSpec, Study, StudyError, runner

_REPO = studies.REPO
_PAPER_STUDIES = [
    "table1",
    "table2",
    "table3",
    "fig2_5",
    "fig6",
    "fig7",
    "fig8",
    "data_size",
    "init",
]


def test_every_paper_table_and_figure_has_a_study():
    assert studies.list_studies() == sorted([*_PAPER_STUDIES, "demo"])


def _run_config(run: RunSpec):
    """The config a run trains with: its config file's variant plus its plain overrides."""
    file, _, arg = run.config.partition(":")
    name = os.path.splitext(os.path.basename(file))[0]
    config = importlib.import_module(f"transfusion_tf.configs.{name}").get_config(arg)
    for field, value in run.overrides.items():
        if "{" not in str(value):
            parent, _, leaf = field.rpartition(".")
            target = config
            for part in filter(None, parent.split(".")):
                target = target[part]
            target[leaf] = value
    return config


@pytest.mark.parametrize("name", _PAPER_STUDIES)
def test_paper_study_configs(name):
    module = studies.study_module(name)
    doc = module.__doc__
    assert f"python -m transfusion_tf.study --study={name} " in doc
    assert "Runtime:" in doc and f"--study={name}:demo" in doc
    assert "Paper" in doc or "paper" in doc.split("\n")[0:12].__str__()
    assert UNSHIPPED_DOCUMENT not in doc
    for variant in ("", "demo"):
        study = studies.load_study(f"{name}:{variant}" if variant else name)
        assert study.runs and study.title
        for run in study.runs:  # Every run's config file and variant exists and builds.
            file, _, arg = run.config.partition(":")
            assert os.path.exists(os.path.join(_REPO, file)), run.config
            config = _run_config(run)
            assert config.eval.final_splits, "a study run evaluates its held-out split itself"
    with pytest.raises(StudyError, match="variant"):
        module.get_study("nope")


@pytest.mark.parametrize("name", _PAPER_STUDIES)
def test_paper_scale_runs_resolve_convergence_to_one_percent_of_their_budget(name):
    """Steps to a threshold are only as fine as the evaluations: at least every 1%."""
    for run in studies.load_study(name).runs:
        config = _run_config(run)
        assert config.train.eval_every * 100 <= config.train.total_steps, (run.name, run.config)


def test_paper_numbers_are_in_the_configs():
    table1 = studies.load_study("table1")
    assert table1.paper["auc"]["resnet_v1_50/random"] == 0.964
    assert table1.paper["auc"]["cbr_large_t/imagenet"] == 0.962
    assert studies.load_study("table3").paper["auc"]["resnet_v1_50/imagenet"] == 0.946
    fig8 = studies.load_study("fig8").paper["steps"]
    assert (fig8["resnet_v1_50/random"], fig8["resnet_v1_50/gabor_conv1"]) == (69_069, 25_425)
    assert (fig8["resnet_v1_50/hybrid_slim"], fig8["cbr_large_w/imagenet"]) == (8_208, 19_419)
    fig2 = studies.load_study("fig2_5").paper["fig2"]
    assert fig2["resnet_v1_50/mean_cca/random_vs_random"] == 0.27
    assert "not recovered" in studies.study_module("table2").__doc__


def test_table1_grid_is_the_papers():
    study = studies.load_study("table1")
    grid = [r for r in study.runs if not r.name.startswith("source_")]
    assert len(grid) == 6 * 2 * 3
    assert {r.group for r in grid} == {
        f"{m}/{k}"
        for m in (
            "resnet_v1_50",
            "inception_v3",
            "cbr_large_t",
            "cbr_large_w",
            "cbr_small",
            "cbr_tiny",
        )  # fmt: skip
        for k in ("random", "imagenet")
    }
    assert [r.name for r in study.runs if r.register] == [
        "source_cbr_large_t", "source_cbr_large_w", "source_cbr_small", "source_cbr_tiny"
    ]  # fmt: skip
    resnet = study.run("resnet_v1_50_imagenet_s2")
    assert resnet.overrides["init.checkpoint"] == "{data:slim_resnet_v1_50}/resnet_v1_50.ckpt"
    assert resnet.depends_on == ()
    assert study.run("cbr_small_imagenet_s0").depends_on == ("source_cbr_small",)
    assert study.data["slim_inception_v3"].module == "slim_weights.download"


def test_init_comparison_grid():
    """Issue 5's comparison: 4 starts x 3 seeds of CBR-Small after one registered pretraining."""
    study = studies.load_study("init:demo")
    assert [r.name for r in study.runs if r.register] == ["source_cbr_small"]
    grid = [r for r in study.runs if not r.register]
    assert len(grid) == 12
    assert sorted({r.group for r in grid}) == [
        "cbr_small/imagenet", "cbr_small/mean_var", "cbr_small/random",
        "cbr_small/transfusion_block1",
    ]  # fmt: skip
    block1 = study.run("cbr_small_transfusion_block1_s2")
    assert block1.overrides["init.kind"] == "transfusion"
    assert block1.overrides["init.up_to"] == "block1" and block1.overrides["seed"] == 2
    assert block1.depends_on == ("source_cbr_small",)
    assert study.run("cbr_small_random_s0").depends_on == ()
    assert study.thresholds == (0.8, 0.85, 0.9)
    assert study.data["source"].args["num_classes"] == 24
    resnet = studies.load_study("init").run("resnet_v1_50_mean_var_s0")
    assert resnet.overrides["init.checkpoint"] == "{data:slim_resnet_v1_50}/resnet_v1_50.ckpt"


def test_fig7_transfusion_arms():
    study = studies.load_study("fig7")
    ups = sorted({r.overrides.get("init.up_to") for r in study.runs} - {None})
    assert ups == ["block1", "block2", "block3", "block4", "conv1"]
    assert len(study.runs) == 7 * 3 and set(study.data) == {"retina", "slim_resnet_v1_50"}


def test_demo_study_shape():
    study = studies.load_study("demo")
    retina = [r for r in study.runs if not r.register]
    # Three random seeds give Fig 2 three random-vs-random pairs per box.
    assert len(retina) == 2 * (3 + 2 + 2)
    assert {r.group for r in retina} == {
        f"{m}/{k}" for m in ("cbr_tiny", "cbr_small") for k in ("random", "imagenet", "mean_var")
    }
    assert sorted(r.overrides["seed"] for r in retina if r.group == "cbr_small/random") == [0, 1, 2]
    assert [a.name for a in study.analyses] == ["cbr_tiny", "cbr_small", "source"]
    tiny = study.analyses[0]
    assert len(tiny.random_runs) == 3 and len(tiny.pretrained_runs) == 2
    assert "fig4" in tiny.analyses  # Similarity at init vs after training.
    source = study.analyses[2]  # The source network's conv1 before and after pretraining.
    assert (tuple(source.random_runs), tuple(source.analyses)) == (("source_cbr_small",), ("fig5",))
    assert set(study.data) == {"retina", "source"}


def _study(**kwargs):
    runs = [
        RunSpec("pre", "transfusion_tf/configs/retina.py:test", register=True),
        RunSpec(
            "a",
            "transfusion_tf/configs/retina.py:test",
            {"data.root": "{data:retina}", "init.registry": "{registry}", "seed": 3,
             "model.options.widths": (4, 8, 8, 8), "init.checkpoint": "{run:pre}/x"},
            depends_on=("pre",),
        ),
    ]  # fmt: skip
    data = {"retina": DataSpec("pipelines.generate", {"num_patients": 4})}
    return Study("t", "title", kwargs.get("runs", runs), data, **kwargs.get("extra", {}))


def test_train_command_resolves_placeholders(tmp_path):
    study = _study()
    args = studies.train_command(study.run("a"), str(tmp_path), {"retina": "/d/r"}, python="py")
    assert args == [
        "py", "-m", "transfusion_tf.train",
        f"--config={_REPO}/transfusion_tf/configs/retina.py:test",
        "--config.data.root=/d/r",
        f"--config.init.registry={tmp_path}/weights.json",
        "--config.seed=3",
        "--config.model.options.widths=(4,8,8,8)",
        f"--config.init.checkpoint={tmp_path}/runs/pre/x",
        f"--workdir={tmp_path}/runs/a",
    ]  # fmt: skip
    assert studies.run_commands(study.run("pre"), str(tmp_path), {}, python="py")[1] == [
        "py", "-m", "transfusion_tf.register_weights", f"--workdir={tmp_path}/runs/pre",
        f"--registry={tmp_path}/weights.json",
    ]  # fmt: skip
    with pytest.raises(StudyError, match="run a: no root for dataset 'retina'"):
        studies.train_command(study.run("a"), str(tmp_path), {})


def test_study_validation():
    bad_order = [RunSpec("b", "x.py", depends_on=("a",)), RunSpec("a", "x.py")]
    with pytest.raises(StudyError, match=r"run b depends on \['a'\], which do not come before"):
        Study("t", "", bad_order)
    with pytest.raises(StudyError, match=r"duplicate run names \['a'\]"):
        Study("t", "", [RunSpec("a", "x.py"), RunSpec("a", "y.py")])
    with pytest.raises(StudyError, match="run a reads unknown data 'chest'"):
        Study("t", "", [RunSpec("a", "x.py", {"data.root": "{data:chest}"})])
    with pytest.raises(StudyError, match=r"analysis z names \['nope'\]"):
        Study("t", "", [RunSpec("a", "x.py")], analyses=[AnalysisSpec("z", ["a", "nope"])])
    with pytest.raises(StudyError, match="unknown study 'nope'; valid: data_size, demo"):
        studies.load_study("nope")


def test_run_state(tmp_path):
    path = str(tmp_path)
    assert studies.run_state(path) == "missing"
    (tmp_path / "config.json").write_text(json.dumps({"train": {"total_steps": 6}}))
    assert studies.run_state(path) == "interrupted"
    (tmp_path / "train_summary.json").write_text(json.dumps({"final_step": 4}))
    assert studies.run_state(path) == "interrupted"
    (tmp_path / "train_summary.json").write_text(json.dumps({"final_step": 6}))
    assert studies.run_state(path) == "finished"
    # Early stopping ends a run before total_steps: finished at the step it stopped at.
    stopped = {"final_step": 4, "early_stopping": {"stopped_at": 4, "patience": 1}}
    (tmp_path / "train_summary.json").write_text(json.dumps(stopped))
    assert studies.run_state(path) == "finished"
    stopped["final_step"] = 2  # A summary whose final step is not where it stopped.
    (tmp_path / "train_summary.json").write_text(json.dumps(stopped))
    assert studies.run_state(path) == "interrupted"


@pytest.mark.slow
def test_help_lists_the_studies():
    result = binaries.run("transfusion_tf.study", "--help", check=False)
    for name in studies.list_studies():
        assert f"\n{name} " in result.stdout, name
    for flag in ("--study", "--workdir", "--data_root", "--print_commands", "--aggregate_only"):
        assert flag in result.stdout
    assert "Table 1: RETINA, six models" in result.stdout


def test_lines_printed_from_many_threads_stay_whole(capfd):
    """With `print`, about one line in forty came out joined to another here."""

    def say(thread):
        for i in range(1000):
            runner.print_line(f"run t{thread}_{i}: finished in 1 s")

    threads = [threading.Thread(target=say, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = capfd.readouterr().out.splitlines()
    assert len(lines) == 8000
    assert all(re.fullmatch(r"run t\d_\d+: finished in 1 s", line) for line in lines)
