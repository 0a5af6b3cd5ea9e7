"""The exact commands of a study: generate data, train, register, analyse; and where they write.

Each run is exactly one `python -m transfusion_tf.train` command (plus, for a pretraining
run, one `transfusion_tf.register_weights`); the runner and `--print_commands` emit the same
commands, so a run launched by hand or by a cluster scheduler is one the runner counts as
finished.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence

from transfusion_tf.studies.spec import PLACEHOLDER, AnalysisSpec, DataSpec, RunSpec, StudyError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_dir(workdir: str, name: str) -> str:
    return os.path.join(os.path.abspath(workdir), "runs", name)


def registry_file(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "weights.json")


def data_dir(workdir: str, key: str) -> str:
    """Where a synthetic dataset of the study is generated."""
    return os.path.join(os.path.abspath(workdir), "data", key)


def analysis_dir(workdir: str, name: str) -> str:
    return os.path.join(os.path.abspath(workdir), "analysis", name)


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
        f"--out={analysis_dir(workdir, analysis.name)}",
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

    return PLACEHOLDER.sub(replace, value)


def _flag_value(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list | tuple):  # A Python literal, as config_flags parses tuples.
        inner = ",".join(repr(v) if isinstance(v, str) else _flag_value(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    return str(value)
