"""Running a study: generate missing data, run missing or interrupted runs, then analyse.

Every step is a subprocess running the same command `--print_commands` shows, and every
step can be skipped because its outputs say it is done:
  data      `<root>/.generated.json` records the generator command that completed;
  runs      `state.run_state` (train_summary.json at the configured final step);
  register  the study registry holds the run's final-step weights;
  analyses  `<out>/.complete.json` records the analysis command that completed.
So killing the runner at any point and rerunning it finishes only what is missing, and
interrupted runs resume from their last checkpoint (the trainer's own resume).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from transfusion_tf import provenance
from transfusion_tf.studies import commands, state
from transfusion_tf.studies.spec import RunSpec, Study, StudyError

_PRINT_LOCK = threading.Lock()


def print_line(line: str) -> None:
    """Prints `line` whole: runs finish on worker threads, and `print` writes the text and
    its newline separately, so two lines printed at once could share a line."""
    with _PRINT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


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
    echo: Callable[[str], None] = print_line


def resolve_data_roots(study: Study, workdir: str, given: Mapping[str, str]) -> dict[str, str]:
    """Each dataset's root: the given one, else where the study generates its stand-in."""
    unknown = sorted(set(given) - set(study.data))
    if unknown:
        raise StudyError(
            f"--data_root names {unknown}; study {study.name} reads {sorted(study.data)}"
        )
    return {key: given.get(key) or commands.data_dir(workdir, key) for key in study.data}


def generate_data(study: Study, workdir: str, given: Mapping[str, str], opts: RunnerOptions):
    """Writes each synthetic dataset the user did not provide (skipped when complete),
    `opts.jobs` at a time (they are independent of each other)."""
    todo = []
    for key, spec in study.data.items():
        if key in given:
            if not os.path.isdir(given[key]):
                raise StudyError(f"--data_root {key}={given[key]} is not a directory")
            continue
        root = commands.data_dir(workdir, key)
        command = commands.generate_command(key, spec, workdir, python=opts.python)
        stamp = os.path.join(root, ".generated.json")
        if state.stamp_matches(stamp, command):
            opts.echo(f"data {key}: complete ({root})")
        else:
            todo.append((key, spec, command, stamp))

    def execute(key, spec, command, stamp) -> None:
        shutil.rmtree(os.path.dirname(stamp), ignore_errors=True)  # Partial or different.
        opts.echo(f"data {key}: generating ({spec.description or spec.module})")
        started = time.time()
        _run_logged(command, _log_path(workdir, f"data_{key}"), opts)
        state.write_stamp(stamp, command, started)

    _run_side_by_side(execute, todo, opts.jobs)


def run_grid(study: Study, workdir: str, data_roots: Mapping[str, str], opts: RunnerOptions):
    """Runs every run that is not finished, `opts.jobs` at a time, dependencies first.

    Prints one line as each run starts and finishes, the latter with runs done/total and
    an ETA for the rest (the mean wall time of the runs finished in this launch, times the
    runs left, over the jobs running at once).

    Returns:
      run name -> `skipped` (finished before) or `ran`.

    Raises:
      StudyError: naming each failed run, its log and the log's last lines; runs that
        depend on a failed run are not started, independent ones still are.
    """
    names = {r.name for r in study.runs}
    for run in study.runs:
        missing = [d for d in run.depends_on if d not in names]
        if missing:
            raise StudyError(f"run {run.name} depends on unknown runs {missing}")
    outcome: dict[str, str] = {}
    todo = []
    for run in study.runs:
        if _is_complete(workdir, run):
            outcome[run.name] = "skipped"
            opts.echo(f"run {run.name}: finished before (skipped)")
        else:
            todo.append(run)
    progress = Progress(total=len(study.runs), done=len(outcome), jobs=opts.jobs)

    def execute(run: RunSpec) -> None:
        opts.echo(progress.started(run.name, _VERB[state.run_state(_path(workdir, run))]))
        started = time.time()
        _run_steps(run, workdir, data_roots, opts)
        opts.echo(progress.finished(run.name, time.time() - started))

    failed = _schedule(todo, execute, set(outcome), max(opts.jobs, 1), opts.echo)
    outcome.update({run.name: "ran" for run in todo if run.name not in failed})
    if failed:
        details = "\n".join(f"- {name}: {why}" for name, why in failed.items())
        raise StudyError(f"study {study.name}: {len(failed)} run(s) did not finish:\n{details}")
    return outcome


class Progress:
    """Runs done out of the total, and an ETA from the wall times of this launch's runs."""

    def __init__(self, *, total: int, done: int, jobs: int):
        self.total, self.done, self.jobs = total, done, max(jobs, 1)
        self.started_count = done
        self.seconds: list[float] = []
        self._lock = threading.Lock()

    def started(self, name: str, verb: str) -> str:
        with self._lock:
            self.started_count += 1
            return f"run {name}: {verb} ({self.started_count}/{self.total})"

    def finished(self, name: str, seconds: float) -> str:
        with self._lock:
            self.done += 1
            self.seconds.append(seconds)
            left = self.total - self.done
            eta = ""
            if left:
                mean = sum(self.seconds) / len(self.seconds)
                eta = f", ETA {_duration(mean * left / min(self.jobs, left))}"
            return f"run {name}: finished in {seconds:.0f} s [{self.done}/{self.total} done{eta}]"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _path(workdir: str, run: RunSpec) -> str:
    return commands.run_dir(workdir, run.name)


