"""Running a study: generate missing data, run missing or interrupted runs, then analyse.

Every step is a subprocess running the same command `--print_commands` shows, and every
step can be skipped because its outputs say it is done:
  data      `<root>/.generated.json` records the generator command that completed;
  runs      `studies.run_state` (train_summary.json at the configured final step);
  register  the study registry holds the run's final-step weights;
  analyses  `<out>/.complete.json` records the analysis command that completed.
So killing the runner at any point and rerunning it finishes only what is missing, and
interrupted runs resume from their last checkpoint (the trainer's own resume).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from transfusion_tf import provenance, studies
from transfusion_tf.studies import Study, StudyError


@dataclasses.dataclass(frozen=True)
class RunnerOptions:
    """How to run.

    Attributes:
      jobs: runs trained at once (each a process). On a CPU, 2 jobs of 1 thread each use
        2 cores better than 1 job of 2 threads for the small models.
      threads_per_job: TF intra-op threads per process (0: TensorFlow's default).
      python: interpreter for the subprocesses.
      echo: receives one line per event (start, skip, finish, failure).
    """

    jobs: int = 1
    threads_per_job: int = 0
    python: str = sys.executable
    echo: Callable[[str], None] = print


def resolve_data_roots(study: Study, workdir: str, given: Mapping[str, str]) -> dict[str, str]:
    """Each dataset's root: the given one, else where the study generates its stand-in."""
    unknown = sorted(set(given) - set(study.data))
    if unknown:
        raise StudyError(
            f"--data_root names {unknown}; study {study.name} reads {sorted(study.data)}"
        )
    return {key: given.get(key) or studies.data_dir(workdir, key) for key in study.data}


def generate_data(study: Study, workdir: str, given: Mapping[str, str], opts: RunnerOptions):
    """Writes each synthetic dataset the user did not provide (skipped when complete)."""
    for key, spec in study.data.items():
        if key in given:
            if not os.path.isdir(given[key]):
                raise StudyError(f"--data_root {key}={given[key]} is not a directory")
            continue
        root = studies.data_dir(workdir, key)
        command = studies.generate_command(key, spec, workdir, python=opts.python)
        stamp = os.path.join(root, ".generated.json")
        if _stamp_matches(stamp, command):
            opts.echo(f"data {key}: complete ({root})")
            continue
        shutil.rmtree(root, ignore_errors=True)  # A partial or different dataset.
        opts.echo(f"data {key}: generating ({spec.description or spec.module})")
        started = time.time()
        _run_logged(command, _log_path(workdir, f"data_{key}"), opts)
        _write_stamp(stamp, command, started)


def run_grid(study: Study, workdir: str, data_roots: Mapping[str, str], opts: RunnerOptions):
    """Runs every run that is not finished, `opts.jobs` at a time, dependencies first.

    Returns:
      run name -> `skipped` (finished before) or `ran`.

    Raises:
      StudyError: naming each failed run, its log and the log's last lines; runs that
        depend on a failed run are not started, independent ones still are.
    """
    outcome: dict[str, str] = {}
    todo = []
    for run in study.runs:
        path = studies.run_dir(workdir, run.name)
        state = studies.run_state(path)
        if state == "finished" and (not run.register or studies.registered_from(workdir, run)):
            outcome[run.name] = "skipped"
            opts.echo(f"run {run.name}: finished before (skipped)")
        else:
            todo.append(run)
    done = set(outcome)
    failed: dict[str, str] = {}
    total, started_count = len(study.runs), [len(done)]
    lock = threading.Lock()

    def execute(run: studies.RunSpec) -> None:
        path = studies.run_dir(workdir, run.name)
        state = studies.run_state(path)
        started = time.time()
        with lock:
            started_count[0] += 1
            opts.echo(f"run {run.name}: {_VERB[state]} ({started_count[0]}/{total})")
        log = _log_path(workdir, run.name)
        if state != "finished":
            _run_logged(
                studies.train_command(run, workdir, data_roots, python=opts.python), log, opts
            )
        if run.register:
            _run_logged(studies.register_command(run, workdir, python=opts.python), log, opts)
        with lock:
            opts.echo(f"run {run.name}: finished in {time.time() - started:.0f} s")

    for run in todo:
        missing = [d for d in run.depends_on if d not in {r.name for r in study.runs}]
        if missing:
            raise StudyError(f"run {run.name} depends on unknown runs {missing}")
    pending = list(todo)
    running: dict[concurrent.futures.Future, studies.RunSpec] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(opts.jobs, 1)) as pool:
        while pending or running:
            blocked = {r.name for r in pending if set(r.depends_on) & set(failed)}
            for run in [r for r in pending if r.name in blocked]:
                culprits = sorted(set(run.depends_on) & set(failed))
                failed[run.name] = f"not started: depends on failed {culprits}"
                pending.remove(run)
            ready = [r for r in pending if set(r.depends_on) <= done]
            while ready and len(running) < max(opts.jobs, 1):
                run = ready.pop(0)
                pending.remove(run)
                running[pool.submit(execute, run)] = run
            if not running:
                if pending:  # Only reachable if dependencies can never finish.
                    raise StudyError(f"runs {[r.name for r in pending]} cannot start")
                break
            finished, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                run = running.pop(future)
                error = future.exception()
                if error is None:
                    done.add(run.name)
                    outcome[run.name] = "ran"
                else:
                    failed[run.name] = str(error)
                    opts.echo(f"run {run.name}: FAILED")
    if failed:
        details = "\n".join(f"- {name}: {why}" for name, why in failed.items())
        raise StudyError(f"study {study.name}: {len(failed)} run(s) did not finish:\n{details}")
    return outcome


