"""Run a study: `python -m transfusion_tf.study --study=<name>[:variant] --workdir=<dir>`.

Expands the study's grid, generates the synthetic stand-in for every dataset not given by
`--data_root`, runs what is missing (finished runs are skipped, interrupted ones resume),
runs the analyses, and writes `report.md` and `report.html` into the workdir. Rerun the
same command after an interruption. `--print_commands` prints one command per run for a
cluster scheduler instead; `--aggregate_only` rebuilds the report from what has finished.

Studies (`name[:variant]`; every study has a `demo` variant sized for a laptop CPU):
{studies}
"""

import sys

from absl import app, flags

import errors
from transfusion_tf import studies
from transfusion_tf.studies import report, runner

__doc__ = __doc__.format(studies=studies.study_help())

_STUDY = flags.DEFINE_string(
    "study",
    None,
    "Study as name[:variant] (names: " + ", ".join(studies.list_studies()) + ") or as "
    "path/to/file.py[:variant] for a file defining get_study(variant).",
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Study directory: data/, runs/, analysis/, logs/, report.md, report.html."
)
_DATA_ROOT = flags.DEFINE_multi_string(
    "data_root",
    [],
    "KEY=DIR: the real dataset for the study's dataset KEY (e.g. retina=/data/eyepacs, "
    "source=/data/imagenet); a bare DIR when the study reads one dataset. Datasets not "
    "given are generated synthetically under <workdir>/data/<KEY>.",
)
_PRINT = flags.DEFINE_bool(
    "print_commands", False, "Print the commands (one line per run) instead of running them."
)
_AGGREGATE_ONLY = flags.DEFINE_bool(
    "aggregate_only", False, "Only build the report from the runs that have finished."
)
_JOBS = flags.DEFINE_integer("jobs", 1, "Runs trained at once, each in its own process.")
_THREADS = flags.DEFINE_integer(
    "threads_per_job", 0, "TensorFlow intra-op threads per run process (0: TF's default)."
)
flags.mark_flags_as_required(["study", "workdir"])


def parse_data_roots(values: list[str], study: studies.Study) -> dict[str, str]:
    roots = {}
    for value in values:
        key, sep, root = value.partition("=")
        if not sep:
            if len(study.data) != 1:
                raise app.UsageError(
                    f"--data_root={value}: study {study.name} reads {sorted(study.data)}; "
                    "give KEY=DIR"
                )
            key, root = next(iter(study.data)), value
        roots[key] = root
    return roots


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    with errors.documented(usage=(ValueError,)):  # Configs refuse unknown variants so.
        study = studies.load_study(_STUDY.value)
    given = parse_data_roots(_DATA_ROOT.value, study)
    workdir = _WORKDIR.value
    roots = runner.resolve_data_roots(study, workdir, given)
    if _PRINT.value:
        for line in runner.print_commands(study, workdir, roots, python=sys.executable):
            print(line)
        return
    if not _AGGREGATE_ONLY.value:
        opts = runner.RunnerOptions(jobs=_JOBS.value, threads_per_job=_THREADS.value)
        runner.record_study(study, workdir, roots, sys.argv)
        runner.generate_data(study, workdir, given, opts)
        runner.run_grid(study, workdir, roots, opts)
        runner.run_analyses(study, workdir, opts)
    md, _ = report.build_report(study, workdir, roots)
    print(report.console_summary(study, workdir, md))


if __name__ == "__main__":
    errors.run(main)
