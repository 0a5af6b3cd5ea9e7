"""Converting image-file datasets to TFRecord shards: round trips, manifest, bad input."""

import io
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipelines import datasets
from pipelines.errors import DataError
from pipelines.records import conversion, image_examples, shard_manifest
from pipelines.synthetic import messidor2 as synthetic_messidor2
from tests import binaries, fixtures

FRACTIONS = {"train": 0.75, "valid": 0.25}
HALVES = {"train": 0.5, "valid": 0.5}  # 10 patients, 2 per grade: 10 / 10 images.


def _read_all(out, manifest, split):
    """{image id: parsed fields (numpy)} of every record of a split, and the id order."""
    spec = image_examples.LabelSpec.from_json(manifest["label"])
    examples, order = {}, []
    for shard in manifest["splits"][split]["shards"]:
        path = os.path.join(out, shard["file"])
        for record in tf.data.TFRecordDataset(path):
            parsed = image_examples.parse_example(record, spec=spec, source=path)
            raw = tf.io.parse_single_example(
                record,
                {
                    "image/format": tf.io.FixedLenFeature([], tf.string),
                    "image/source_format": tf.io.FixedLenFeature([], tf.string),
                    "image/height": tf.io.FixedLenFeature([], tf.int64),
                    "image/channels": tf.io.FixedLenFeature([], tf.int64),
                },
            )
            key = parsed["rows"]["image"].numpy().decode()
            order.append(key)
            examples[key] = {
                "encoded": parsed["image"].numpy(),
                "label": parsed["label"].numpy(),
                "patient": parsed["rows"]["patient"].numpy().decode(),
                "path": parsed["rows"]["path"].numpy().decode(),
                "line": int(parsed["rows"]["line"].numpy()),
                "format": raw["image/format"].numpy().decode(),
                "source_format": raw["image/source_format"].numpy().decode(),
                "height": int(raw["image/height"].numpy()),
                "channels": int(raw["image/channels"].numpy()),
                "shard": shard["file"],
            }
    return examples, order


@pytest.fixture(scope="module")
def converted(eyepacs_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("eyepacs_tfr"))
    manifest = conversion.convert_dataset(
        "eyepacs", eyepacs_root, out, split_fractions=FRACTIONS, num_shards=4, workers=2
    )
    return out, manifest


def test_every_example_equals_its_source_bit_for_bit(converted, eyepacs_root):
    out, manifest = converted
    source = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=FRACTIONS)
    for split, rows in ((s, part.rows()) for s, part in source.splits.items()):
        examples, _ = _read_all(out, manifest, split)
        assert sorted(examples) == sorted(rows["image"])
        for row in rows.itertuples():
            example = examples[row.image]
            with open(row.path, "rb") as f:
                assert example["encoded"] == f.read()
            assert example["label"] == row.label and example["label"].dtype == np.int64
            assert example["patient"] == row.patient and example["line"] == row.line
            assert example["path"] == f"train/{row.image}.jpeg"
            assert (example["format"], example["source_format"]) == ("JPEG", "JPEG")
            assert (example["height"], example["channels"]) == (40, 3)


