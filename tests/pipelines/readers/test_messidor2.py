"""The Messidor-2 reader and its synthetic writer: exams, ungradable images, bad input."""

import csv
import logging
import os

import numpy as np
import pytest
from PIL import Image

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.readers import inspection, messidor2
from pipelines.synthetic import messidor2 as synthetic_messidor2
from tests.pipelines.readers import identity

HEADER = "image_id,adjudicated_dr_grade,adjudicated_dme,adjudicated_gradable"
# Hand-typed: two original-Messidor exams, one Extension exam, one ungradable image.
#   line 2  20051020_43808_0100_PP.png  grade 0         exam A (with line 3)
#   line 3  20051020_43832_0100_PP.png  grade 2, DME 1  exam A
#   line 4  20051020_44261_0100_PP.png  ungradable      exam B (with line 5)
#   line 5  20051020_44270_0100_PP.png  grade 3         exam B
#   line 6  IM000001.jpg                grade 1         exam C (with line 7)
#   line 7  IM000002.jpg                grade 4, DME 1  exam C
ROWS = """\
20051020_43808_0100_PP.png,0,0,1
20051020_43832_0100_PP.png,2,1,1
20051020_44261_0100_PP.png,,,0
20051020_44270_0100_PP.png,3.0,0.0,1
IM000001.jpg,1,0,1
IM000002.jpg,4,1,1
"""


def _rewrite(root, body, header=HEADER):
    path = os.path.join(root, "messidor_data.csv")
    with open(path, "w") as f:
        f.write(f"{header}\n{body}")
    return path


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "messidor2"
    (root / "IMAGES").mkdir(parents=True)
    for line in ROWS.splitlines():
        name = line.split(",")[0]
        Image.fromarray(np.full((8, 12, 3), 90, np.uint8)).save(root / "IMAGES" / name)
    _rewrite(str(root), ROWS)
    return str(root)


def test_exam_pairing_rule_by_hand():
    names = [
        "20051020_43832_0100_PP.tif",  # Pairs with 43808 (same date and code).
        "IM000003.JPG",  # Sorted IM numbers 1, 3, 7, 8: pairs (1, 3) and (7, 8).
        "20051020_43808_0100_PP.png",
        "IM000008.jpg",
        "20051020_43900_0200_PP.png",  # Code 0200: alone in its group.
        "IM000001.jpg",
        "20051021_43808_0100_PP.png",  # Another date: alone.
        "IM000007.JPG",
        "retina.png",  # No rule applies.
    ]
    assert messidor2.exam_ids(names) == [
        "20051020_43808_0100_PP+20051020_43832_0100_PP",
        "IM000001+IM000003",
        "20051020_43808_0100_PP+20051020_43832_0100_PP",
        "IM000007+IM000008",
        "20051020_43900_0200_PP",
        "IM000001+IM000003",
        "20051021_43808_0100_PP",
        "IM000007+IM000008",
        "retina",
    ]


def test_reads_the_hand_typed_file(root):
    table = messidor2.read_messidor2(root)
    assert list(table["label"]) == [0, 2, -1, 3, 1, 4]
    assert list(table["dme"]) == [0, 1, -1, 0, 0, 1]
    assert list(table["gradable"]) == [True, True, False, True, True, True]
    assert list(table["line"]) == [2, 3, 4, 5, 6, 7]
    assert table["patient"].nunique() == 3
    assert table["patient"].iloc[5] == "IM000001+IM000002"
    assert set(table["exam_source"]) == {"file_names"}  # No messidor-2.csv in this root.


# Six Extension images in three exams; IM000002 has no row in the grades CSV. The name rule
# then pairs 1+3, 4+5 and leaves 6 alone: every pair after the gap is wrong.
GAP_ROWS = "".join(f"IM00000{n}.jpg,{n % 5},0,1\n" for n in (1, 3, 4, 5, 6))
GAP_PAIRS = (
    "left;right\nIM000001.JPG;IM000002.JPG\nIM000003.JPG;IM000004.JPG\nIM000005.JPG;IM000006.JPG\n"
)


