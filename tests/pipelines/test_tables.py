"""Label tables: exact line numbers and malformed rows, for every reader."""

import pytest

from pipelines import tables
from pipelines.tables import DataError


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
        ('a,b\n1,"2\n', r"line 2: cannot parse CSV: unexpected end of data"),
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
