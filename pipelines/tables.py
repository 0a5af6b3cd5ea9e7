"""Reading label tables as distributed, with errors that name the file and line.

Line numbers count the header as line 1, so the first data row is line 2: the number a
text editor shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import pandas as pd


class DataError(ValueError):
    """A problem with a dataset on disk: the message names the file and line."""


def read_table(path: str | os.PathLike, required: Sequence[str]) -> pd.DataFrame:
    """Reads a CSV as strings and checks its header.

    Args:
      path: the CSV file.
      required: column names that must be present (others are kept).

    Returns:
      A DataFrame of str cells (blank cells are ''), with an int column `line` holding
      each row's line number in the file.

    Raises:
      DataError: if the file is missing, unreadable, empty, or lacks a required column.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: label file not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot parse CSV: {e}") from e
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(
            f"{path}: missing required column(s) {missing}; found columns {list(table.columns)}"
        )
    table["line"] = range(2, len(table) + 2)
    return table


def parse_int_labels(
    table: pd.DataFrame, column: str, valid: Iterable[int], path: str
) -> pd.Series:
    """Parses an integer label column, rejecting anything outside `valid`.

    Accepts "2" and "2.0" (some exports write floats); rejects "", "2.5", "x", "7".

    Raises:
      DataError: naming the file, line and value of the first bad cell.
    """
    valid = set(valid)
    values = []
    for cell, line in zip(table[column], table["line"], strict=True):
        try:
            number = float(cell)
        except ValueError:
            number = float("nan")
        if not number.is_integer() or int(number) not in valid:
            raise DataError(f"{path} line {line}: {column}={cell!r} is not one of {sorted(valid)}")
        values.append(int(number))
    return pd.Series(values, index=table.index, dtype="int64")


def check_unique(table: pd.DataFrame, column: str, path: str) -> None:
    """Raises DataError naming both lines of the first duplicated value in `column`."""
    first_line: dict[str, int] = {}
    for value, line in zip(table[column], table["line"], strict=True):
        if value in first_line:
            raise DataError(
                f"{path} line {line}: duplicate {column} {value!r} (first seen on line "
                f"{first_line[value]})"
            )
        first_line[value] = line


def resolve_under_root(root: str, relative: str, path: str, line: int) -> str:
    """Joins a path from a label file to the dataset root, refusing escapes.

    Args:
      root: the dataset root directory.
      relative: the path as written in (or built from) the label file.
      path: the label file, for the message.
      line: the line in the label file, for the message.

    Returns:
      The absolute, normalised path, guaranteed to lie under `root`.

    Raises:
      DataError: for absolute paths and paths that leave `root` (`..`, symlink tricks
        in the string itself are resolved lexically).
    """
    if not relative or os.path.isabs(relative) or relative.startswith(("/", "\\")):
        raise DataError(f"{path} line {line}: image path {relative!r} must be relative")
    root_abs = os.path.abspath(root)
    joined = os.path.normpath(os.path.join(root_abs, relative))
    if os.path.commonpath([root_abs, joined]) != root_abs:
        raise DataError(f"{path} line {line}: image path {relative!r} escapes the root {root}")
    return joined
