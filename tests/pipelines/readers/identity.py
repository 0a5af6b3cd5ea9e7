"""The message every reader gives for two rows naming one image file, as a `match` pattern."""

from __future__ import annotations

import re


def duplicate(
    label_file: str, line: int, column: str, cell: str, first_line: int, first_cell: str, what: str
) -> str:
    """`pytest.raises(match=...)` for `tables.check_one_row_per_file`'s DataError.

    Args:
      what: 'the image file <path>', or 'one image file (<a> and <b> are links to it)'.
    """
    return re.escape(
        f"{label_file} line {line}: duplicate {column} {cell!r} (first seen on line "
        f"{first_line} as {first_cell!r}): both rows name {what}"
    )
