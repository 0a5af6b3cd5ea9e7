"""The study runner end to end, driven as a user drives it: `python -m transfusion_tf.study`.

The `make demo` study at test size (`demo:test`: CBR-Tiny alone, every arm and analysis)
goes once through everything a user does to a study (the `demo` fixture): the runner killed
mid-grid, its commands printed and one run by hand, a report of what finished, the rerun
that finishes only what is missing, and a rerun with nothing left to do. Each test checks
one of those steps from what the fixture saw. A study whose runs fail uses a small study
file of its own.

One process is under test: the runner killed mid-grid, with the training process it
runs. Every other launch of the study binary (and the printed command run by hand) runs
in this process (`binaries.run_main`), the commands it runs (training, registration,
analyses) too (`_commands_in_this_process`): each in a process of its own would start
TensorFlow again (seconds each). The runner's own processes and a failing one:
`test_analyses_run_side_by_side_and_a_failure_is_named`.
"""

import contextlib
import dataclasses
import html.parser
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import types

import pytest

from pipelines.synthetic import eyepacs as synthetic_eyepacs
from tests import binaries
from transfusion_tf import studies
from transfusion_tf.studies import runner as study_runner

pytestmark = pytest.mark.slow

# A user's own study file: two seeds of a tiny CBR.
_STUDY_FILE = """
from transfusion_tf.studies import DataSpec, RunSpec, Study

def get_study(arg=""):
    overrides = {"data.root": "{data:retina}", "eval.final_splits": ("test",)}
    runs = [RunSpec(name, "transfusion_tf/configs/retina.py:test", {**overrides, "seed": seed},
                    group="cbr_tiny/random") for seed, name in enumerate("ab")]
    data = {"retina": DataSpec("pipelines.generate", {"dataset": "eyepacs"}, "retina")}
    return Study("tiny", "Tiny study", runs, data, thresholds=(0.5,))
"""
# What the runner says when it gets to a run, by the run's state (`studies.run_state`).
_VERBS = {"missing": "starting", "interrupted": "resuming", "finished": "registering"}


def _study(args, check=True):
    """The study binary in this process, its runs and analyses too (with `check`: it must
    exit with 0)."""
    with _commands_in_this_process():
        result = binaries.run_main("transfusion_tf.study", *args)
    assert result.returncode == 0 or not check, result.stderr[-3000:]
    return result


def _run_as_printed(line: str, cwd) -> None:
    """A printed command line run by hand from `cwd`: split as a POSIX shell splits it,
    then `python -m <module> <flags>` in this process; it must exit with 0."""
    python, option, module, *args = shlex.split(line)
    assert (python, option) == (sys.executable, "-m"), line
    with contextlib.chdir(cwd):
        result = binaries.run_main(module, *args)
    assert result.returncode == 0, result.stderr[-3000:]


@contextlib.contextmanager
def _commands_in_this_process():
    """The runner's commands (`python -m <module> <flags>`) run in this process, one at a
    time (`binaries.run_main`), their output appended to the log as a process's would be.

    One at a time: a binary's flags, `sys.argv` and `sys.stdout` are the process's. The
    runner's own lines wait for a running command (they share its print lock), so that
    they are not printed into that command's output.
    """
    lock = threading.RLock()

    def call(command, *, stdout, stderr, env):
        del stderr, env  # Both streams go to `stdout` (the log); the environment is ours.
        python, option, module, *args = command
        assert (python, option) == (sys.executable, "-m"), command
        with lock:
            result = binaries.run_main(module, *args)
        stdout.write(result.stdout + result.stderr)
        return result.returncode

    with pytest.MonkeyPatch.context() as patch:
        launcher = types.SimpleNamespace(call=call, STDOUT=subprocess.STDOUT)
        patch.setattr(study_runner, "subprocess", launcher)
        patch.setattr(study_runner, "_PRINT_LOCK", lock)
        yield