def _pairs(root, text, name="messidor-2.csv"):
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(text)
    return path


def test_pairs_file_beats_the_name_rule_after_a_missing_image(root):
    _rewrite(root, GAP_ROWS)
    by_name = messidor2.read_messidor2(root)  # No pairs file yet.
    assert list(by_name["patient"]) == [
        "IM000001+IM000003", "IM000001+IM000003", "IM000004+IM000005", "IM000004+IM000005",
        "IM000006",
    ]  # fmt: skip
    _pairs(root, GAP_PAIRS)  # Names as ADCIS writes them (.JPG); the CSV says .jpg.
    table = messidor2.read_messidor2(root)
    assert list(table["patient"]) == [
        "IM000001+IM000002", "IM000003+IM000004", "IM000003+IM000004", "IM000005+IM000006",
        "IM000005+IM000006",
    ]  # fmt: skip
    assert set(table["exam_source"]) == {"pairs_file"}
    assert list(messidor2.read_messidor2(root, pairs_file="")["patient"]) == list(
        by_name["patient"]
    )
    # The loader splits by these exams.
    data = datasets.load_dataset(
        "messidor2", root, split_fractions={"a": 0.5, "b": 0.5}, image_scan="none"
    )
    for rows in (part.rows() for part in data.splits.values()):
        exams = set(rows["patient"])
        assert all(e in exams for e in rows["patient"])
    where = {i: s for s, part in data.splits.items() for i in part.rows()["image"]}
    assert where["IM000003.jpg"] == where["IM000004.jpg"]
    assert where["IM000005.jpg"] == where["IM000006.jpg"]


def test_images_the_pairs_file_does_not_list_fall_back_to_the_name_rule_and_are_counted(
    root, caplog
):
    # Lists exam B only, under another name; A and C are paired by name among the rest.
    text = "\r\n20051020_44261_0100_PP.tif;20051020_44270_0100_PP.tif;\r\n\r\n"  # As Excel.
    path = _pairs(root, text, name="pairs/exams.csv")
    with caplog.at_level(logging.WARNING, logger="pipelines.readers.messidor2"):
        table = messidor2.read_messidor2(root, pairs_file="pairs/exams.csv")
    assert (
        list(table["exam_source"]) == ["file_names"] * 2 + ["pairs_file"] * 2 + ["file_names"] * 2
    )
    assert table["patient"].nunique() == 3
    assert table["patient"].iloc[2] == "20051020_44261_0100_PP+20051020_44270_0100_PP"
    assert table["patient"].iloc[0] == "20051020_43808_0100_PP+20051020_43832_0100_PP"
    assert f"{path}: 4 of 6 images of " in caplog.text
    assert "paired by file name (first: 20051020_43808_0100_PP.png)" in caplog.text
    # The run's data_summary.json and `inspect` count them too (kept images only: the
    # ungradable one on line 4 was paired by the file).
    options = {"pairs_file": "pairs/exams.csv"}
    data = datasets.load_dataset("messidor2", root, split_fractions={"train": 1.0}, **options)
    assert data.summary()["splits"]["train"]["exams_paired_by"] == {
        "pairs_file": 1, "file_names": 4,
    }  # fmt: skip
    report = inspection.inspect_dataset(
        "messidor2", root, split_fractions={"train": 1.0}, **options
    )
    assert report["splits"]["train"]["exams_paired_by"] == {"pairs_file": 1, "file_names": 4}
    assert "exams paired by: pairs_file 1, file_names 4" in (inspection.format_report(report))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "IM000001.jpg\n",
            1,
            "expected two image names separated by ';' \\(left;right\\), got 'IM000001.jpg'",
        ),
        ("left;right\n\nIM000001.jpg;IM000002.jpg;IM000003.jpg\n", 3, "expected two image names"),
        ("IM000001.jpg,IM000002.jpg\n", 1, "expected .* got 'IM000001.jpg,IM000002.jpg'"),
        ("IM000001.jpg; \n", 1, "expected two image names"),
        (" ;IM000002.jpg\n", 1, "expected two image names"),
        (
            "IM000001.jpg;IM000002.jpg\nIM000003.jpg;im000001.JPG\n",
            2,
            "image 'im000001.JPG' is named twice \\(first on line 1\\)",
        ),
        ("IM000005.jpg;IM000005.png\n", 1, "image 'IM000005.png' is named twice"),
        (
            "IM000001.jpg;IM000002.jpg\nIM000003.jpg;./IM000001.jpg\n",
            2,
            "image './IM000001.jpg' is named twice \\(first on line 1\\)",
        ),
        (
            'left;right\nIM000001.jpg;IM000002.jpg\n"IM000003.jpg;IM000004.jpg\nIM5;IM6\n',
            3,
            "cannot parse CSV: a quote opened on this line is never closed .* at line 4",
        ),
    ],
)
def test_bad_pairs_file_lines_name_file_and_line(root, text, line, message):
    path = _pairs(root, text)
    with pytest.raises(DataError, match=rf"{path} line {line}: {message}"):
        messidor2.read_messidor2(root)


