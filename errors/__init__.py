"""Expected failures: the exceptions every layer raises for them, and the binaries' wrapper.

A failure is *expected* when the program foresaw it and its message says what is wrong
and where. Two kinds, told apart by exit status:

  2  usage: a flag or config value that cannot work (unknown name or split, a zero
     interval, a malformed flag); the command line must change. `UsageError`, absl's flag
     errors and `absl.app.UsageError`.
  1  everything else foreseen: bad data, a missing, unreadable or unwritable path, a
     damaged file or checkpoint, a non-finite loss, a busy workdir. `ExpectedError` and
     its subclasses, and an `OSError` that names its file.

Every binary runs its `main` through `run`, which refuses positional arguments (binaries
take flags only) and prints an expected failure as ONE line, `error: <message>`, on stderr
(the few messages that list many items continue on indented lines) and exits with its
status; any other exception is a bug and keeps its traceback.

This package sits below every other layer: `pipelines`, `slim_weights`, `transfusion_tf`
and `analysis` import it, and it imports none of them (only absl, lazily), so a library
raises the error without depending on the binary that reports it. A library's own error
class subclasses `ExpectedError` (or `UsageError`) and the builtin it always was
(`ValueError`, `RuntimeError`, ...), so existing `except ValueError` callers still work.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable

USAGE = 2
FAILURE = 1


class ExpectedError(Exception):
    """A foreseen failure whose message names the file, row, variable or value (exit 1)."""

    exit_code = FAILURE


class UsageError(ExpectedError, ValueError):
    """A flag or config value that cannot work; the command must change (exit 2)."""

    exit_code = USAGE


@contextlib.contextmanager
def documented(
    *, usage: tuple[type[Exception], ...] = (), failure: tuple[type[Exception], ...] = ()
):
    """Treats exceptions a called function documents for bad input as expected.

    For a binary over a library function whose docstring promises, e.g., `ValueError` for a
    bad argument: inside the block, a `usage` type becomes `UsageError` (exit 2) and a
    `failure` type `ExpectedError` (exit 1), message unchanged. Keep the block to that call.
    """
    try:
        yield
    except ExpectedError:
        raise
    except usage as error:
        raise UsageError(str(error)) from error
    except failure as error:
        raise ExpectedError(message(error)) from error


def exit_code(error: BaseException) -> int | None:
    """The exit status of an expected failure; None for an unexpected one (a bug)."""
    from absl import app, flags

    if isinstance(error, ExpectedError):
        return error.exit_code
    if isinstance(error, app.UsageError | flags.Error):
        return USAGE
    if isinstance(error, OSError) and error.filename is not None:
        return FAILURE
    return None


def message(error: BaseException) -> str:
    """The text after `error: ` for an expected failure."""
    if isinstance(error, OSError) and not isinstance(error, ExpectedError) and error.filename:
        where = error.filename
        if error.filename2 is not None:
            where = f"{where} -> {error.filename2}"
        return f"{where}: {error.strerror or error}"
    return str(error)


def error_lines(error: BaseException) -> str:
    """`error: <message>`; a message's further lines (long lists) follow, indented."""
    first, *rest = message(error).splitlines() or [""]
    return "\n".join([f"error: {first}", *(f"  {line}" for line in rest)])


def wrap(main: Callable[[list[str]], object]) -> Callable[[list[str]], object]:
    """`main`, printing an expected failure as one `error:` line and exiting with its status."""

    @functools.wraps(main)
    def wrapped(argv: list[str]):
        try:
            return main(argv)
        except Exception as error:
            code = exit_code(error)
            if code is None:
                raise
            print(error_lines(error), file=sys.stderr, flush=True)
            sys.exit(code)

    return wrapped


def parse_flags(argv: list[str], flag_values=None) -> list[str]:
    """Parses flags like absl, but a bad flag (or a file a flag names that cannot be
    loaded) is one `error:` line and exit status 2."""
    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    try:
        return flag_values(argv)
    # OSError: ml_collections raises it for a config file that failed to load, once a
    # --config.<field> override touches it; parsing only reads files that flags name.
    except (flags.Error, OSError) as error:
        text = str(error)
        # ml_collections puts a config file's whole traceback into the message: keep its
        # last line, the exception itself.
        head, traceback, rest = text.partition("Traceback (most recent call last):")
        if traceback and rest.strip():
            text = head + rest.strip().splitlines()[-1]
        _usage_exit(" ".join(text.split()))
    # ml_collections' `--config.<a>.<b>=...` on a field the config file does not declare.
    except (AttributeError, KeyError) as error:
        overrides = [arg.split("=")[0] for arg in argv if arg.startswith("--config.")]
        _usage_exit(
            f"a --config override names a field the config does not have ({error}; "
            f"overrides given: {', '.join(overrides) or 'none'}); declare it in a config "
            "file (BUILD.md, config reference)"
        )


def _usage_exit(text: str) -> None:
    print(f"error: {text} (--helpfull lists the flags)", file=sys.stderr, flush=True)
    sys.exit(USAGE)


def flags_only(main: Callable[[list[str]], object]) -> Callable[[list[str]], object]:
    """`main`, refusing positional arguments (our binaries take flags only) as a usage error."""

    @functools.wraps(main)
    def checked(argv: list[str]):
        if len(argv) > 1:
            raise UsageError(f"unexpected arguments: {argv[1:]}")
        return main(argv)

    return checked


def run(main: Callable[[list[str]], object]) -> None:
    """`absl.app.run(main)` for a binary: flags only (`flags_only`), expected failures
    reported by `wrap` and `parse_flags`, and the `__main__` module's docstring shown by
    --help exactly as written."""
    from absl import app

    _escape_percent_signs(sys.modules.get("__main__"))
    app.run(wrap(flags_only(main)), flags_parser=parse_flags)


def _escape_percent_signs(module) -> None:
    """absl's usage text applies `%` to the main module's docstring (each `%s` becomes the
    program's path), which garbles a docstring with a literal `%` ("every 10% and" lost
    its "% a" to the path); doubled, every `%` prints as written."""
    if module is not None and module.__doc__:
        module.__doc__ = module.__doc__.replace("%", "%%")