def test_manifest_lists_shards_counts_bytes_and_settings(converted, eyepacs_root):
    out, manifest = converted
    assert manifest == json.load(open(os.path.join(out, "manifest.json")))
    assert (manifest["format"], manifest["version"]) == ("transfusion_tf.tfrecords", 1)
    assert manifest["dataset"] == "eyepacs" and manifest["source_root"] == eyepacs_root
    assert manifest["split_fractions"] == FRACTIONS and manifest["split_seed"] == 0
    assert manifest["label"] == {
        "kind": "grade",
        "num_outputs": 5,
        "multi_label": False,
        "names": ["none", "mild", "moderate", "severe", "proliferative"],
    }
    train, valid = manifest["splits"]["train"], manifest["splits"]["valid"]
    assert (train["examples"], train["patients"], valid["examples"], valid["patients"]) == (
        60,
        30,
        20,
        10,
    )
    assert train["labels"] == {str(g): 12 for g in range(5)}
    assert [s["file"] for s in train["shards"]] == [f"train-0000{k}-of-00004" for k in range(4)]
    assert [s["examples"] for s in train["shards"]] == [15, 15, 15, 15]
    assert [s["examples"] for s in valid["shards"]] == [5, 5, 5, 5]
    for split in ("train", "valid"):
        for shard in manifest["splits"][split]["shards"]:
            path = os.path.join(out, shard["file"])
            assert shard["bytes"] == os.path.getsize(path)
            assert shard["examples"] == shard_manifest.count_records(path)
    assert sorted(os.listdir(out)) == sorted(
        ["manifest.json", "membership.csv"]
        + [s["file"] for e in manifest["splits"].values() for s in e["shards"]]
    )
    assert manifest["totals"] == {
        "examples": 80,
        "bytes": train["bytes"] + valid["bytes"],
        "shards": 8,
        "converted_from_tiff": 0,
        "downscaled": 0,
    }
    assert (manifest["max_side"], manifest["jpeg_quality"]) == (0, None)
    assert manifest["skipped_images"] == 0 and manifest["skipped"] == []
    assert manifest["versions"]["tensorflow"] == "2.15.1"


def _records(out, manifest):
    """(split, shard, index within shard, parsed record) of every record, in record order."""
    spec = image_examples.LabelSpec.from_json(manifest["label"])
    for split, entry in manifest["splits"].items():
        for shard in entry["shards"]:
            path = os.path.join(out, shard["file"])
            for index, record in enumerate(tf.data.TFRecordDataset(path)):
                yield split, shard["file"], index, image_examples.parse_example(record, spec=spec)


def test_membership_csv_rows_equal_the_records_read_back(converted, eyepacs_root):
    out, manifest = converted
    columns = ["split", "shard", "index", "image", "patient", "study", "source_path",
               "label_file", "line", "grade"]  # fmt: skip
    assert manifest["membership"] == {"file": "membership.csv", "rows": 80, "columns": columns}
    with open(os.path.join(out, "membership.csv")) as f:
        assert f.readline() == ",".join(columns) + "\n"
    table = shard_manifest.read_membership(out, manifest)
    expected = []
    for split, shard, index, parsed in _records(out, manifest):
        rows = {k: v.numpy() for k, v in parsed["rows"].items()}
        expected.append(
            [split, shard, index]
            + [rows[k].decode() for k in ("image", "patient", "study", "path", "label_file")]
            + [int(rows["line"]), int(parsed["label"].numpy())]
        )
    assert table.values.tolist() == expected  # Same rows, same (record) order.
    source = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=FRACTIONS)
    assert sorted(table["image"]) == sorted(
        r for part in source.splits.values() for r in part.rows()["image"]
    )
    assert table["image"].is_unique  # Every example once.
    by_split = {split: set(rows["patient"]) for split, rows in table.groupby("split")}
    assert sorted(by_split) == ["train", "valid"] and not by_split["train"] & by_split["valid"]
    assert table.groupby("split").size().to_dict() == {"train": 60, "valid": 20}
    for row in table.itertuples():  # Label and line are those of the label file.
        line = open(os.path.join(eyepacs_root, "trainLabels.csv")).read().splitlines()[row.line - 1]
        assert line == f"{row.image},{row.grade}" and row.source_path == f"train/{row.image}.jpeg"
    # The record reader reads the shards the manifest lists and ignores the CSV beside them.
    loaded = datasets.load_dataset("tfrecords", out, split_fractions={})
    assert sum(len(s.files) for s in loaded.splits.values()) == 8


def test_membership_csv_that_disagrees_with_the_manifest_is_refused(converted, tmp_path):
    out, manifest = converted
    copy = str(tmp_path / "copy")
    shutil.copytree(out, copy)
    path = os.path.join(copy, "membership.csv")
    lines = open(path).read().splitlines(keepends=True)
    open(path, "w").write("".join(lines[:-1]))
    with pytest.raises(DataError, match=r"membership.csv: 79 rows of columns .* lists 80 of"):
        shard_manifest.read_membership(copy, manifest)
    os.remove(path)
    with pytest.raises(DataError, match=r"membership.csv: membership file missing"):
        shard_manifest.read_membership(copy, manifest)
    assert datasets.load_dataset("tfrecords", copy, split_fractions={}).manifest == manifest


