"""Reading label tables as distributed, with errors that name the file and line.

Line numbers count the header as line 1, so the first data row is line 2: the number a
text editor shows (blank lines count too).

Image identity. A label row names an image by a path or an id that several spellings can
reach (`20_left`, `./20_left`, `../train/20_left`; `train//p1/s1/v.jpg`). Every reader
turns it into one canonical path with `resolve_under_root` (absolute, `.`, `..` and
repeated separators removed in the text; symbolic links are not resolved, so the path
always lies under the root) and derives the row's id (`relative_name`) and patient from
that path, before duplicate checks, patient grouping and splitting.
`check_one_row_per_file` then refuses two rows that name one file: by canonical path, and
for files that exist also by (device, inode), which catches symbolic and hard links to one
file and case variants on case-insensitive file systems.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from pipelines.errors import DataError


def read_table(path: str | os.PathLike, required: Sequence[str]) -> pd.DataFrame:
    """Reads a CSV as strings and checks its header and the shape of every row.

    Line numbers are exact: blank lines are skipped but counted, a quoted cell that spans
    lines reports the line it ends on, and a quote never closed is reported at the line
    where it opened.

    Args:
      path: the CSV file (UTF-8, with or without a byte-order mark).
      required: column names that must be present (others are kept).

    Returns:
      A DataFrame of str cells (blank cells are ''), with an int column `line` holding
      each row's line number in the file.

    Raises:
      DataError: if the file is missing, unreadable, empty, not CSV (an unclosed quote
        named at the line it opened), has a duplicated or missing required column, or has
        a row with more or fewer cells than the header (naming the line).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: label file not found")
    records, lines = [], []
    start = 1  # The line the record being read starts on.
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, skipinitialspace=True, strict=True)
            header = next(reader, None)
            start = reader.line_num + 1
            if header is None:
                raise DataError(f"{path}: empty label file (no header line)")
            header = [c.strip() for c in header]
            for record in reader:
                line, start = reader.line_num, reader.line_num + 1
                if not record:
                    continue  # A blank line.
                if len(record) != len(header):
                    raise DataError(
                        f"{path} line {reader.line_num}: {len(record)} cells, expected "
                        f"{len(header)} (columns {header})"
                    )
                records.append(record)
                lines.append(line)
    except csv.Error as e:
        raise csv_error(path, e, start=start, end=reader.line_num) from e
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


def csv_error(
    path: str, error: csv.Error, *, start: int, end: int, delimiter: str = ","
) -> DataError:
    """A CSV parse error naming its line: where an unclosed quote opened, else `end`.

    Args:
      path: the file.
      error: what `csv.reader` raised.
      start: the line the failing record starts on.
      end: the reader's `line_num` when it raised (the file's last line when a quote is
        never closed: the reader runs to the end of the file looking for it).
      delimiter: the file's cell delimiter.
    """
    opened = _unclosed_quote_line(path, start, delimiter) if "end of data" in str(error) else None
    if opened is None:
        return DataError(f"{path} line {end}: cannot parse CSV: {error}")
    return DataError(
        f"{path} line {opened}: cannot parse CSV: a quote opened on this line is never closed "
        f"(the file ends inside the quoted cell, at line {end})"
    )


def _unclosed_quote_line(path: str, start: int, delimiter: str) -> int | None:
    """The line of the last quote that opens a cell from line `start` on and is not closed.

    Follows the `csv` dialect used here: a quote opens a cell only at its start (after
    leading spaces), a doubled quote inside a quoted cell is a literal quote.
    """
    state, opened = "start", None
    with open(path, newline="", encoding="utf-8-sig") as f:
        for number, text in enumerate(f, 1):
            if number < start:
                continue
            for char in text:
                if state == "quoted":
                    state = "closing" if char == '"' else "quoted"
                elif state == "closing" and char == '"':
                    state = "quoted"  # A doubled quote: a literal one.
                elif char in (delimiter, "\n", "\r"):
                    state = "start"
                elif state == "start" and char == '"':
                    state, opened = "quoted", number
                elif not (state == "start" and char == " "):
                    state = "field"
    return opened if state == "quoted" else None


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
        number = parse_int(cell)
        if number not in valid:
            raise DataError(f"{path} line {line}: {column}={cell!r} is not one of {sorted(valid)}")
        values.append(number)
    return pd.Series(values, index=table.index, dtype="int64")


