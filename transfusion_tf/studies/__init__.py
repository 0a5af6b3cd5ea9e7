"""Studies: the paper's tables and figures as named, resumable grids of training runs.

One place for all of it, from the spec to the report:
  spec.py        what a study is (datasets, runs, analyses, the paper's numbers);
  catalog.py     the shipped studies by name (`configs/`), or a user's own study file;
  grids.py       building blocks of the shipped studies (data, pretraining runs, grids);
  commands.py    the exact commands of every step, and where each writes;
  state.py       what is finished on disk;
  runner.py      runs what is missing, `jobs` at a time, with progress and an ETA;
  aggregate.py   per-group numbers from the runs' saved files;
  claims.py      the paper's claims, each tested against those numbers;
  report.py      report.md / report.html (report_files.py lays them out).

Layer: above `analysis/` (the report draws with its figure code), below the binaries;
`python -m transfusion_tf.study` is the command.
"""

from transfusion_tf.studies.catalog import list_studies, load_study, study_help, study_module
from transfusion_tf.studies.commands import (
    REPO,
    analysis_command,
    data_dir,
    generate_command,
    register_command,
    registry_file,
    run_commands,
    run_dir,
    shell_command,
    train_command,
)
from transfusion_tf.studies.spec import (
    AnalysisSpec,
    DataSpec,
    RunSpec,
    Study,
    StudyError,
    UnknownStudy,
)
from transfusion_tf.studies.state import registered_from, run_state

__all__ = [
    "REPO",
    "AnalysisSpec",
    "DataSpec",
    "RunSpec",
    "Study",
    "StudyError",
    "UnknownStudy",
    "analysis_command",
    "data_dir",
    "generate_command",
    "list_studies",
    "load_study",
    "register_command",
    "registered_from",
    "registry_file",
    "run_commands",
    "run_dir",
    "run_state",
    "shell_command",
    "study_help",
    "study_module",
    "train_command",
]
