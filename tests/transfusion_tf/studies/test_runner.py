"""The study runner end to end: kill mid-grid and rerun, runs made by hand, the demo study.

Each test drives `python -m transfusion_tf.study` as a subprocess, as a user would.
"""

import html.parser
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pipelines.synthetic import eyepacs as synthetic_eyepacs
from transfusion_tf import studies

_REPO = studies.REPO
_ENV = {**os.environ, "PYTHONPATH": _REPO, "TF_CPP_MIN_LOG_LEVEL": "2"}

# A user's own study file: three seeds of a tiny CBR, 40 steps, checkpoints every 2.
_STUDY_FILE = """
from transfusion_tf.studies import DataSpec, RunSpec, Study

def get_study(arg=""):
    overrides = {"data.root": "{data:retina}", "eval.final_splits": ("test",),
                 "train.total_steps": 40, "train.eval_every": 20}
    runs = [RunSpec(name, "transfusion_tf/configs/retina.py:test", {**overrides, "seed": seed},
                    group="cbr_tiny/random") for seed, name in enumerate("abc")]
    data = {"retina": DataSpec("pipelines.generate", {"dataset": "eyepacs"}, "retina")}
    return Study("tiny", "Tiny study", runs, data, thresholds=(0.5,))
"""


@pytest.fixture(scope="module")
def retina_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("retina"))
    synthetic_eyepacs.write_eyepacs(root, num_patients=40, image_size=32, seed=0)
    return root


@pytest.fixture
def study_file(tmp_path):
    path = tmp_path / "tiny_study.py"
    path.write_text(_STUDY_FILE)
    return str(path)


def _study(args, **kwargs):
    command = [sys.executable, "-m", "transfusion_tf.study", *args]
    return subprocess.run(command, env=_ENV, cwd=_REPO, capture_output=True, text=True, **kwargs)


def _launches(run_dir) -> int:
    with open(os.path.join(run_dir, "provenance.json")) as f:
        return len(json.load(f)["launches"])


