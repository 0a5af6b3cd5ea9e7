"""What a study is: datasets, a grid of training runs, analyses, and the paper's numbers.

A study is data, not code that runs: `transfusion_tf.studies.commands` turns it into the
commands a user, a scheduler or `transfusion_tf.studies.runner` executes.

Override values may hold placeholders, resolved when commands are made:
  `{data:<key>}`  the root of the study's dataset `<key>` (generated or `--data_root`);
  `{registry}`    the study's registry of trained weights, `<workdir>/weights.json`;
  `{run:<name>}`  the workdir of another run of the study.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from errors import USAGE, ExpectedError

PLACEHOLDER = re.compile(r"\{(data|run):([^}]+)\}|\{registry\}")


class StudyError(ExpectedError, ValueError):
    """A malformed study, an unknown name, or a run that failed."""


class UnknownStudy(StudyError):
    """A study name, variant or file that does not exist: a usage error (exit status 2)."""

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
            for key in placeholders(run, "data"):
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


def placeholders(run: RunSpec, kind: str) -> list[str]:
    """The keys of `{<kind>:<key>}` placeholders in a run's overrides."""
    found = []
    for value in run.overrides.values():
        for match in PLACEHOLDER.finditer(str(value)):
            if match.group(1) == kind:
                found.append(match.group(2))
    return found
