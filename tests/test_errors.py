"""The shared error mechanism: one `error:` line and exit status 2 (usage) or 1 (the rest)."""

import errno

import pytest
from absl import app, flags

import errors
from pipelines import datasets, flag_values
from pipelines.errors import DataError
from slim_weights import checkpoint, fetch, loading, registry
from tests import binaries
from transfusion_tf import (
    callbacks,
    checkpointing,
    experiment,
    initialization,
    provenance,
    studies,
    surgery,
)

# Every binary, once: `python -m <module>`.


def _exit_of(main, capsys):
    with pytest.raises(SystemExit) as info:
        errors.wrap(main)(["prog"])
    return info.value.code, capsys.readouterr().err


def _raiser(error):
    def main(argv):
        raise error

    return main


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (errors.ExpectedError("bad thing in x.csv"), 1, "error: bad thing in x.csv\n"),
        (errors.UsageError("train.eval_every=0 must be >= 1"), 2, "error: train.eval_every=0"),
        (app.UsageError("unexpected arguments: ['x']"), 2, "error: unexpected arguments"),
        (
            PermissionError(errno.EACCES, "Permission denied", "/ro/run/config.json"),
            1,
            "error: /ro/run/config.json: Permission denied\n",
        ),
        (
            OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"),
            1,
            "error: /a -> /b: Invalid cross-device link\n",
        ),
    ],
    ids=["expected", "usage", "absl_usage", "path", "two_paths"],
)
def test_an_expected_failure_is_one_line_and_its_exit_status(capsys, error, code, line):
    status, err = _exit_of(_raiser(error), capsys)
    assert status == code and err.startswith(line) and err.count("\n") == 1


@pytest.mark.parametrize(
    "error", [KeyError("x"), ValueError("a bug"), OSError("no filename")], ids=repr
)
def test_an_unexpected_failure_keeps_its_traceback(capsys, error):
    with pytest.raises(type(error)):
        errors.wrap(_raiser(error))(["prog"])
    assert capsys.readouterr().err == ""
    assert errors.exit_code(error) is None


def test_a_long_list_continues_on_indented_lines(capsys):
    error = errors.ExpectedError("checkpoint and model do not match.\n1 unused: ['a']")
    assert _exit_of(_raiser(error), capsys) == (
        1,
        "error: checkpoint and model do not match.\n  1 unused: ['a']\n",
    )


def test_a_successful_main_returns_its_value():
    assert errors.wrap(lambda argv: len(argv))(["prog", "x"]) == 2