def test_a_named_pairs_file_must_exist_and_be_text(root):
    missing = os.path.join(root, "exams.csv")
    with pytest.raises(DataError, match=rf"{missing}: pairs file not found"):
        messidor2.read_messidor2(root, pairs_file="exams.csv")
    path = _pairs(root, "")
    with open(path, "wb") as f:
        f.write(b"IM000001.jpg;IM\xe9.jpg\n")
    with pytest.raises(DataError, match=rf"{path}: not UTF-8 text"):
        messidor2.read_messidor2(root)
    assert set(messidor2.read_messidor2(root, pairs_file=None)["exam_source"]) == {"file_names"}


def test_ungradable_images_are_dropped_and_counted_in_their_exams_split(root):
    os.remove(os.path.join(root, "IMAGES", "20051020_44261_0100_PP.png"))  # Not needed.
    data = datasets.load_dataset("messidor2", root, split_fractions={"train": 1.0})
    assert list(data.splits["train"].rows()["line"]) == [2, 3, 5, 6, 7]
    summary = data.summary()["splits"]["train"]
    assert summary["excluded"] == {"ungradable": 1}
    assert summary["exams_paired_by"] == {"pairs_file": 0, "file_names": 5}  # No pairs file.
    assert summary["labels"] == {"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}
    assert summary["patients"] == 3


def test_reads_what_the_writer_wrote_with_the_ungradable_count(messidor2_set):
    root, written = messidor2_set
    with open(os.path.join(root, "messidor_data.csv")) as f:
        header, *rows = list(csv.reader(f))
    assert ",".join(header) == HEADER
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert sum(r[3] == "0" for r in rows) == written["ungradable"] == 2  # max(1, 5% of 40)
    with open(os.path.join(root, "messidor-2.csv")) as f:
        pairs = f.read().splitlines()
    assert written["pairs_csv"] == os.path.join(root, "messidor-2.csv")
    assert pairs[0] == "left;right" and len(pairs) == 21
    assert {p.replace(";", "+").replace(".png", "").replace(".jpg", "") for p in pairs[1:]} == set(
        written["exams"].values()
    )
    table = messidor2.read_messidor2(root)
    assert len(table) == 40 and set(table["exam_source"]) == {"pairs_file"}
    assert dict(zip(table["image"], table["patient"], strict=True)) == written["exams"]
    assert set(table["patient"].value_counts()) == {2}
    by_name = messidor2.read_messidor2(root, pairs_file="")  # The rule finds the same exams.
    assert dict(zip(by_name["image"], by_name["patient"], strict=True)) == written["exams"]
    fractions = {"train": 0.6, "valid": 0.2, "test": 0.2}
    data = datasets.load_dataset("messidor2", root, split_fractions=fractions, split_seed=2)
    summary = data.summary()["splits"]
    assert sum(s["excluded"]["ungradable"] for s in summary.values()) == 2
    assert sum(s["images"] for s in summary.values()) == 38
    exams = [set(part.rows()["patient"]) for part in data.splits.values()]
    assert not (exams[0] & exams[1] or exams[0] & exams[2] or exams[1] & exams[2])
    for rows in (part.rows() for part in data.splits.values()):
        for path in rows["path"]:
            with Image.open(path) as image:
                assert image.size == (60, 40)


def test_original_format_writes_tiff_which_the_loader_refuses_naming_file_and_line(tmp_path):
    root = str(tmp_path)
    synthetic_messidor2.write_messidor2(
        root, num_patients=3, image_size=32, seed=0, image_format="original"
    )
    names = sorted(os.listdir(os.path.join(root, "IMAGES")))
    assert {os.path.splitext(n)[1] for n in names} <= {".tif", ".JPG"}
    table = messidor2.read_messidor2(root)
    tiff = table[table["image"].str.endswith(".tif") & table["gradable"]].iloc[0]
    with pytest.raises(DataError) as error:
        datasets.load_dataset("messidor2", root, split_fractions={"train": 1.0})
    message = str(error.value)
    assert message.startswith(f"{tiff['path']} ({tiff['source']} line {tiff['line']}): TIFF")
    assert "python -m pipelines.convert --dataset=messidor2" in message
    data = datasets.load_dataset("messidor2", root, split_fractions={"train": 1.0}, allow_tiff=True)
    assert sum(len(part.rows()) for part in data.splits.values()) + 1 == 6  # One ungradable.


def test_the_tiff_message_names_the_first_tiff_file_and_its_line(root):
    os.rename(
        os.path.join(root, "IMAGES", "IM000001.jpg"), os.path.join(root, "IMAGES", "IM000001.tif")
    )
    _rewrite(root, ROWS.replace("IM000001.jpg", "IM000001.tif"))
    with pytest.raises(DataError, match=r"IMAGES/IM000001.tif \(.*messidor_data.csv line 6\)"):
        datasets.load_dataset("messidor2", root, split_fractions={"train": 1.0})


def test_file_names_differing_in_case_or_extension_are_found(root):
    images = os.path.join(root, "IMAGES")
    os.rename(os.path.join(images, "IM000001.jpg"), os.path.join(images, "IM000001.JPG"))
    os.rename(
        os.path.join(images, "20051020_43808_0100_PP.png"),
        os.path.join(images, "20051020_43808_0100_PP.jpeg"),
    )
    table = messidor2.read_messidor2(root)
    assert table["path"].iloc[4] == os.path.join(os.path.abspath(images), "IM000001.JPG")
    assert table["path"].iloc[0].endswith("20051020_43808_0100_PP.jpeg")
    table = messidor2.read_messidor2(root, match_extension=False)
    assert table["path"].iloc[4].endswith("IM000001.jpg")


@pytest.mark.parametrize(
    ("spelling", "message_path"),
    [("./IM000001.jpg", "IM000001.jpg"), ("IM000001.tif", "IM000001.jpg")],
)
def test_one_image_under_two_spellings_is_a_duplicate(root, spelling, message_path):
    # The second spelling resolves to the file of line 6: `./`, or another extension that
    # `match_extension` maps to it.
    path = _rewrite(root, ROWS + f"{spelling},2,0,1\n")
    image = os.path.join(os.path.abspath(root), "IMAGES", message_path)
    what = f"the image file {image}"
    match = identity.duplicate(path, 8, "image_id", spelling, 6, "IM000001.jpg", what)
    with pytest.raises(DataError, match=match):
        messidor2.read_messidor2(root)


def test_spelled_ids_are_canonical_and_pair_into_their_exams(root):
    _rewrite(
        root, ROWS.replace("IM000001.jpg", "./IM000001.jpg").replace("IM000002", "x/../IM000002")
    )
    table = messidor2.read_messidor2(root, pairs_file="")
    assert list(table["image"])[4:] == ["IM000001.jpg", "IM000002.jpg"]
    assert list(table["patient"])[4:] == ["IM000001+IM000002"] * 2
    _pairs(root, "left;right\n./IM000001.JPG;IMAGES/IM000002.JPG\n")
    table = messidor2.read_messidor2(root)
    assert list(table["patient"])[4:] == ["IM000001+IM000002"] * 2
    assert list(table["exam_source"])[4:] == ["pairs_file"] * 2


def test_image_folder_is_an_option(root):
    os.rename(os.path.join(root, "IMAGES"), os.path.join(root, "preprocess"))
    table = messidor2.read_messidor2(root, image_dir="preprocess")
    assert all(os.path.exists(p) for p in table["path"])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("IM000009.jpg,2,0,yes", "adjudicated_gradable='yes' is not one of \\[0, 1\\]"),
        ("IM000009.jpg,2,0,2", "adjudicated_gradable='2' is not one of \\[0, 1\\]"),
        ("IM000009.jpg,7,0,1", "adjudicated_dr_grade='7' is not one of \\[0, 1, 2, 3, 4\\]"),
        ("IM000009.jpg,severe,0,1", "adjudicated_dr_grade='severe' is not one of"),
        ("IM000009.jpg,2,2,1", "adjudicated_dme='2' is not one of \\[0, 1\\]"),
        ("IM000009.jpg,x,,0", "adjudicated_dr_grade='x' is not one of"),
        ("IM000009.jpg,,0,1", "adjudicated_dr_grade is blank on a gradable image"),
        ("IM000009.jpg,2,,1", "adjudicated_dme is blank on a gradable image"),
        ("IM000009.jpg,2,0", "3 cells, expected 4"),
        ("IM000009.jpg,2,0,1,1", "5 cells, expected 4"),
        (",2,0,1", "empty image_id"),
        ("IM000001.jpg,2,0,1", "duplicate image_id 'IM000001.jpg' \\(first seen on line 6\\)"),
        ("../../secret.png,2,0,1", "image path .* escapes the root"),
    ],
)
def test_bad_rows_name_file_and_line(root, row, message):
    path = _rewrite(root, ROWS + row + "\n")
    with pytest.raises(DataError, match=rf"{path} line 8: {message}"):
        messidor2.read_messidor2(root)


