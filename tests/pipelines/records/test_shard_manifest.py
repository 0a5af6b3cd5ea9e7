"""Manifests of converted datasets: record counting and checking shards against them."""

import json
import os
import re

import pytest
import tensorflow as tf

from pipelines.errors import DataError
from pipelines.records import shard_manifest


def _shards(root, counts=(3, 2)):
    shards = []
    for k, n in enumerate(counts):
        name = shard_manifest.shard_name("train", k, len(counts))
        path = os.path.join(root, name)
        with tf.io.TFRecordWriter(path) as writer:
            for i in range(n):
                writer.write(b"x" * (10 + i))
        shards.append({"file": name, "examples": n, "bytes": os.path.getsize(path)})
    manifest = {
        "format": shard_manifest.FORMAT,
        "version": shard_manifest.VERSION,
        "splits": {"train": {"examples": sum(counts), "shards": shards}},
    }
    shard_manifest.write_manifest(root, manifest)
    return manifest


def test_names_and_counts(tmp_path):
    assert shard_manifest.shard_name("valid", 3, 16) == "valid-00003-of-00016"
    manifest = _shards(str(tmp_path))
    assert [shard_manifest.count_records(str(tmp_path / s["file"])) for s in
            manifest["splits"]["train"]["shards"]] == [3, 2]  # fmt: skip
    assert shard_manifest.read_manifest(str(tmp_path)) == manifest
    files = shard_manifest.verify_split(str(tmp_path), manifest, "train")
    assert files == [str(tmp_path / "train-00000-of-00002"), str(tmp_path / "train-00001-of-00002")]


def test_a_missing_shard_is_named(tmp_path):
    manifest = _shards(str(tmp_path))
    os.remove(tmp_path / "train-00001-of-00002")
    with pytest.raises(
        DataError,
        match=r"train-00001-of-00002: shard missing \(listed in .*manifest.json, split 'train'\)",
    ):
        shard_manifest.verify_split(str(tmp_path), manifest, "train")


def test_a_count_mismatch_is_named(tmp_path):
    manifest = _shards(str(tmp_path))
    manifest["splits"]["train"]["shards"][0]["examples"] = 4
    with pytest.raises(
        DataError, match=r"train-00000-of-00002: 3 records, but .*manifest.json lists 4"
    ):
        shard_manifest.verify_split(str(tmp_path), manifest, "train")
    # Sizes only: the shard's count is not read, but the split's total must still add up.
    with pytest.raises(DataError, match=r"split 'train' lists 5 examples but its shards hold 6"):
        shard_manifest.verify_split(str(tmp_path), manifest, "train", count=False)


def test_a_changed_or_truncated_shard_is_named(tmp_path):
    manifest = _shards(str(tmp_path))
    path = tmp_path / "train-00000-of-00002"
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(DataError, match=r"train-00000-of-00002: \d+ bytes, but .* lists \d+"):
        shard_manifest.verify_split(str(tmp_path), manifest, "train")
    with pytest.raises(
        DataError, match=r"train-00000-of-00002: truncated TFRecord file \(record 2"
    ):
        shard_manifest.count_records(str(path))


def test_a_missing_or_foreign_manifest_is_refused(tmp_path):
    with pytest.raises(
        DataError, match=r"manifest.json: no manifest; .*\(python -m pipelines.convert"
    ):
        shard_manifest.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(DataError, match=r"format 'other' version 1; this reader reads"):
        shard_manifest.read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(DataError, match="not valid JSON"):
        shard_manifest.read_manifest(str(tmp_path))


def test_a_shard_outside_the_root_or_listed_twice_is_refused(tmp_path):
    root = tmp_path / "converted"
    root.mkdir()
    manifest = _shards(str(root))
    shards = manifest["splits"]["train"]["shards"]
    first = dict(shards[0])
    escaping = dict(first, file="../" + first["file"])
    manifest["splits"]["valid"] = {"examples": first["examples"], "shards": [escaping]}
    path = root / "manifest.json"
    with pytest.raises(DataError, match=rf"{path}: shard '../train-00000-of-00002' of split "):
        shard_manifest.verify_split(str(root), manifest, "valid")
    # The same shard under another spelling, in another split: its records would leak.
    manifest["splits"]["valid"]["shards"] = [dict(first, file="./" + first["file"])]
    files = {s: shard_manifest.verify_split(str(root), manifest, s) for s in ("train", "valid")}
    assert files["valid"] == [str(root / first["file"])]
    message = (
        f"{path}: shard {root / first['file']} is listed in split 'train' and again in "
        "split 'valid'"
    )
    with pytest.raises(DataError, match=re.escape(message)):
        shard_manifest.check_shards_listed_once(str(root), files)
    shard_manifest.check_shards_listed_once(str(root), {"train": files["train"]})