def _prepare_in_this_process(study, work) -> None:
    """What the runner does before the grid: the data, then the pretraining (trained and
    registered), through its own functions with `_commands_in_this_process`."""
    opts = study_runner.RunnerOptions(echo=lambda line: None)
    pretraining = dataclasses.replace(
        study, runs=[run for run in study.runs if run.register], analyses=()
    )
    with _commands_in_this_process():
        study_runner.generate_data(study, str(work), {}, opts)
        roots = study_runner.resolve_data_roots(study, str(work), {})
        study_runner.run_grid(pretraining, str(work), roots, opts)


def _launches(run_dir) -> int:
    if not os.path.exists(os.path.join(run_dir, "provenance.json")):
        return 0
    with open(os.path.join(run_dir, "provenance.json")) as f:
        return len(json.load(f)["launches"])


def _snapshot(work, study) -> dict:
    """{run: (state, registered, launches, train_summary.json mtime or None)}."""
    snapshot = {}
    for run in study.runs:
        path = work / "runs" / run.name
        state = studies.run_state(str(path))
        summary = path / "train_summary.json"
        snapshot[run.name] = (
            state,
            state == "finished" and run.register and studies.registered_from(str(work), run),
            _launches(path),
            summary.stat().st_mtime_ns if summary.exists() else None,
        )
    return snapshot


def _kill_mid_grid(args, work, study) -> tuple[str, str]:
    """Starts the runner and kills it (and its training processes) as soon as a grid run
    has saved its first checkpoint but not finished. With `--jobs=1` in `args` the kill
    leaves the pretraining finished and registered, the first grid run interrupted and the
    others missing.

    Returns:
      (the interrupted run, what the runner printed).
    """
    runner = binaries.start(
        "transfusion_tf.study", *args, stderr=subprocess.STDOUT, start_new_session=True
    )
    grid = [run.name for run in study.runs if not run.register]
    deadline = time.time() + 900
    while True:
        assert runner.poll() is None, runner.stdout.read()
        assert time.time() < deadline, "no grid run saved its first checkpoint"
        started = [
            name
            for name in grid
            if (work / "runs" / name / "checkpoints" / "ckpt-2.index").exists()
            and not (work / "runs" / name / "train_summary.json").exists()
        ]
        if started:
            break
        time.sleep(0.05)
    os.killpg(runner.pid, signal.SIGKILL)  # The runner and its training processes.
    runner.wait()
    return started[0], runner.stdout.read()