@pytest.mark.slow
def test_order_across_shards_is_seeded_and_shuffled(converted, eyepacs_root, tmp_path):
    out, manifest = converted
    _, order = _read_all(out, manifest, "train")
    again = conversion.convert_dataset(
        "eyepacs", eyepacs_root, str(tmp_path / "a"), split_fractions=FRACTIONS, num_shards=4
    )
    other = conversion.convert_dataset(
        "eyepacs",
        eyepacs_root,
        str(tmp_path / "b"),
        split_fractions=FRACTIONS,
        num_shards=4,
        shuffle_seed=1,
    )
    assert _read_all(str(tmp_path / "a"), again, "train")[1] == order
    other_order = _read_all(str(tmp_path / "b"), other, "train")[1]
    assert other_order != order and sorted(other_order) == sorted(order)
    source = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=FRACTIONS)
    assert order != list(source.splits["train"].rows()["image"])  # Not the label-file order.


def test_shard_count_follows_the_target_size(eyepacs_root, tmp_path):
    rows = datasets.load_dataset("eyepacs", eyepacs_root, split_fractions=FRACTIONS)
    total = sum(os.path.getsize(p) for p in rows.splits["train"].rows()["path"])
    shard_mb = total / 3.5 / 1e6  # 3.5 shards' worth of bytes -> 4 shards.
    assert conversion.num_shards_for(rows.splits["train"].rows(), shard_mb=shard_mb) == 4
    manifest = conversion.convert_dataset(
        "eyepacs", eyepacs_root, str(tmp_path), split_fractions=FRACTIONS, shard_mb=shard_mb
    )
    assert len(manifest["splits"]["train"]["shards"]) == 4
    assert len(manifest["splits"]["valid"]["shards"]) == 2  # 20 images: ceil(3.5 / 3).
    # Never more shards than images.
    small = conversion.convert_dataset(
        "eyepacs", eyepacs_root, str(tmp_path / "s"), split_fractions=FRACTIONS, num_shards=500
    )
    assert [len(e["shards"]) for e in small["splits"].values()] == [60, 20]


def test_chexpert_labels_and_masks_round_trip(chexpert_root, tmp_path):
    fractions = {"train": 0.5, "valid_internal": 0.5}
    manifest = conversion.convert_dataset(
        "chexpert", chexpert_root, str(tmp_path), split_fractions=fractions, num_shards=2
    )
    assert manifest["label"]["kind"] == "multi_label" and manifest["label"]["num_outputs"] == 5
    assert manifest["label"]["names"][0] == "Atelectasis"
    source = datasets.load_dataset("chexpert", chexpert_root, split_fractions=fractions)
    assert sorted(manifest["splits"]) == ["train", "valid", "valid_internal"]
    for split, rows in ((s, part.rows()) for s, part in source.splits.items()):
        examples, _ = _read_all(str(tmp_path), manifest, split)
        assert len(examples) == len(rows) == manifest["splits"][split]["examples"]
        for row in rows.itertuples():
            example = examples[row.image]
            np.testing.assert_array_equal(example["label"], np.stack([row.label, row.mask]))
            assert example["label"].dtype == np.float32
            assert example["encoded"] == open(row.path, "rb").read()
            assert example["channels"] == 1  # Grayscale JPEGs.
    keys = ["atelectasis", "cardiomegaly", "consolidation", "edema", "pleural_effusion"]
    labels = [f"label_{k}" for k in keys] + [f"mask_{k}" for k in keys]
    assert manifest["membership"]["columns"][9:] == labels
    table = shard_manifest.read_membership(str(tmp_path), manifest)
    records = list(_records(str(tmp_path), manifest))
    assert len(table) == len(records) == manifest["totals"]["examples"]
    for row, (split, shard, index, parsed) in zip(table.itertuples(), records, strict=True):
        assert (row.split, row.shard, row.index) == (split, shard, index)
        assert row.image == parsed["rows"]["image"].numpy().decode()
        assert row.study == parsed["rows"]["study"].numpy().decode() != ""
        values = np.asarray(row[10:], np.float32).reshape(2, 5)
        np.testing.assert_array_equal(values, parsed["label"].numpy())  # Labels, then mask.
    by_split = [set(rows["patient"]) for _, rows in table.groupby("split")]
    assert len(by_split) == 3 and not any(
        a & b for i, a in enumerate(by_split) for b in by_split[i + 1 :]
    )


