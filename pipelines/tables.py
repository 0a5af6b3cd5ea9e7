"""Reading label tables as distributed, with errors that name the file and line.

Line numbers count the header as line 1, so the first data row is line 2: the number a
text editor shows (blank lines count too).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from errors import ExpectedError


class DataError(ExpectedError, ValueError):
    """A problem with a dataset on disk: the message names the file and line."""


def read_table(path: str | os.PathLike, required: Sequence[str]) -> pd.DataFrame:
    """Reads a CSV as strings and checks its header and the shape of every row.

    Line numbers are exact: blank lines are skipped but counted, and a quoted cell that
    spans lines reports the line it ends on.

    Args:
      path: the CSV file (UTF-8, with or without a byte-order mark).
      required: column names that must be present (others are kept).

    Returns:
      A DataFrame of str cells (blank cells are ''), with an int column `line` holding
      each row's line number in the file.

    Raises:
      DataError: if the file is missing, unreadable, empty, not CSV, has a duplicated or
        missing required column, or has a row with more or fewer cells than the header
        (naming the line).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: label file not found")
    records, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, skipinitialspace=True, strict=True)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty label file (no header line)")
            header = [c.strip() for c in header]
            for record in reader:
                if not record:
                    continue  # A blank line.
                if len(record) != len(header):
                    raise DataError(
                        f"{path} line {reader.line_num}: {len(record)} cells, expected "
                        f"{len(header)} (columns {header})"
                    )
                records.append(record)
                lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(f"{path} line {reader.line_num}: cannot parse CSV: {e}") from e
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: cannot parse CSV: not UTF-8 text ({e})") from e
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise DataError(f"{path}: duplicated column(s) {duplicated} in the header")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}: missing required column(s) {missing}; found columns {header}")
    table = pd.DataFrame(records, columns=header, dtype=str)
    table["line"] = np.asarray(lines, dtype=np.int64)
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
      The absolute, normalised path; as text it lies under `root`.

    Raises:
      DataError: for absolute paths and paths that leave `root` once `..` components are
        resolved. The check is on the path text (`os.path.normpath`), not the file
        system: a symlink inside the root (an image folder linked to another disk) is
        followed when the file is opened, by design.
    """
    if not relative or os.path.isabs(relative) or relative.startswith(("/", "\\")):
        raise DataError(f"{path} line {line}: image path {relative!r} must be relative")
    root_abs = os.path.abspath(root)
    joined = os.path.normpath(os.path.join(root_abs, relative))
    if os.path.commonpath([root_abs, joined]) != root_abs:
        raise DataError(f"{path} line {line}: image path {relative!r} escapes the root {root}")
    return joined
