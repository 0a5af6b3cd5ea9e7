"""Listing unlabelled images: a folder scanned in a fixed order, a CSV's rows kept in theirs."""

import os

import pytest

from pipelines.errors import DataError
from pipelines.readers import unlabelled


def _touch(root, *names):
    for name in names:
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"x")


def test_a_folder_is_scanned_recursively_sorted_by_path_and_hidden_names_skipped(tmp_path):
    _touch(
        tmp_path,
        "b.png", "a.JPG", "sub/z.jpeg", "sub/deeper/c.jpg", "A0.jpeg",
        "notes.txt", "scan.tif", ".hidden.jpg", ".cache/d.jpg", "sub/._z.jpeg",
    )  # fmt: skip
    images = unlabelled.list_images(str(tmp_path))
    names = ["A0.jpeg", "a.JPG", "b.png", "sub/deeper/c.jpg", "sub/z.jpeg"]
    assert [i.name for i in images] == names
    assert [i.path for i in images] == [os.path.join(tmp_path, *n.split("/")) for n in names]
    assert all(i.problem is None for i in images)


def test_a_csv_keeps_row_order_and_its_cells_and_refuses_paths_outside_its_directory(tmp_path):
    folder = tmp_path / "list"
    _touch(folder, "img/a.png")
    _touch(tmp_path, "outside.png")
    (folder / "images.csv").write_text(
        "image,note\nimg/a.png,x\n./img//b.jpg,y\n../outside.png,z\n"
        f"{tmp_path / 'outside.png'},w\n,v\nimg/../img/a.png,u\n"
    )
    images = unlabelled.list_images(str(folder / "images.csv"))
    assert [i.name for i in images] == [
        "img/a.png",
        "./img//b.jpg",
        "../outside.png",
        str(tmp_path / "outside.png"),
        "",
        "img/../img/a.png",
    ]
    a = str(folder / "img" / "a.png")
    assert [i.path for i in images] == [a, str(folder / "img" / "b.jpg"), "", "", "", a]
    csv = folder / "images.csv"
    assert [i.problem for i in images] == [
        None,
        None,
        f"image path '../outside.png' escapes the root {folder} ({csv} line 4)",
        f"image path '{tmp_path / 'outside.png'}' must be relative ({csv} line 5)",
        f"image path '' must be relative ({csv} line 6)",
        None,
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path\na.png\n", "missing required column"),
        ("image\n", "no rows"),
    ],
    ids=["no_image_column", "no_rows"],
)
def test_a_csv_without_images_is_a_data_error_naming_it(tmp_path, content, message):
    (tmp_path / "x.csv").write_text(content)
    with pytest.raises(DataError, match=message) as info:
        unlabelled.list_images(str(tmp_path / "x.csv"))
    assert str(tmp_path / "x.csv") in str(info.value)


def test_a_missing_source_or_a_folder_without_images_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="nope: no such folder or CSV file of images"):
        unlabelled.list_images(str(tmp_path / "nope"))
    _touch(tmp_path, "a.txt", ".b.png")
    with pytest.raises(DataError, match=r"no image files \(.jpg, .jpeg, .png; names starting"):
        unlabelled.list_images(str(tmp_path))