def test_a_binary_takes_flags_only(capsys):
    main = errors.flags_only(lambda argv: len(argv))
    assert errors.wrap(main)(["prog"]) == 1
    with pytest.raises(SystemExit) as info:
        errors.wrap(main)(["prog", "extra"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "error: unexpected arguments: ['extra']\n"
    # `errors.run` applies it to every binary's main.
    result = binaries.run_main("analysis.plot_cca", "--analysis_dir=.", "extra")
    assert (result.returncode, result.stderr) == (2, "error: unexpected arguments: ['extra']\n")


def test_a_bad_flag_is_one_line_and_exit_status_2(capsys):
    values = flags.FlagValues()
    flags.DEFINE_integer("steps", 1, "Steps.", flag_values=values)
    flags.DEFINE_string("workdir", None, "Run directory.", flag_values=values, required=True)
    assert errors.parse_flags(["prog", "--workdir=w", "--steps=3", "rest"], values) == [
        "prog",
        "rest",
    ]
    for argv, words in [
        (["prog", "--workdir=w", "--steps=abc"], "error: flag --steps=abc: invalid literal"),
        (["prog", "--steps=2"], "error: flag --workdir=None: Flag --workdir must have a value"),
        (["prog", "--workdir=w", "--nope=1"], "error: Unknown command line flag 'nope'"),
    ]:
        values.unparse_flags()
        with pytest.raises(SystemExit) as info:
            errors.parse_flags(argv, values)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.startswith(words) and err.count("\n") == 1, err
        assert err.endswith("(--helpfull lists the flags)\n")


# Every library error class of the project, by layer, with the exit status it gets.
ERROR_CLASSES = [
    (DataError, 1),
    (checkpoint.CheckpointReadError, 1),
    (checkpoint.InventoryError, 1),
    (loading.CheckpointMismatchError, 1),
    (registry.RegistryError, 1),
    (fetch.DownloadError, 1),
    (fetch.UnsafeArchiveError, 1),
    (fetch.MissingMember, 1),
    (surgery.SurgeryError, 1),
    (studies.StudyError, 1),
    (studies.UnknownStudy, 2),
    (callbacks.NonFiniteLossError, 1),
    (provenance.WorkdirLocked, 1),
    (provenance.WorkdirNotWritable, 1),
    (provenance.DamagedFile, 1),
    (checkpointing.CheckpointNotFound, 1),
    (checkpointing.NoIntactCheckpoint, 1),
    (experiment.NotARun, 1),
    (experiment.NonFiniteLogits, 1),
    (initialization.InitCheckpointError, 1),
    (initialization.InitError, 2),
]


@pytest.mark.parametrize(("cls", "code"), ERROR_CLASSES, ids=lambda c: getattr(c, "__name__", c))
def test_library_errors_are_expected_with_their_status(cls, code):
    error = cls("message")
    assert errors.exit_code(error) == code and errors.message(error) == "message"


def test_bad_parameters_in_the_lower_layers_are_usage_errors():
    with pytest.raises(errors.UsageError, match="unknown dataset 'nope'; valid: aptos"):
        datasets.split_names("nope", "/x", split_fractions={})
    with pytest.raises(errors.UsageError, match="expected key=value, got 'views'"):
        flag_values.parse_key_values(["views"])
    with pytest.raises(errors.UsageError, match="must be numbers"):
        flag_values.parse_fractions("train=a")


def _raise_inside_documented(error, **kinds):
    with errors.documented(**kinds):
        raise error


def test_documented_exceptions_of_a_call_become_expected():
    both = {"usage": (ValueError,), "failure": (FileNotFoundError,)}
    with pytest.raises(errors.UsageError, match="^unknown x axis 'z'$") as info:
        _raise_inside_documented(ValueError("unknown x axis 'z'"), **both)
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(errors.ExpectedError, match="^no fig5_.npz in /a$") as info:
        _raise_inside_documented(FileNotFoundError("no fig5_.npz in /a"), **both)
    assert errors.exit_code(info.value) == 1
    with pytest.raises(DataError):  # Already expected: kept as it is.
        _raise_inside_documented(DataError("x.csv line 2: bad"), **both)
    with pytest.raises(KeyError):
        _raise_inside_documented(KeyError("a bug"), **both)


class _FailingParser(flags.ArgumentParser):
    def parse(self, argument):
        raise ValueError(
            "Error whilst parsing config file: Traceback (most recent call last):\n"
            '  File "c.py", line 3, in get_config\n'
            "ValueError: unknown variant 'nope'"
        )


def test_a_traceback_inside_a_flag_error_is_cut_to_its_last_line(capsys):
    values = flags.FlagValues()
    flags.DEFINE(_FailingParser(), "config", None, "Config.", flag_values=values)
    with pytest.raises(SystemExit):
        errors.parse_flags(["prog", "--config=c.py:nope"], values)
    assert capsys.readouterr().err == (
        "error: flag --config=c.py:nope: Error whilst parsing config file: ValueError: unknown "
        "variant 'nope' (--helpfull lists the flags)\n"
    )


class _UnloadableFileParser(flags.ArgumentParser):
    def parse(self, argument):
        raise OSError("Configuration is not available because of an earlier failure to load")


def test_a_file_a_flag_names_that_cannot_load_is_a_usage_error(capsys):
    values = flags.FlagValues()
    flags.DEFINE(_UnloadableFileParser(), "config", None, "Config.", flag_values=values)
    with pytest.raises(SystemExit) as info:
        errors.parse_flags(["prog", "--config=nope.py"], values)
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith(
        "error: Configuration is not available because of an earlier failure to load"
    )


@pytest.mark.slow
def test_an_override_of_a_field_the_config_lacks_is_a_usage_error(tmp_path):
    # ml_collections resolves --config.<field> flags only on the global FLAGS: a fresh
    # interpreter (no TensorFlow import, under a second).
    (tmp_path / "c.py").write_text(
        "import ml_collections\n"
        "def get_config():\n"
        "    return ml_collections.ConfigDict({'data': {'options': {}}})\n"
    )
    script = (
        "import sys, errors\n"
        "from ml_collections import config_flags\n"
        "config_flags.DEFINE_config_file('config')\n"
        "errors.parse_flags(sys.argv)\n"
    )
    argv = [f"--config={tmp_path / 'c.py'}", "--config.data.options.labels=x"]
    done = binaries.run("-c", script, *argv, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        "error: a --config override names a field the config does not have"
    )
    assert "'labels'" in done.stderr and "--config.data.options.labels" in done.stderr