def test_absolute_paths_and_missing_columns(root):
    path = _rewrite(root, "/etc/passwd,2,0,1\n")
    with pytest.raises(DataError, match=rf"{path} line 2: image path '/etc/passwd' must be"):
        messidor2.read_messidor2(root)
    _rewrite(root, "IM000001.jpg,2,1\n", header="image_id,adjudicated_dr_grade,adjudicated_dme")
    with pytest.raises(DataError, match=r"missing required column\(s\) \['adjudicated_gradable'\]"):
        messidor2.read_messidor2(root)


def test_missing_and_corrupt_gradable_images_name_file_and_line(root):
    os.remove(os.path.join(root, "IMAGES", "IM000002.jpg"))
    with pytest.raises(DataError, match=r"IM000002.jpg: missing file .*line 7\)"):
        datasets.load_dataset("messidor2", root, split_fractions={"train": 1.0})
    with open(os.path.join(root, "IMAGES", "IM000002.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 no end")
    with pytest.raises(DataError, match=r"IM000002.jpg: truncated JPEG .*line 7\)"):
        datasets.load_dataset("messidor2", root, split_fractions={"train": 1.0})
    data = datasets.load_dataset(
        "messidor2", root, split_fractions={"train": 1.0}, on_bad_image="skip"
    )
    assert [b.line for b in data.bad_images] == [7]
    assert data.summary()["splits"]["train"]["images"] == 4