def _printed_commands(stdout: str) -> dict[str, str]:
    """{"run <name>" or "data <key>" or "analysis <name>" or "report": command line}."""
    commands, title = {}, None
    for line in stdout.splitlines():
        if line.startswith("# "):
            words = line[2:].replace(":", "").split()
            title = " ".join(words[:2]) if words[0] in ("run", "data", "analysis") else "report"
        elif line:
            assert title not in commands, title
            commands[title] = line
    return commands


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo study through kill, by-hand run, partial report, rerun and a last rerun (the
    data and the pretraining done before the kill, in this process).

    Returns a dict of what each step left: snapshots (`_snapshot`) after the kill, after the
    run by hand and at the end, the run that was interrupted and the one run by hand, the
    printed commands, and the runner's output of each launch.
    """
    work = tmp_path_factory.mktemp("demo") / "demo"
    study = studies.load_study("demo:test")
    args = ["--study=demo:test", f"--workdir={work}", "--threads_per_job=1"]
    seen = {"work": work, "study": study}
    # The data and the pretraining from an earlier launch; then the runner's process, one
    # job at a time up to the kill: which run is where when it comes is then certain.
    _prepare_in_this_process(study, work)
    seen["interrupted"], seen["killed_output"] = _kill_mid_grid([*args, "--jobs=1"], work, study)
    # The registry lost since (as if the kill had come between training and registering):
    # the rerun registers the finished pretraining without training it again.
    (work / "weights.json").unlink()
    seen["killed"] = _snapshot(work, study)
    seen["printed"] = _study([*args, "--print_commands"]).stdout
    by_hand = [
        run.name
        for run in study.runs
        if seen["killed"][run.name][0] == "missing" and not run.depends_on and not run.register
    ][-1]
    _run_as_printed(_printed_commands(seen["printed"])[f"run {by_hand}"], cwd=work.parent)
    seen["by_hand"] = by_hand
    seen["before_rerun"] = _snapshot(work, study)
    seen["partial"] = _study([*args, "--aggregate_only"]).stdout
    seen["partial_report"] = (work / "report.md").read_text()
    seen["rerun"] = _study([*args, "--jobs=2"])
    seen["end"] = _snapshot(work, study)
    seen["again"] = _study([*args, "--jobs=2"]).stdout
    return seen


def test_killed_mid_grid_then_rerun_finishes_only_the_missing_runs(demo):
    killed, before, end = demo["killed"], demo["before_rerun"], demo["end"]
    source, first, *others = (run.name for run in demo["study"].runs)
    assert demo["interrupted"] == first
    assert {name: state for name, (state, *_) in killed.items()} == {
        source: "finished",
        first: "interrupted",
        **{name: "missing" for name in others},
    }
    assert killed[source][1] is False  # Not registered (the registry was removed).
    # The killed launch found the data and the pretraining of the earlier one complete.
    for key in demo["study"].data:
        assert f"data {key}: complete" in demo["killed_output"]
    assert f"run {source}: finished before (skipped)" in demo["killed_output"]
    stdout = demo["rerun"].stdout
    for name, (state, registered, launches, mtime) in before.items():
        if state == "finished" and (registered or not demo["study"].run(name).register):
            assert f"run {name}: finished before (skipped)" in stdout
            assert end[name][2:] == (launches, mtime)  # Not launched again, not rewritten.
        else:
            assert f"run {name}: {_VERBS[state]}" in stdout, name
            assert end[name][2] == launches + (state != "finished"), name
    assert end[demo["interrupted"]][2] == 2  # Resumed, not restarted.
    for run in demo["study"].runs:
        path = demo["work"] / "runs" / run.name
        assert end[run.name][0] == "finished", run.name
        config = json.loads((path / "config.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
        assert [m["step"] for m in metrics.values()] == [config["train"]["total_steps"]]
    # Nothing left to do: every run skipped, the data and every analysis complete.
    again = demo["again"]
    assert again.count("finished before (skipped)") == len(demo["study"].runs)
    assert "starting" not in again and "resuming" not in again
    for key in demo["study"].data:
        assert f"data {key}: complete" in again
    for analysis in demo["study"].analyses:
        assert f"analysis {analysis.name}: complete" in again


def test_a_printed_command_run_by_hand_counts_as_finished(demo):
    commands = _printed_commands(demo["printed"])
    study, work = demo["study"], demo["work"]
    assert list(commands) == [
        *(f"data {key}" for key in study.data),
        *(f"run {run.name}" for run in study.runs),
        *(f"analysis {analysis.name}" for analysis in study.analyses),
        "report",
    ]
    assert "transfusion_tf.study" in commands["report"] and "--aggregate_only" in commands["report"]
    by_hand = demo["by_hand"]
    assert f"--workdir={work}/runs/{by_hand}" in commands[f"run {by_hand}"]
    before = demo["before_rerun"]
    assert before[by_hand][:3] == ("finished", False, 1)

    assert "report:" in demo["partial"]
    finished = [name for name, (state, *_) in before.items() if state == "finished"]
    waiting = [name for name, (state, *_) in before.items() if state != "finished"]
    report = demo["partial_report"]
    assert f"{len(finished)} of {len(study.runs)} runs finished" in report
    assert f"Not finished (left out of every number): {', '.join(waiting)}." in report

    assert f"run {by_hand}: finished before (skipped)" in demo["rerun"].stdout
    assert demo["end"][by_hand][2:] == before[by_hand][2:]


def test_a_failing_run_is_named_with_its_log(tmp_path):
    retina_root = str(tmp_path / "retina")
    synthetic_eyepacs.write_eyepacs(retina_root, num_patients=40, image_size=32, seed=0)
    path = tmp_path / "bad_study.py"
    path.write_text(_STUDY_FILE.replace('"seed": seed', '"seed": seed, "model.name": "nope"'))
    work = tmp_path / "study"
    args = [f"--study={path}", f"--workdir={work}", f"--data_root=retina={retina_root}"]
    result = _study(args, check=False)
    assert result.returncode != 0
    assert "2 run(s) did not finish" in result.stderr  # The runner went on after a.
    assert f"log {work}/logs/a.log" in result.stderr and "unknown model 'nope'" in result.stderr


def test_demo_study_end_to_end(demo):
    """The `make demo` study at test size: every kind of step, then the report."""
    work, study, result = demo["work"], demo["study"], demo["rerun"]
    for run in study.runs:
        assert studies.run_state(str(work / "runs" / run.name)) == "finished", run.name
    with open(work / "weights.json") as f:
        entries = json.load(f)["entries"]
    assert sorted(entries) == ["cbr_tiny"]
    assert entries["cbr_tiny"]["source"]["run"] == str(work / "runs" / "source_cbr_tiny")
    with open(work / "runs" / "cbr_tiny_imagenet_s0" / "init_report.json") as f:
        init = json.load(f)
    assert init["kind"] == "imagenet" and init["weights"]["type"] == "trained"
    assert init["weights"]["path"] == entries["cbr_tiny"]["path"]
    with open(work / "runs" / "cbr_tiny_mean_var_s0" / "init_report.json") as f:
        assert json.load(f)["surgery"]["counts"]["resampled"]["variables"] == 4

    report = (work / "report.md").read_text()
    assert len(study.runs) == 1 + 3 + 1 + 1  # Source; random, transfer, Mean Var.
    assert "6 of 6 runs finished" in report
    assert "> **Synthetic data: compare trends, not values." in report  # The banner.
    assert "not published" not in report
    tables = [line for line in report.splitlines() if line.startswith("|---")]
    figures = [line for line in report.splitlines() if line.startswith("![")]
    # Tables: claims, source pretraining, final AUC, steps to threshold, Fig 2, init vs
    # final, weight movement, provenance. Figures: source and retina curves, Figs 2-4, Fig 5
    # of the first pretrained-start and random runs and of the source network.
    assert (len(tables), len(figures)) == (8, 8)
    for group in ("cbr_tiny/random", "cbr_tiny/imagenet", "cbr_tiny/mean_var", "source/cbr_tiny"):
        assert f"| {group} |" in report
    for section in ("## Claims of the paper", "## Final referable-DR AUC (test)",
                    "## Source pretraining", "## Steps to referable-DR AUC threshold",
                    "## Fig 2 (cbr_tiny)", "## Fig 5: conv1 filters of cbr_tiny_imagenet_s0",
                    "## Weight movement (cbr_tiny)", "## Fig 5: conv1 filters of source_cbr_tiny",
                    "## Similarity at init vs after training (cbr_tiny)",
                    "## Provenance"):  # fmt: skip
        assert section in report, section
    # One model: nothing to compare across models (that section: test_report_files.py).
    assert "## Fig 2 across models" not in report
    assert "| kappa (mean ± std) | accuracy (mean ± std) |" in report
    assert "source-pretrained (synthetic, " in report and "chance 25.0%)" in report
    assert "imagenet (" not in report.lower().replace("imagenet (tf-slim", "")
    _check_claims(report)
    with open(work / "analysis" / "cbr_tiny" / "fig2_cbr_tiny.json") as f:
        summary = json.load(f)["summary"]["mean_cca"]
    # 3 random seeds: 3 random-vs-random pairs; 3 random-vs-pretrained ones with 1 start.
    assert {c: len(box["per_pair"]) for c, box in summary.items()} == {
        "random_vs_random": 3,
        "random_vs_pretrained": 3,
    }
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