def test_tiff_is_decoded_once_and_stored_as_lossless_png(tmp_path):
    root = str(tmp_path / "m2")
    synthetic_messidor2.write_messidor2(
        root, num_patients=4, image_size=32, seed=5, image_format="original"
    )
    fractions = {"train": 0.5, "valid": 0.5}
    manifest = conversion.convert_dataset(
        "messidor2", root, str(tmp_path / "out"), split_fractions=fractions, num_shards=1
    )
    source = datasets.load_dataset("messidor2", root, split_fractions=fractions, allow_tiff=True)
    tiffs = 0
    for split, rows in ((s, part.rows()) for s, part in source.splits.items()):
        examples, _ = _read_all(str(tmp_path / "out"), manifest, split)
        for row in rows.itertuples():
            example = examples[row.image]
            if row.path.endswith(".tif"):
                tiffs += 1
                assert (example["format"], example["source_format"]) == ("PNG", "TIFF")
                stored = np.asarray(Image.open(io.BytesIO(example["encoded"])))
                np.testing.assert_array_equal(stored, np.asarray(Image.open(row.path)))
            else:
                assert example["encoded"] == open(row.path, "rb").read()
    assert tiffs > 0 and manifest["totals"]["converted_from_tiff"] == tiffs
    assert sum(e["excluded"]["ungradable"] for e in manifest["splits"].values()) == 1
    for split, entry in manifest["splits"].items():  # Written with messidor-2.csv.
        assert entry["exams_paired_by"] == {
            "pairs_file": len(source.splits[split].rows()),
            "file_names": 0,
        }


def test_max_side_downscales_larger_images_once_and_keeps_the_rest(tmp_path):
    # Half the EyePACS JPEGs 40 x 30 px, half 16 x 16.
    root = fixtures.write_eyepacs(str(tmp_path / "src"), fixtures.balanced_grades(4), size=16)
    rows = (
        datasets.load_dataset("eyepacs", root, split_fractions={"train": 1.0})
        .splits["train"]
        .rows()
    )
    big = sorted(rows["path"])[::2]
    for path in big:
        Image.new("RGB", (40, 30), (200, 90, 40)).save(path, format="JPEG", quality=90)
    out = str(tmp_path / "out")
    manifest = conversion.convert_dataset(
        "eyepacs", root, out, split_fractions={"train": 1.0}, num_shards=1, max_side=20,
        jpeg_quality=80,
    )  # fmt: skip
    examples, _ = _read_all(out, manifest, "train")
    for row in rows.itertuples():
        example = examples[row.image]
        pixels = np.asarray(Image.open(io.BytesIO(example["encoded"])))
        assert example["format"] == example["source_format"] == "JPEG"
        if row.path in big:  # 40 x 30 -> 20 x 15, the colour kept (up to JPEG error).
            assert pixels.shape == (15, 20, 3) and example["height"] == 15
            assert np.abs(pixels.astype(int) - (200, 90, 40)).max() <= 6
        else:  # 16 x 16: not larger than max_side, stored bit for bit.
            assert example["encoded"] == open(row.path, "rb").read()
    assert manifest["splits"]["train"]["downscaled"] == len(big) == 4
    assert (manifest["max_side"], manifest["jpeg_quality"]) == (20, 80)
    assert manifest["totals"]["downscaled"] == 4