def _is_complete(workdir: str, run: RunSpec) -> bool:
    """Trained to the end and, for a pretraining run, registered."""
    finished = state.run_state(_path(workdir, run)) == "finished"
    return finished and (not run.register or state.registered_from(workdir, run))


def _run_steps(run: RunSpec, workdir: str, data_roots, opts: RunnerOptions) -> None:
    """Trains (or resumes) the run unless it finished, then registers a pretraining run."""
    log = _log_path(workdir, run.name)
    if state.run_state(_path(workdir, run)) != "finished":
        _run_logged(commands.train_command(run, workdir, data_roots, python=opts.python), log, opts)
    if run.register:
        _run_logged(commands.register_command(run, workdir, python=opts.python), log, opts)


def _schedule(todo, execute, done: set[str], jobs: int, echo) -> dict[str, str]:
    """Runs `execute(run)` for each of `todo`, `jobs` at a time, once its dependencies are
    done; a run depending on a failed one is not started. Returns run name -> failure."""
    failed: dict[str, str] = {}
    pending = list(todo)
    running: dict[concurrent.futures.Future, RunSpec] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            for run in [r for r in pending if set(r.depends_on) & set(failed)]:
                culprits = sorted(set(run.depends_on) & set(failed))
                failed[run.name] = f"not started: depends on failed {culprits}"
                pending.remove(run)
            ready = [r for r in pending if set(r.depends_on) <= done]
            while ready and len(running) < jobs:
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
                else:
                    failed[run.name] = str(error)
                    echo(f"run {run.name}: FAILED")
    return failed


def run_analyses(study: Study, workdir: str, opts: RunnerOptions) -> None:
    """Runs each analysis whose recorded command differs from today's (or never ran),
    `opts.jobs` at a time (they are independent of each other)."""
    todo = []
    for analysis in study.analyses:
        command = commands.analysis_command(analysis, workdir, python=opts.python)
        stamp = os.path.join(os.path.abspath(workdir), "analysis", analysis.name, ".complete.json")
        if state.stamp_matches(stamp, command):
            opts.echo(f"analysis {analysis.name}: complete")
        else:
            todo.append((analysis, command, stamp))

    def execute(analysis, command, stamp) -> None:
        opts.echo(f"analysis {analysis.name}: {', '.join(analysis.analyses)}")
        started = time.time()
        _run_logged(command, _log_path(workdir, f"analysis_{analysis.name}"), opts)
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        state.write_stamp(stamp, command, started)

    _run_side_by_side(execute, todo, opts.jobs)


def _run_side_by_side(execute, todo: Sequence[tuple], jobs: int) -> None:
    """`execute(*job)` for each job of `todo`, `jobs` at a time; raises every failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        futures = [pool.submit(execute, *job) for job in todo]
    errors = [str(f.exception()) for f in futures if f.exception() is not None]
    if errors:
        raise StudyError("\n".join(errors))


def print_commands(study: Study, workdir: str, data_roots: Mapping[str, str], *, python: str):
    """Yields the study's commands as shell lines, one per run, phases as comments."""
    yield f"# study {study.name}: {study.title}"
    yield "# Run from any directory; each line is independent once the lines it depends on ran."
    for key, spec in study.data.items():
        if data_roots[key] == commands.data_dir(workdir, key):
            yield f"# data {key}: {spec.description}"
            yield commands.shell_command(
                commands.generate_command(key, spec, workdir, python=python)
            )
    for run in study.runs:
        after = f" (after {', '.join(run.depends_on)})" if run.depends_on else ""
        yield f"# run {run.name}{after}"
        steps = commands.run_commands(run, workdir, data_roots, python=python)
        yield " && ".join(commands.shell_command(c) for c in steps)
    for analysis in study.analyses:
        yield f"# analysis {analysis.name} (after its runs)"
        yield commands.shell_command(commands.analysis_command(analysis, workdir, python=python))
    yield "# then the report from what finished:"
    given = [k for k, v in data_roots.items() if v != commands.data_dir(workdir, k)]
    yield commands.shell_command(
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
    env["PYTHONPATH"] = os.pathsep.join(p for p in (commands.REPO, env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if opts.threads_per_job:
        env["TF_NUM_INTRAOP_THREADS"] = str(opts.threads_per_job)
        env["TF_NUM_INTEROP_THREADS"] = "1"
    with open(log, "a") as f:
        f.write(f"\n$ {commands.shell_command(command)}\n")
        f.flush()
        code = subprocess.call(command, stdout=f, stderr=subprocess.STDOUT, env=env)
    if code != 0:
        with open(log) as f:
            tail = "".join(f.readlines()[-15:])
        raise StudyError(f"exit status {code} from `{command[2]}`; log {log}; last lines:\n{tail}")


def _log_path(workdir: str, name: str) -> str:
    return os.path.join(os.path.abspath(workdir), "logs", f"{name}.log")


_VERB = {"missing": "starting", "interrupted": "resuming", "finished": "registering"}
