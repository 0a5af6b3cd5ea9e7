"""Unlabelled images to predict: every JPEG/PNG under a folder, or the rows of a CSV.

A folder is scanned recursively for files ending in .jpg, .jpeg or .png (any case); names
starting with '.' (hidden files and folders: editor backups, `.ipynb_checkpoints`, macOS
`._*` forks) are skipped; images are ordered by their '/'-separated path below the folder,
so the same folder always gives the same order; links to folders are not followed (links
to files are). A CSV names one image per row in its
`image` column (other columns are ignored), relative to the CSV's own directory; rows keep
the file's order.

Every image keeps the name it was given (its path below the folder, or the CSV cell as
written), which is what a predictions table shows. A CSV cell that cannot name an image
under the CSV's directory (empty, absolute, or escaping it with `..`) is not read: the
image carries the reason instead of a path (`tables.path_problem`; as there, the check is
on the path text, so a symbolic link inside the directory is followed when read).
"""

from __future__ import annotations

import dataclasses
import os

from pipelines.errors import DataError
from pipelines.readers import tables

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
IMAGE = "image"


@dataclasses.dataclass(frozen=True)
class UnlabelledImage:
    """One image to predict.

    Attributes:
      name: the image as given: its '/'-separated path below the folder, or the CSV cell.
      path: the absolute, normalised file path; '' when `problem` says why there is none.
      problem: why the image cannot be read before trying (a CSV path escaping its
        directory, absolute or empty); None otherwise.
    """

    name: str
    path: str
    problem: str | None = None


def list_images(source: str) -> list[UnlabelledImage]:
    """The images a folder holds or a CSV file names (see the module docstring).

    Args:
      source: a folder, or a CSV file with an `image` column.

    Returns:
      The images in order: a folder's sorted by path, a CSV's in row order.

    Raises:
      DataError: `source` does not exist, a folder holds no JPEG/PNG file, or the CSV is
        malformed, lacks an `image` column or has no rows (naming the file and line).
    """
    if os.path.isdir(source):
        return folder_images(source)
    if os.path.isfile(source):
        return csv_images(source)
    raise DataError(f"{source}: no such folder or CSV file of images")


def folder_images(folder: str) -> list[UnlabelledImage]:
    """Every JPEG/PNG file below `folder`, sorted by its '/'-separated relative path.

    Raises:
      DataError: no such file below `folder`.
    """
    root = os.path.abspath(folder)
    names = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for file in files:
            if not file.startswith(".") and file.lower().endswith(IMAGE_EXTENSIONS):
                path = os.path.join(directory, file)
                names.append(os.path.relpath(path, root).replace(os.sep, "/"))
    if not names:
        raise DataError(
            f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}; names starting with "
            "'.' are skipped) in it or its subfolders"
        )
    return [UnlabelledImage(name, tables.canonical_path(root, name)) for name in sorted(names)]


def csv_images(path: str) -> list[UnlabelledImage]:
    """The images a CSV's `image` column names, relative to the CSV's directory.

    A cell that cannot name an image there gets a `problem` naming the file and line.

    Raises:
      DataError: a malformed CSV, no `image` column, or no rows.
    """
    table = tables.read_table(path, required=(IMAGE,))
    if table.empty:
        raise DataError(f"{path}: no rows (one image path per row in column {IMAGE!r})")
    directory = os.path.dirname(os.path.abspath(path))
    images = []
    for cell, line in zip(table[IMAGE], table["line"], strict=True):
        problem = tables.path_problem(directory, cell)
        if problem is None:
            images.append(UnlabelledImage(cell, tables.canonical_path(directory, cell)))
        else:
            images.append(UnlabelledImage(cell, "", f"{problem} ({path} line {line})"))
    return images