def run_analyses(study: Study, workdir: str, opts: RunnerOptions) -> None:
    """Runs each analysis whose recorded command differs from today's (or never ran)."""
    for analysis in study.analyses:
        command = studies.analysis_command(analysis, workdir, python=opts.python)
        out = os.path.join(os.path.abspath(workdir), "analysis", analysis.name)
        stamp = os.path.join(out, ".complete.json")
        if _stamp_matches(stamp, command):
            opts.echo(f"analysis {analysis.name}: complete")
            continue
        opts.echo(f"analysis {analysis.name}: {', '.join(analysis.analyses)}")
        started = time.time()
        _run_logged(command, _log_path(workdir, f"analysis_{analysis.name}"), opts)
        _write_stamp(stamp, command, started)


def print_commands(study: Study, workdir: str, data_roots: Mapping[str, str], *, python: str):
    """Yields the study's commands as shell lines, one per run, phases as comments."""
    yield f"# study {study.name}: {study.title}"
    yield "# Run from any directory; each line is independent once the lines it depends on ran."
    for key, spec in study.data.items():
        if data_roots[key] == studies.data_dir(workdir, key):
            yield f"# data {key}: {spec.description}"
            yield studies.shell_command(studies.generate_command(key, spec, workdir, python=python))
    for run in study.runs:
        after = f" (after {', '.join(run.depends_on)})" if run.depends_on else ""
        yield f"# run {run.name}{after}"
        commands = studies.run_commands(run, workdir, data_roots, python=python)
        yield " && ".join(studies.shell_command(c) for c in commands)
    for analysis in study.analyses:
        yield f"# analysis {analysis.name} (after its runs)"
        yield studies.shell_command(studies.analysis_command(analysis, workdir, python=python))
    yield "# then the report from what finished:"
    given = [k for k, v in data_roots.items() if v != studies.data_dir(workdir, k)]
    yield studies.shell_command(
        [python, "-m", "transfusion_tf.study", f"--study={study.name}"]
        + [f"--workdir={os.path.abspath(workdir)}", "--aggregate_only"]
        + [f"--data_root={k}={data_roots[k]}" for k in given]
    )


def record_study(study: Study, workdir: str, data_roots: Mapping[str, str], argv: Sequence[str]):
    """Appends this launch to `<workdir>/study.json` (spec, roots, versions, commit)."""
    os.makedirs(workdir, exist_ok=True)
    provenance.record_launch(workdir, study=study.name, data_roots=dict(data_roots))
    provenance.write_json(
        os.path.join(workdir, "study.json"),
        {"study": dataclasses.asdict(study), "data_roots": dict(data_roots), "argv": list(argv)},
    )


def _run_logged(command: Sequence[str], log: str, opts: RunnerOptions) -> None:
    """Runs one command, appending its output to `log`; raises with the log's tail."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (studies.REPO, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if opts.threads_per_job:
        env["TF_NUM_INTRAOP_THREADS"] = str(opts.threads_per_job)
        env["TF_NUM_INTEROP_THREADS"] = "1"
    with open(log, "a") as f:
        f.write(f"\n$ {studies.shell_command(command)}\n")
        f.flush()
        code = subprocess.call(command, stdout=f, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        with open(log) as f:
            tail = "".join(f.readlines()[-15:])
        raise StudyError(f"exit status {code} from `{command[2]}`; log {log}; last lines:\n{tail}")


def _log_path(workdir: str, name: str) -> str:
    return os.path.join(os.path.abspath(workdir), "logs", f"{name}.log")


def _stamp_matches(stamp: str, command: Sequence[str]) -> bool:
    if not os.path.exists(stamp):
        return False
    with open(stamp) as f:
        return json.load(f).get("command", [])[1:] == list(command)[1:]  # Any interpreter.


def _write_stamp(stamp: str, command: Sequence[str], started: float) -> None:
    provenance.write_json(
        stamp, {"command": list(command), "seconds": round(time.time() - started, 1)}
    )


_VERB = {"missing": "starting", "interrupted": "resuming", "finished": "registering"}