def test_max_side_stores_png_and_tiff_sources_as_png(tmp_path):
    png = tmp_path / "a.png"
    Image.new("L", (30, 60), 77).save(png)
    stored = conversion.read_image(str(png), max_side=10)
    assert (stored.format, stored.source_format, stored.shape, stored.source_shape) == (
        "PNG", "PNG", (10, 5, 1), (60, 30, 1),
    )  # fmt: skip
    assert np.all(np.asarray(Image.open(io.BytesIO(stored.encoded))) == 77)
    tif = tmp_path / "b.tif"
    Image.new("RGB", (64, 32), (10, 20, 30)).save(tif)
    stored = conversion.read_image(str(tif), max_side=16)
    assert (stored.format, stored.source_format, stored.shape) == ("PNG", "TIFF", (8, 16, 3))
    wide = tmp_path / "c.png"
    Image.fromarray(np.full((4, 8), 1000, np.uint16)).save(wide)
    with pytest.raises(ValueError, match="cannot downscale image mode 'I;16'"):
        conversion.read_image(str(wide), max_side=4)
    assert conversion.read_image(str(wide), max_side=8).shape == (4, 8, 1)  # Not resized.
    with pytest.raises(ValueError, match="max_side=-1"):
        conversion.convert_dataset("eyepacs", str(tmp_path), str(tmp_path / "o"),
                                   split_fractions={"train": 1.0}, max_side=-1)  # fmt: skip


@pytest.fixture
def small_eyepacs(tmp_path):
    return fixtures.write_eyepacs(str(tmp_path / "src"), fixtures.balanced_grades(10), size=16)


def test_a_missing_image_stops_naming_file_and_row_unless_skipped(small_eyepacs, tmp_path):
    os.remove(os.path.join(small_eyepacs, "train", "3_right.jpeg"))
    csv = os.path.join(small_eyepacs, "trainLabels.csv")
    out = str(tmp_path / "out")
    with pytest.raises(DataError, match=rf"3_right\.jpeg: missing file \({csv} line 7\)"):
        conversion.convert_dataset("eyepacs", small_eyepacs, out, split_fractions=HALVES)
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    manifest = conversion.convert_dataset(
        "eyepacs", small_eyepacs, out, split_fractions=HALVES, on_bad_image="skip"
    )
    assert manifest["skipped_images"] == 1
    assert manifest["skipped"] == [
        {
            "path": os.path.join(small_eyepacs, "train", "3_right.jpeg"),
            "reason": "missing file",
            "label_file": csv,
            "line": 7,
        }
    ]
    assert manifest["totals"]["examples"] == 19
    table = shard_manifest.read_membership(out, manifest)
    assert len(table) == 19 and "3_right" not in set(table["image"])


def test_a_corrupt_image_is_caught_by_decoding_naming_file_and_row(small_eyepacs, tmp_path):
    # Whole JPEG markers around garbage: passes the header scan, fails to decode.
    path = os.path.join(small_eyepacs, "train", "5_left.jpeg")
    with open(path, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9")
    csv = os.path.join(small_eyepacs, "trainLabels.csv")
    out = str(tmp_path / "out")
    with pytest.raises(DataError, match=rf"5_left\.jpeg: cannot decode: .*\({csv} line 10\)"):
        conversion.convert_dataset(
            "eyepacs", small_eyepacs, out, split_fractions=HALVES, num_shards=2
        )
    assert os.listdir(out) == []  # Shards written before the error are removed.
    manifest = conversion.convert_dataset(
        "eyepacs", small_eyepacs, out, split_fractions=HALVES, on_bad_image="skip"
    )
    assert [(s["line"], s["reason"][:13]) for s in manifest["skipped"]] == [(10, "cannot decode")]
    assert manifest["totals"]["examples"] == 19
    for entry in manifest["splits"].values():  # Label counts are of the kept images.
        assert sum(entry["labels"].values()) == entry["examples"]


def test_a_label_out_of_range_in_the_label_file_names_file_and_row(small_eyepacs, tmp_path):
    csv = os.path.join(small_eyepacs, "trainLabels.csv")
    lines = open(csv).read().splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0] + ",7"
    open(csv, "w").write("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{csv} line 5: level='7' is not one of"):
        conversion.convert_dataset(
            "eyepacs", small_eyepacs, str(tmp_path / "out"), split_fractions=HALVES
        )


