"""`pipelines.readers.inspection` and the `pipelines.inspect` binary on every generated layout."""

import collections
import csv
import json
import os
import shutil

import pytest

from pipelines.errors import DataError
from pipelines.readers import inspection
from tests import binaries, fixtures

ALL = {"train": 1.0}


def _copy(source, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(source, target)
    return str(target)


def test_chexpert_states_before_and_after_the_policy_by_hand(tmp_path):
    parent = str(tmp_path)
    fixtures.write_chexpert_fixture(parent)
    report = inspection.inspect_dataset("chexpert", parent, split_fractions=ALL)
    train = report["splits"]["train"]
    # Frontal rows of the fixture: lines 2, 4, 5, 7, 8, 9 (see tests/fixtures.py).
    assert (train["images"], train["patients"], train["rows"]) == (6, 4, 6)
    assert train["views"] == {"frontal": 6}
    assert train["labels_before"]["Atelectasis"] == {"-1.0": 1, "0.0": 2, "1.0": 1, "blank": 2}
    assert train["labels_before"]["Cardiomegaly"] == {"-1.0": 2, "0.0": 1, "1.0": 1, "blank": 2}
    # U-Ones for Atelectasis, U-Zeros for Cardiomegaly, blank -> 0.
    assert train["labels_after"]["Atelectasis"] == {"positive": 2, "negative": 4, "masked": 0}
    assert train["labels_after"]["Cardiomegaly"] == {"positive": 1, "negative": 5, "masked": 0}
    report = inspection.inspect_dataset(
        "chexpert", parent, split_fractions=ALL, views="all", uncertainty="ignore", blank="mask"
    )
    train = report["splits"]["train"]
    assert train["views"] == {"frontal": 6, "lateral": 2}
    # Lines 3 (all blank) and 6 (-1.0, 1.0, 0.0, -1.0, blank) join.
    assert train["labels_before"]["Atelectasis"] == {"-1.0": 2, "0.0": 2, "1.0": 1, "blank": 3}
    assert train["labels_after"]["Atelectasis"] == {"positive": 1, "negative": 2, "masked": 5}
    valid = report["splits"]["valid"]
    assert valid["images"] == 3 and valid["labels_before"]["Edema"] == {"0.0": 2, "1.0": 1}
    assert report["label_files"] == [
        os.path.join(parent, "CheXpert-v1.0-small", name) for name in ("train.csv", "valid.csv")
    ]
    assert report["totals"] == {
        "images": 11,
        "missing": 0,
        "corrupt": 0,
        "excluded": 0,
        "bad_rows": 0,
        "needs_conversion": 0,
    }
    assert report["bad_rows"] == []


def test_generated_chexpert_with_a_missing_and_a_corrupt_image(chexpert_root, tmp_path):
    parent = _copy(chexpert_root, tmp_path)
    root = os.path.join(parent, "CheXpert-v1.0-small")
    with open(os.path.join(root, "valid.csv")) as f:
        first, second = [r[0] for r in list(csv.reader(f))[1:3]]
    os.remove(os.path.join(parent, first))
    with open(os.path.join(parent, second), "wb") as f:
        f.write(b"not a jpeg")
    report = inspection.inspect_dataset("chexpert", parent, views="all")
    valid = report["splits"]["valid"]
    assert (valid["missing"], valid["corrupt"]) == (1, 1)
    assert [(p["reason"], p["line"]) for p in valid["problems"]] == [
        ("missing file", 2),
        ("not a JPEG, PNG or TIFF file", 3),
    ]
    assert valid["problems"][0]["path"] == os.path.join(os.path.abspath(parent), first)


def test_eyepacs_with_every_image_deleted(eyepacs_root, tmp_path):
    root = _copy(eyepacs_root, tmp_path)
    shutil.rmtree(os.path.join(root, "train"))
    report = inspection.inspect_dataset("eyepacs", root, split_fractions=ALL)
    train = report["splits"]["train"]
    assert (train["images"], train["missing"], train["corrupt"]) == (80, 80, 0)
    assert train["views"] == {"left": 40, "right": 40}
    # balanced_grades(40): 8 patients per grade, both eyes alike.
    assert train["labels_before"] == {"level": {str(g): 16 for g in range(5)}}
    assert train["labels_after"] == {"label": {str(g): 16 for g in range(5)}}
    assert {p["line"] for p in train["problems"]} == set(range(2, 82))


def test_aptos_with_half_the_images_deleted(aptos_root, tmp_path):
    root = _copy(aptos_root, tmp_path)
    with open(os.path.join(root, "train.csv")) as f:
        rows = list(csv.reader(f))[1:]
    for code, _ in rows[::2]:
        os.remove(os.path.join(root, "train_images", f"{code}.png"))
    report = inspection.inspect_dataset("aptos", root)
    splits = report["splits"]
    assert sum(s["images"] for s in splits.values()) == 34
    assert sum(s["patients"] for s in splits.values()) == 34  # One per image.
    assert report["totals"]["missing"] == 17 and splits["train"]["views"] == {}
    written = collections.Counter(grade for _, grade in rows)
    before = collections.Counter()
    for s in splits.values():
        before.update(s["labels_before"]["diagnosis"])
    assert before == written


def test_messidor2_ungradable_and_tiff_counts(messidor2_set, tmp_path):
    root, written = messidor2_set
    with open(os.path.join(root, "messidor_data.csv")) as f:
        rows = list(csv.DictReader(f))
    report = inspection.inspect_dataset("messidor2", root, split_fractions=ALL)
    train = report["splits"]["train"]
    assert train["rows"] == 40 and train["images"] == 38 and train["patients"] == 20
    assert train["excluded"] == {"ungradable": 2} == {"ungradable": written["ungradable"]}
    assert train["exams_paired_by"] == {"pairs_file": 38, "file_names": 0}  # messidor-2.csv
    grades = collections.Counter(r["adjudicated_dr_grade"] or "blank" for r in rows)
    assert train["labels_before"]["adjudicated_dr_grade"] == dict(sorted(grades.items()))
    assert train["labels_before"]["adjudicated_gradable"] == {"0": 2, "1": 38}
    after = {str(g): n for g, n in written["grade_counts"].items() if n}
    assert train["labels_after"] == {"label": after}

    tiff_root = str(tmp_path / "original")
    from pipelines.synthetic import messidor2 as synthetic_messidor2

    synthetic_messidor2.write_messidor2(
        tiff_root, num_patients=3, image_size=32, seed=0, image_format="original"
    )
    report = inspection.inspect_dataset("messidor2", tiff_root, split_fractions=ALL, scan="decode")
    formats = report["splits"]["train"]["formats"]
    assert set(formats) <= {".tif", ".jpg"} and report["totals"]["corrupt"] == 0
    assert report["totals"]["needs_conversion"] == formats.get(".tif", 0) > 0
    assert "python -m pipelines.convert --dataset=messidor2" in inspection.format_report(report)


def test_bad_label_files_are_refused_naming_file_and_line(aptos_root, tmp_path):
    root = _copy(aptos_root, tmp_path)
    path = os.path.join(root, "train.csv")
    with open(path, "a") as f:
        f.write("ffffffffffff,severe\n")
    with pytest.raises(DataError, match=rf"{path} line 36: diagnosis='severe'"):
        inspection.inspect_dataset("aptos", root)
    with pytest.raises(ValueError, match=r"cannot inspect dataset 'imagenet'; valid: aptos, "):
        inspection.inspect_dataset("imagenet", root)


def _run(*args):
    return binaries.run("pipelines.inspect", *args, check=False)


@pytest.mark.slow
def test_binary_on_messidor2_with_every_image_deleted(messidor2_set, tmp_path):
    root = _copy(messidor2_set[0], tmp_path)
    shutil.rmtree(os.path.join(root, "IMAGES"))
    out = tmp_path / "report.json"
    result = _run("--dataset=messidor2", f"--root={root}", f"--json_out={out}", "--split_seed=1")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report == inspection.inspect_dataset("messidor2", root, split_seed=1)
    assert report["totals"]["missing"] == report["totals"]["images"] == 38
    assert "total: 38 images, 38 missing, 0 corrupt, 2 excluded by policy" in result.stdout
    assert "[train]" in result.stdout and "before policy  adjudicated_dr_grade:" in result.stdout
    assert "... and" in result.stdout  # More problems than printed.


def test_binary_options_and_errors(chexpert_root, tmp_path):
    """Its flags and error line, in this process (`binaries.run_main`)."""
    result = binaries.run_main(
        "pipelines.inspect",
        "--dataset=chexpert",
        f"--root={chexpert_root}",
        "--option=views=all",
        "--split_fractions=train=0.5,valid_internal=0.5",
    )
    assert result.returncode == 0, result.stderr
    assert "[valid_internal]" in result.stdout and "lateral" in result.stdout
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.csv").write_text("id_code,diagnosis\nabc,1\nabd\n")
    result = binaries.run_main("pipelines.inspect", "--dataset=aptos", f"--root={bad}")
    assert result.returncode == 1
    assert f"error: {bad}/train.csv line 3: 1 cells, expected 2" in result.stderr