def test_killed_mid_grid_then_rerun_finishes_only_the_missing_runs(
    tmp_path, study_file, retina_root
):
    work = tmp_path / "study"
    args = [f"--study={study_file}", f"--workdir={work}", f"--data_root=retina={retina_root}"]
    runner = subprocess.Popen(
        [sys.executable, "-m", "transfusion_tf.study", *args],
        env=_ENV, cwd=_REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    b_checkpoint = work / "runs" / "b" / "checkpoints" / "ckpt-2.index"
    deadline = time.time() + 600
    while not b_checkpoint.exists():
        assert runner.poll() is None, runner.stdout.read().decode()
        assert time.time() < deadline, "run b never saved its first checkpoint"
        time.sleep(0.05)
    os.killpg(runner.pid, signal.SIGKILL)  # The runner and its training process.
    runner.wait()
    runs = work / "runs"
    assert studies.run_state(str(runs / "a")) == "finished"
    assert studies.run_state(str(runs / "b")) == "interrupted"
    assert studies.run_state(str(runs / "c")) == "missing"
    a_summary = (runs / "a" / "train_summary.json").stat().st_mtime_ns

    result = _study(args, check=True)
    assert "run a: finished before (skipped)" in result.stdout
    assert "run b: resuming" in result.stdout and "run c: starting" in result.stdout
    assert (runs / "a" / "train_summary.json").stat().st_mtime_ns == a_summary
    assert [_launches(runs / n) for n in "abc"] == [1, 2, 1]
    for name in "abc":
        assert studies.run_state(str(runs / name)) == "finished"
        with open(runs / name / "metrics.json") as f:
            assert json.load(f)["test"]["step"] == 40
    report = (work / "report.md").read_text()
    assert "3 of 3 runs finished" in report and "| cbr_tiny/random |" in report

    again = _study(args, check=True)  # Nothing left to do.
    assert again.stdout.count("finished before (skipped)") == 3


def test_a_printed_command_run_by_hand_counts_as_finished(tmp_path, study_file, retina_root):
    work = tmp_path / "study"
    args = [f"--study={study_file}", f"--workdir={work}", f"--data_root=retina={retina_root}"]
    printed = _study([*args, "--print_commands"], check=True).stdout.splitlines()
    commands = [line for line in printed if line and not line.startswith("#")]
    assert len(commands) == 3 + 1  # One per run, then the report.
    assert "transfusion_tf.study" in commands[-1] and "--aggregate_only" in commands[-1]
    assert f"--workdir={work}/runs/b" in commands[1]
    subprocess.run(commands[1], shell=True, env=_ENV, cwd=str(tmp_path), check=True)
    assert studies.run_state(str(work / "runs" / "b")) == "finished"

    partial = _study([*args, "--aggregate_only"], check=True)
    assert "report:" in partial.stdout
    report = (work / "report.md").read_text()
    assert "1 of 3 runs finished" in report
    assert "Not finished (left out of every number): a, c." in report

    result = _study(args, check=True)
    assert "run b: finished before (skipped)" in result.stdout
    assert "run a: starting" in result.stdout and "run c: starting" in result.stdout
    assert [_launches(work / "runs" / n) for n in "abc"] == [1, 1, 1]


def test_a_failing_run_is_named_with_its_log(tmp_path, retina_root):
    path = tmp_path / "bad_study.py"
    path.write_text(_STUDY_FILE.replace('"seed": seed', '"seed": seed, "model.name": "nope"'))
    work = tmp_path / "study"
    result = _study([f"--study={path}", f"--workdir={work}", f"--data_root=retina={retina_root}"])
    assert result.returncode != 0
    assert "3 run(s) did not finish" in result.stderr
    assert f"log {work}/logs/a.log" in result.stderr and "unknown model 'nope'" in result.stderr


def test_demo_study_end_to_end(tmp_path):
    """The `make demo` study at test size: every kind of step, then the report."""
    work = tmp_path / "demo"
    result = _study(["--study=demo:test", f"--workdir={work}", "--jobs=2", "--threads_per_job=1"])
    assert result.returncode == 0, result.stderr[-3000:]
    study = studies.load_study("demo:test")
    for run in study.runs:
        assert studies.run_state(str(work / "runs" / run.name)) == "finished", run.name
    with open(work / "weights.json") as f:
        entries = json.load(f)["entries"]
    assert sorted(entries) == ["cbr_small", "cbr_tiny"]
    assert entries["cbr_small"]["source"]["run"] == str(work / "runs" / "source_cbr_small")
    with open(work / "runs" / "cbr_small_imagenet_s1" / "init_report.json") as f:
        init = json.load(f)
    assert init["kind"] == "imagenet" and init["weights"]["type"] == "trained"
    assert init["weights"]["path"] == entries["cbr_small"]["path"]
    with open(work / "runs" / "cbr_tiny_mean_var_s0" / "init_report.json") as f:
        assert json.load(f)["surgery"]["counts"]["resampled"]["variables"] == 4

    report = (work / "report.md").read_text()
    assert "16 of 16 runs finished" in report
    assert "> **Synthetic data: compare trends, not values." in report  # The banner.
    assert "not published" not in report
    tables = [line for line in report.splitlines() if line.startswith("|---")]
    figures = [line for line in report.splitlines() if line.startswith("![")]
    assert len(tables) >= 6 and len(figures) >= 4, (len(tables), len(figures))
    for group in ("cbr_tiny/random", "cbr_small/imagenet", "cbr_small/mean_var", "source/cbr_tiny"):
        assert f"| {group} |" in report
    for section in ("## Claims of the paper", "## Final referable-DR AUC (test)",
                    "## Source pretraining", "## Steps to referable-DR AUC threshold",
                    "## Fig 2 (cbr_small)", "## Fig 5: conv1 filters of cbr_small_imagenet_s0",
                    "## Weight movement (cbr_tiny)", "## Fig 5: conv1 filters of source_cbr_small",
                    "## Similarity at init vs after training (cbr_small)",
                    "## Fig 2 across models", "## Provenance"):  # fmt: skip
        assert section in report, section
    assert "| kappa (mean ± std) | accuracy (mean ± std) |" in report
    assert "source-pretrained (synthetic, " in report and "chance 25.0%)" in report
    assert "imagenet (" not in report.lower().replace("imagenet (tf-slim", "")
    _check_claims(report)
    for name in ("cbr_tiny", "cbr_small"):  # Fig 2 boxes of at least 3 pairs.
        with open(work / "analysis" / name / f"fig2_{name}.json") as f:
            summary = json.load(f)["summary"]["mean_cca"]
        assert min(len(box["per_pair"]) for box in summary.values()) >= 3
    page = (work / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert "`" not in _html_text(page)  # Inline code is rendered, not shown as backticks.
    assert '<div class="scroll"><table>' in page
    # The console ends with the claims, a compact table and the report path, not markdown.
    assert "claims of the paper:" in result.stdout and "report: " in result.stdout
    assert "|---" not in result.stdout


def _check_claims(report: str) -> None:
    section = report.split("## Claims of the paper")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    verdicts = {row.split(" | ")[0][2:]: row.split(" | ")[2] for row in rows[1:]}
    assert len(verdicts) == 7, verdicts
    ran = ("Transfer adds little at full data (Tables 1-2)",
           "Mean Var Init converges faster than random init (Fig 6)")  # fmt: skip
    for claim, verdict in verdicts.items():
        expected = {"supported", "contradicted", "inconclusive"} if claim in ran else None
        if expected:
            assert verdict in expected, (claim, verdict)
    assert verdicts["Transfer helps in the small-data regime (Table 3)"] == "not run"
    assert verdicts["A slim random top on pretrained lower blocks matches transfer (Fig 8)"] == (
        "not run"
    )


def _html_text(page: str) -> str:
    """The text a browser shows, outside <code> and <style>."""

    class Text(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("code", "style")

        def handle_endtag(self, tag):
            self.skip -= tag in ("code", "style")

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(page)
    return "".join(parser.parts)


def test_analyses_run_side_by_side_and_a_failure_is_named(tmp_path, monkeypatch):
    """Two analyses with 2 jobs overlap in time; a failing third is named with its log while
    the others complete (stamped)."""
    from transfusion_tf.studies import AnalysisSpec, RunSpec, Study, commands, runner

    script = (
        "import sys, time; name = sys.argv[1]; start = time.time(); time.sleep(1.0)\n"
        "open(sys.argv[2], 'a').write(f'{name} {start} {time.time()}\\n')\n"
        "sys.exit(name == 'bad')"
    )
    times = tmp_path / "times.txt"
    monkeypatch.setattr(
        commands,
        "analysis_command",
        lambda analysis, workdir, python: [python, "-c", script, analysis.name, str(times)],
    )
    names = ("a", "b", "bad")
    runs = [RunSpec("r", "transfusion_tf/configs/retina.py:test", {})]
    study = Study("s", "S", runs, {}, analyses=[AnalysisSpec(n, ["r"]) for n in names])
    with pytest.raises(studies.StudyError, match=r"(?s)exit status 1 .*logs/analysis_bad\.log"):
        runner.run_analyses(study, str(tmp_path), runner.RunnerOptions(jobs=2, echo=print))
    spans = {n: (float(s), float(e)) for n, s, e in (line.split() for line in open(times))}
    assert set(spans) == set(names)
    (a_start, a_end), (b_start, b_end) = spans["a"], spans["b"]
    assert a_start < b_end and b_start < a_end  # Overlapping: side by side.
    for name in ("a", "b"):
        assert (tmp_path / "analysis" / name / ".complete.json").exists()
    assert not (tmp_path / "analysis" / "bad" / ".complete.json").exists()