def parse_int(cell: str) -> int | None:
    """'2' and '2.0' (some exports write floats) -> 2; '', '2.5', 'x', 'inf' -> None."""
    try:
        number = float(cell)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def check_one_row_per_file(table: pd.DataFrame, column: str, path: str) -> None:
    """Refuses two rows that name one image file, whatever their spelling.

    Rows are compared by their canonical `path` (from `resolve_under_root`), and, where
    the file exists, by (device, inode): links to one file and, on case-insensitive file
    systems, case variants of its name count as that file.

    Args:
      table: rows with `path` (canonical, absolute), `line`, and `column`.
      column: the label-file column that named the image, for the message.
      path: the label file, for the message.

    Raises:
      DataError: `<file> line <n>: duplicate <column> '<cell>' (first seen on line <m>
        [as '<other cell>']): both rows name the image file <canonical path>`.
    """
    seen: dict = {}
    for cell, image, line in zip(table[column], table["path"], table["line"], strict=True):
        keys = [image]
        identity = _file_identity(image)
        if identity is not None:
            keys.append(identity)
        for key in keys:
            if key in seen:
                first_line, first_cell, first_image = seen[key]
                spelled = "" if first_cell == cell else f" as {first_cell!r}"
                what = (
                    f"the image file {image}"
                    if first_image == image
                    else f"one image file ({first_image} and {image} are links to it)"
                )
                raise DataError(
                    f"{path} line {line}: duplicate {column} {cell!r} (first seen on line "
                    f"{first_line}{spelled}): both rows name {what}"
                )
        for key in keys:
            seen[key] = (line, cell, image)


def _file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of an existing file; None where unknown (missing, or no inodes)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino) if stat.st_ino else None


def relative_name(path: str, directory: str, suffix: str = "") -> str:
    """A canonical id: `path` below `directory`, '/'-separated, without `suffix`.

    Args:
      path: a canonical path (from `resolve_under_root`).
      directory: the absolute, normalised directory ids are relative to (an image folder,
        or the root).
      suffix: removed from the end if present (the extension a reader appended to an id).

    Returns:
      E.g. '20_left' for `<root>/train/20_left.jpeg` below `<root>/train` with '.jpeg'.
    """
    name = os.path.relpath(path, directory).replace(os.sep, "/")
    return name[: len(name) - len(suffix)] if suffix and name.endswith(suffix) else name


def image_folder(root: str, image_dir: str) -> str:
    """The absolute, normalised image folder that `relative_name` ids are relative to."""
    return os.path.normpath(os.path.join(os.path.abspath(root), image_dir))


def resolve_under_root(root: str, relative: str, path: str, line: int) -> str:
    """Joins a path from a label file to the dataset root, refusing escapes.

    Args:
      root: the dataset root directory.
      relative: the path as written in (or built from) the label file.
      path: the label file, for the message.
      line: the line in the label file, for the message.

    Returns:
      The canonical path: absolute and normalised, so every spelling of one path under
      `root` gives the same text; as text it lies under `root`.

    Raises:
      DataError: for absolute paths and paths that leave `root` once `..` components are
        resolved. The check is on the path text (`os.path.normpath`), not the file
        system: a symlink inside the root (an image folder linked to another disk) is
        followed when the file is opened, by design.
    """
    problem = path_problem(root, relative)
    if problem is not None:
        raise DataError(f"{path} line {line}: {problem}")
    return canonical_path(root, relative)


def path_problem(root: str, relative: str) -> str | None:
    """Why `relative` cannot name an image under `root` (see `resolve_under_root`), or None.

    Returns:
      "image path '' must be relative" (empty or absolute), "image path '../x.png' escapes
      the root <root>", or None.
    """
    if not relative or os.path.isabs(relative) or relative.startswith(("/", "\\")):
        return f"image path {relative!r} must be relative"
    root_abs = os.path.abspath(root)
    if os.path.commonpath([root_abs, canonical_path(root, relative)]) != root_abs:
        return f"image path {relative!r} escapes the root {root}"
    return None


def canonical_path(root: str, relative: str) -> str:
    """`relative` joined to `root`, absolute and normalised (`.`, `..`, `//` resolved in the
    text); unchecked: `path_problem` says whether it stays under the root."""
    return os.path.normpath(os.path.join(os.path.abspath(root), relative))
