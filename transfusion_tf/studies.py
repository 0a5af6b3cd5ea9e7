"""Studies: named grids of training runs, the commands that make them, and their state.

A study lives in a config file beside its single-run config (`get_study(arg)` next to
`get_config(arg)`), so the grid, the paper's numbers and the command are in one place.
Each run is exactly one `python -m transfusion_tf.train` command (plus, for a pretraining
run, one `transfusion_tf.register_weights`); the study runner and `--print_commands` emit
the same commands, so a run launched by hand or by a cluster scheduler is one the runner
counts as finished.

Override values may hold placeholders, resolved when commands are made:
  `{data:<key>}`  the root of the study's dataset `<key>` (generated or `--data_root`);
  `{registry}`    the study's registry of trained weights, `<workdir>/weights.json`;
  `{run:<name>}`  the workdir of another run of the study.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence

from errors import USAGE, ExpectedError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO, "transfusion_tf", "configs")
_PLACEHOLDER = re.compile(r"\{(data|run):([^}]+)\}|\{registry\}")


class StudyError(ExpectedError, ValueError):
    """A malformed study, an unknown name, or a run that failed."""


class UnknownStudy(StudyError):
    """A study name or file that does not exist: a usage error (exit status 2)."""

    exit_code = USAGE


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A synthetic dataset the study writes when no `--data_root` names the real one.

    Attributes:
      module: the generator binary, `pipelines.generate` or `pipelines.generate_source`.
      args: its flags (without `--root`), e.g. {'dataset': 'eyepacs', 'num_patients': 600}.
      description: what the real dataset would be (for `--help` and the report).
    """

    module: str
    args: Mapping[str, object]
    description: str = ""


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of a study.

    Attributes:
      name: unique in the study; the run's directory is `<workdir>/runs/<name>`.
      config: config file (relative to the repository) and variant, `file.py:variant`.
      overrides: config field -> value, passed as `--config.<field>=<value>`.
      group: the table row / curve the run belongs to (e.g. `cbr_small/random`); runs of
        one group differ only by seed and are averaged.
      depends_on: runs that must finish first (a pretraining run).
      register: after training, register the run's weights in the study's registry (the
        `imagenet` weights of its model for later runs).
    """

    name: str
    config: str
    overrides: Mapping[str, object] = dataclasses.field(default_factory=dict)
    group: str = ""
    depends_on: Sequence[str] = ()
    register: bool = False


@dataclasses.dataclass(frozen=True)
class AnalysisSpec:
    """One `python -m analysis.run_analysis` over finished runs.

    Attributes:
      name: output directory `<workdir>/analysis/<name>`; also the fig2-4 label.
      random_runs / pretrained_runs: run names (seeds of random and pretrained starts).
      analyses: `fig2`, `fig3`, `fig4`, `fig5`, `weights`.
      flags: further run_analysis flags, e.g. {'num_images': 64, 'measures': 'mean_cca'}.
    """

    name: str
    random_runs: Sequence[str]
    pretrained_runs: Sequence[str] = ()
    analyses: Sequence[str] = ("fig2", "fig3", "fig5", "weights")
    flags: Mapping[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Study:
    """A grid of runs and what to compute from them.

    Attributes:
      name: registry name (with the variant, e.g. `table1:demo`).
      title: one line: what it reproduces.
      runs: the grid, in an order that respects `depends_on`.
      data: dataset key -> the synthetic stand-in generated when no root is given.
      analyses: representation and weight analyses after training.
      thresholds: main-metric targets for the steps-to-threshold table.
      paper: the paper's numbers: table name -> {group: value} (None: not published).
      notes: free text for the report (sizes, precision, caveats).
    """

    name: str
    title: str
    runs: Sequence[RunSpec]
    data: Mapping[str, DataSpec] = dataclasses.field(default_factory=dict)
    analyses: Sequence[AnalysisSpec] = ()
    thresholds: Sequence[float] = (0.85,)
    paper: Mapping[str, Mapping[str, float | None]] = dataclasses.field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        names = [run.name for run in self.runs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise StudyError(f"study {self.name}: duplicate run names {duplicates}")
        seen: set[str] = set()
        for run in self.runs:
            missing = [d for d in run.depends_on if d not in seen]
            if missing:
                raise StudyError(
                    f"study {self.name}: run {run.name} depends on {missing}, which do not "
                    "come before it"
                )
            for key in _placeholders(run, "data"):
                if key not in self.data:
                    raise StudyError(
                        f"study {self.name}: run {run.name} reads unknown data {key!r}"
                    )
            seen.add(run.name)
        for analysis in self.analyses:
            unknown = [
                r for r in (*analysis.random_runs, *analysis.pretrained_runs) if r not in seen
            ]
            if unknown:
                raise StudyError(f"study {self.name}: analysis {analysis.name} names {unknown}")

    def run(self, name: str) -> RunSpec:
        for run in self.runs:
            if run.name == name:
                return run
        raise StudyError(f"study {self.name} has no run {name!r}")


# Study name -> config file under transfusion_tf/configs (which defines get_study(variant)).
STUDY_FILES = {
    "table1": "table1_retina.py",
    "table2": "table2_chexpert.py",
    "table3": "table3_small_data.py",
    "fig2_5": "figs2_5_representations.py",
    "fig6": "fig6_mean_var.py",
    "fig7": "fig7_transfusion.py",
    "fig8": "fig8_hybrid_gabor.py",
    "init": "retina_init.py",
    "data_size": "data_size_sweep.py",
    "demo": "demo_study.py",
}


def list_studies() -> list[str]:
    return sorted(STUDY_FILES)


def study_help() -> str:
    """One line per study: `name  title` (the first docstring line of its config file)."""
    lines = []
    for name in list_studies():
        module = _config_module(name)
        title = (module.__doc__ or "").strip().splitlines()[0]
        lines.append(f"{name:<10} {title}")
    return "\n".join(lines)


def load_study(spec: str) -> Study:
    """Builds `name[:variant]` (or `path/to/file.py[:variant]`) from `get_study(variant)`.

    A path lets researchers keep their own studies outside this repository.
    """
    name, _, variant = spec.partition(":")
    module = _config_module(name)
    if not hasattr(module, "get_study"):
        raise StudyError(f"{name} defines no get_study(variant)")
    return module.get_study(variant)


def _config_module(name: str):
    if name.endswith(".py"):
        path = os.path.abspath(name)
        if not os.path.exists(path):
            raise UnknownStudy(f"study file {path} not found")
    elif name in STUDY_FILES:
        path = os.path.join(CONFIG_DIR, STUDY_FILES[name])
    else:
        raise UnknownStudy(
            f"unknown study {name!r}; valid: {', '.join(list_studies())} or a path to a "
            ".py file defining get_study(variant)"
        )
    spec = importlib.util.spec_from_file_location("_study_" + os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dir(workdir: str, name: str) -> str:
    return os.path.join(os.path.abspath(workdir), "runs", name)


def registry_file(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "weights.json")


def data_dir(workdir: str, key: str) -> str:
    """Where a synthetic dataset of the study is generated."""
    return os.path.join(os.path.abspath(workdir), "data", key)


def train_command(
    run: RunSpec, workdir: str, data_roots: Mapping[str, str], *, python: str = sys.executable
) -> list[str]:
    """The exact training command of one run."""
    config_file, _, variant = run.config.partition(":")
    config = os.path.join(REPO, config_file) + (f":{variant}" if variant else "")
    args = [python, "-m", "transfusion_tf.train", f"--config={config}"]
    for field, value in run.overrides.items():
        args.append(f"--config.{field}={_flag_value(_resolve(value, run, workdir, data_roots))}")
    args.append(f"--workdir={run_dir(workdir, run.name)}")
    return args


def register_command(run: RunSpec, workdir: str, *, python: str = sys.executable) -> list[str]:
    return [
        python,
        "-m",
        "transfusion_tf.register_weights",
        f"--workdir={run_dir(workdir, run.name)}",
        f"--registry={registry_file(workdir)}",
    ]


def generate_command(key: str, data: DataSpec, workdir: str, *, python=sys.executable) -> list:
    args = [python, "-m", data.module, f"--root={data_dir(workdir, key)}"]
    return args + [f"--{flag}={_flag_value(value)}" for flag, value in data.args.items()]


def analysis_command(
    analysis: AnalysisSpec, workdir: str, *, python: str = sys.executable
) -> list[str]:
    args = [
        python,
        "-m",
        "analysis.run_analysis",
        f"--out={os.path.join(os.path.abspath(workdir), 'analysis', analysis.name)}",
        f"--label={analysis.name}",
        f"--analyses={','.join(analysis.analyses)}",
    ]
    groups = {"random_runs": analysis.random_runs, "pretrained_runs": analysis.pretrained_runs}
    for flag, names in groups.items():
        if names:
            args.append(f"--{flag}=" + ",".join(run_dir(workdir, n) for n in names))
    return args + [f"--{flag}={_flag_value(value)}" for flag, value in analysis.flags.items()]


def run_commands(run: RunSpec, workdir: str, data_roots, *, python=sys.executable) -> list:
    """Every command of one run, in order: train, then register for a pretraining run."""
    commands = [train_command(run, workdir, data_roots, python=python)]
    if run.register:
        commands.append(register_command(run, workdir, python=python))
    return commands


def shell_command(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def run_state(path: str) -> str:
    """`finished`, `interrupted` (started, not complete) or `missing`.

    Finished means `train_summary.json` exists (the trainer writes it last, after the
    final evaluations) and reached the configured `train.total_steps`.
    """
    summary_path = os.path.join(path, "train_summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            summary = json.load(f)
        with open(os.path.join(path, "config.json")) as f:
            total = json.load(f)["train"]["total_steps"]
        return "finished" if summary.get("final_step") == total else "interrupted"
    return "interrupted" if os.path.exists(os.path.join(path, "config.json")) else "missing"


def registered_from(workdir: str, run: RunSpec) -> bool:
    """Whether the study registry holds weights exported from this run's final step."""
    path = registry_file(workdir)
    if not os.path.exists(path):
        return False
    with open(path) as f:
        entries = json.load(f).get("entries", {})
    with open(os.path.join(run_dir(workdir, run.name), "train_summary.json")) as f:
        final = json.load(f)["final_step"]
    return any(
        os.path.abspath(e.get("source", {}).get("run", "")) == run_dir(workdir, run.name)
        and e.get("source", {}).get("step") == final
        for e in entries.values()
    )


def _placeholders(run: RunSpec, kind: str) -> list[str]:
    found = []
    for value in run.overrides.values():
        for match in _PLACEHOLDER.finditer(str(value)):
            if match.group(1) == kind:
                found.append(match.group(2))
    return found


def _resolve(value, run: RunSpec, workdir: str, data_roots: Mapping[str, str]):
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        kind, key = match.group(1), match.group(2)
        if kind is None:
            return registry_file(workdir)
        if kind == "run":
            return run_dir(workdir, key)
        if key not in data_roots:
            raise StudyError(f"run {run.name}: no root for dataset {key!r}")
        return os.path.abspath(data_roots[key])

    return _PLACEHOLDER.sub(replace, value)


def _flag_value(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):  # A Python literal, as config_flags parses tuples.
        inner = ",".join(repr(v) if isinstance(v, str) else _flag_value(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    return str(value)
