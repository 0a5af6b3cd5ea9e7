"""Label tables: exact line numbers and malformed rows, for every reader."""

import os
import re

import pandas as pd
import pytest

from pipelines.errors import DataError
from pipelines.readers import tables


def _write(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "labels.csv"
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_cells_are_strings_and_lines_count_blank_lines_and_quoted_newlines(tmp_path):
    path = _write(tmp_path, 'a,b\n1,\n\n"x\ny",3\n 4,5\n')
    table = tables.read_table(path, required=["a"])
    assert list(table["a"]) == ["1", "x\ny", "4"]  # Leading spaces after a comma dropped.
    assert list(table["b"]) == ["", "3", "5"]
    assert list(table["line"]) == [2, 5, 6]  # Line 3 is blank; the quoted cell ends on 5.


def test_byte_order_mark_is_ignored(tmp_path):
    path = _write(tmp_path, "\ufeffimage,level\n1_left,0\n")
    assert list(tables.read_table(path, required=["image"]).columns) == ["image", "level", "line"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n1,2,3\n", r"line 3: 3 cells, expected 2 \(columns \['a', 'b'\]\)"),
        ("a,b\n1,2\n\n1\n", r"line 4: 1 cells, expected 2"),
        ('a,b\n1,"2\n', r"line 2: cannot parse CSV: a quote opened on this line is never closed"),
        ("", r"empty label file \(no header line\)"),
        ("a,a\n1,2\n", r"duplicated column\(s\) \['a'\]"),
        ("a,c\n1,2\n", r"missing required column\(s\) \['b'\]; found columns \['a', 'c'\]"),
    ],
)
def test_malformed_tables_name_the_file_and_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=rf"{path}:? {message}"):
        tables.read_table(path, required=["a", "b"])


def test_not_utf8(tmp_path):
    path = _write(tmp_path, "a,b\n\xe9,1\n", encoding="latin-1")
    with pytest.raises(DataError, match=rf"{path}: cannot parse CSV: not UTF-8"):
        tables.read_table(path, required=["a"])


def test_resolve_under_root_refuses_escapes(tmp_path):
    root = str(tmp_path)
    assert tables.resolve_under_root(root, "a/../b.jpg", "f.csv", 2) == str(tmp_path / "b.jpg")
    with pytest.raises(DataError, match=r"f.csv line 7: image path '../b.jpg' escapes the root"):
        tables.resolve_under_root(root, "../b.jpg", "f.csv", 7)
    with pytest.raises(DataError, match=r"f.csv line 8: image path '/b.jpg' must be relative"):
        tables.resolve_under_root(root, "/b.jpg", "f.csv", 8)


def test_resolve_under_root_checks_the_text_and_follows_symlinks_inside_the_root(tmp_path):
    elsewhere = tmp_path / "disk2" / "IMAGES"
    elsewhere.mkdir(parents=True)
    (elsewhere / "a.png").write_bytes(b"png")
    root = tmp_path / "root"
    root.mkdir()
    (root / "IMAGES").symlink_to(elsewhere, target_is_directory=True)
    path = tables.resolve_under_root(str(root), "IMAGES/a.png", "f.csv", 2)
    assert path == str(root / "IMAGES" / "a.png") and open(path, "rb").read() == b"png"
    # `..` is resolved in the text, not through the link: this names root/../disk2, outside.
    with pytest.raises(DataError, match=r"f.csv line 3: image path 'IMAGES/../../disk2/x' esc"):
        tables.resolve_under_root(str(root), "IMAGES/../../disk2/x", "f.csv", 3)


def test_an_unclosed_quote_is_named_at_the_line_it_opened(tmp_path):
    # Issue 14: the reader runs to the end of the file looking for the closing quote, and
    # used to report the file's last line.
    path = _write(tmp_path, 'image,level\n1_left,0\n"2_left,1\n3_left,2\n4_left,3\n')
    message = (
        f"{path} line 3: cannot parse CSV: a quote opened on this line is never closed (the "
        "file ends inside the quoted cell, at line 5)"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        tables.read_table(path, required=["image"])


def test_the_unclosed_quote_is_told_apart_from_closed_and_doubled_ones(tmp_path):
    # Line 2 holds a closed quoted cell spanning lines 2-3 with a doubled quote inside;
    # line 4 a quote inside an unquoted cell (a literal); line 5 opens one never closed.
    text = 'a,b\n"x ""y""\nz",1\n4 "in",2\n5, "open\n6,3\n'
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=rf"{re.escape(path)} line 5: .* never closed .* line 6"):
        tables.read_table(path, required=["a"])


def _rows(tmp_path, names):
    for name in set(names):
        if "missing" not in name and not (tmp_path / name).exists():
            (tmp_path / name).write_bytes(b"image")
    paths = [tables.resolve_under_root(str(tmp_path), n, "f.csv", 2) for n in names]
    return pd.DataFrame({"id": names, "path": paths, "line": range(2, 2 + len(names))})


def test_one_row_per_file_by_canonical_path_and_by_file(tmp_path):
    tables.check_one_row_per_file(_rows(tmp_path, ["a", "b", "missing1"]), "id", "f.csv")
    rows = _rows(tmp_path, ["a", "b", "./a"])
    message = (
        f"f.csv line 4: duplicate id './a' (first seen on line 2 as 'a'): both rows name the "
        f"image file {tmp_path / 'a'}"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        tables.check_one_row_per_file(rows, "id", "f.csv")
    # Missing files are compared by path only (the scan reports them).
    rows = _rows(tmp_path, ["missing1", "c", "x/../missing1"])
    with pytest.raises(DataError, match=r"line 4: duplicate id 'x/../missing1' \(first seen on"):
        tables.check_one_row_per_file(rows, "id", "f.csv")
    os.symlink("a", tmp_path / "link")
    message = (
        f"f.csv line 3: duplicate id 'link' (first seen on line 2 as 'a'): both rows name one "
        f"image file ({tmp_path / 'a'} and {tmp_path / 'link'} are links to it)"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        tables.check_one_row_per_file(_rows(tmp_path, ["a", "link"]), "id", "f.csv")


def test_relative_names_are_canonical_ids(tmp_path):
    folder = tables.image_folder(str(tmp_path), "./train/")
    assert folder == str(tmp_path / "train")
    for spelled in ("20_left", "./20_left", "../train/20_left", "x//../20_left"):
        path = tables.resolve_under_root(str(tmp_path), f"train/{spelled}.jpeg", "f.csv", 2)
        assert tables.relative_name(path, folder, ".jpeg") == "20_left"
    path = tables.resolve_under_root(str(tmp_path), "train/sub/a.b.png", "f.csv", 2)
    assert tables.relative_name(path, folder, ".png") == "sub/a.b"
    assert tables.relative_name(path, folder, ".jpeg") == "sub/a.b.png"