def test_an_output_directory_holding_a_conversion_is_refused(converted, eyepacs_root, tmp_path):
    out, _ = converted
    with pytest.raises(DataError, match=r"already holds a converted dataset \(manifest.json\)"):
        conversion.convert_dataset("eyepacs", eyepacs_root, out, split_fractions=FRACTIONS)
    shutil.copy(os.path.join(out, "train-00000-of-00004"), tmp_path)
    with pytest.raises(DataError, match=r"already holds TFRecord shards \(train-00000-of-00004"):
        conversion.convert_dataset(
            "eyepacs", eyepacs_root, str(tmp_path), split_fractions=FRACTIONS
        )


@pytest.mark.slow
def test_the_binary_converts_and_reports(small_eyepacs, tmp_path):
    out = tmp_path / "out"
    args = [
        "--dataset=eyepacs", f"--root={small_eyepacs}", f"--out={out}",
        "--split_fractions=train=0.5,valid=0.5", "--num_shards=2", "--max_side=8",
    ]  # fmt: skip
    progress, summary = binaries.progress_and_summary(
        binaries.run("pipelines.convert", *args).stdout
    )
    assert progress[-1].startswith("20/20 images,")
    assert (
        summary["splits"]["train"]["examples"] == 10 and summary["splits"]["train"]["shards"] == 2
    )
    assert summary["totals"]["examples"] == 20 and summary["skipped_images"] == 0
    assert summary["totals"]["downscaled"] == 20  # 16 px images, --max_side=8.
    refused = binaries.run_main("pipelines.convert", *args)  # Its error path, in this process.
    assert refused.returncode == 1 and "already holds a converted dataset" in refused.stderr


def test_spelled_ids_convert_and_inspect_under_their_canonical_identity(tmp_path):
    # Issue 14: ids spelled `./3_left` or `../train/3_right` must be the images `3_left`,
    # `3_right` of patient 3 everywhere: splits, membership.csv, `pipelines.inspect`.
    from pipelines.readers import inspection

    root = fixtures.write_eyepacs(str(tmp_path / "eyepacs"), fixtures.balanced_grades(10))
    labels = os.path.join(root, "trainLabels.csv")
    lines = open(labels).read().splitlines()
    spelled = [lines[0]] + [
        ("./" if k % 2 else "../train/") + line if k % 3 else line
        for k, line in enumerate(lines[1:])
    ]
    with open(labels, "w") as f:
        f.write("\n".join(spelled) + "\n")
    out = str(tmp_path / "out")
    manifest = conversion.convert_dataset("eyepacs", root, out, split_fractions=HALVES)
    table = shard_manifest.read_membership(out, manifest)
    expected = {f"{p}_{eye}" for p in range(1, 11) for eye in ("left", "right")}
    assert set(table["image"]) == expected and len(table) == 20
    assert list(table["patient"]) == [i.split("_")[0] for i in table["image"]]
    assert list(table["source_path"]) == [f"train/{i}.jpeg" for i in table["image"]]
    by_split = {split: set(rows["patient"]) for split, rows in table.groupby("split")}
    assert len(by_split["train"]) == 5 and not by_split["train"] & by_split["valid"]
    os.remove(os.path.join(root, "train", "3_left.jpeg"))
    assert spelled[5].startswith("../train/3_left,")  # Line 6.
    report = inspection.inspect_dataset("eyepacs", root, split_fractions=HALVES)
    assert sum(s["patients"] for s in report["splits"].values()) == 10
    problems = [p for s in report["splits"].values() for p in s["problems"]]
    assert problems == [
        {
            "path": os.path.join(os.path.abspath(root), "train", "3_left.jpeg"),
            "reason": "missing file",
            "label_file": labels,
            "line": 6,
        }
    ]
