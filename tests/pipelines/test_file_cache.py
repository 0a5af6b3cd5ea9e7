"""On-disk image caches: one per stream and settings, validated on reuse, never half-read."""

import json
import logging
import os
import re
import socket

import numpy as np
import pytest
import tensorflow as tf

from pipelines import file_cache
from pipelines.errors import DataError
from tests import binaries

LOGGER = "pipelines.file_cache"


def _key(**changes):
    settings = dict(
        stream="eval",
        split="valid",
        image_size=32,
        channels=3,
        resize_mode="pad",
        preprocessing="inception",
        source="files",
        members=file_cache.membership(["/data/a.jpeg", "/data/b.jpeg"], np.array([0, 2])),
    )
    settings.update(changes)
    return file_cache.cache_key(**settings)


def _fill(base, count=10):
    """Writes a complete tf.data cache of `count` int64 vectors at `base`."""
    ds = tf.data.Dataset.range(count).map(lambda i: tf.fill([4], i)).cache(base)
    return [x.numpy().tolist() for x in ds]


def test_every_part_of_the_key_names_other_files():
    changes = [
        {},
        {"stream": "train"},
        {"split": "test"},
        {"image_size": 64},
        {"channels": 1},
        {"resize_mode": "squash"},
        {"preprocessing": "unit"},
        {"source": "records: x"},
        {"members": file_cache.membership(["/data/b.jpeg", "/data/a.jpeg"], np.array([0, 2]))},
        {"members": file_cache.membership(["/data/a.jpeg", "/data/b.jpeg"], np.array([0, 3]))},
        {"members": file_cache.membership(["/data/a.jpeg", "/data/b.jpeg"])},
    ]
    names = [file_cache.cache_name("/c/run", _key(**c)) for c in changes]
    assert len(set(names)) == len(changes)
    assert re.fullmatch(r"/c/run-eval-valid-[0-9a-f]{16}", names[0])
    assert re.fullmatch(r"/c/dir/train-my_split-[0-9a-f]{16}", file_cache.cache_name(
        "/c/dir/", _key(stream="train", split="my split")))  # fmt: skip


def test_bad_keys_and_prefixes():
    with pytest.raises(ValueError, match=r"unknown cache stream 'test'"):
        _key(stream="test")
    with pytest.raises(ValueError, match=r"a file cache needs the split's name"):
        _key(split="")
    with pytest.raises(ValueError, match=r"data.cache is empty"):
        file_cache.prepare("", _key())


def test_a_complete_cache_is_reused_and_its_manifest_records_the_key(tmp_path, caplog):
    prefix = str(tmp_path / "sub" / "cache")
    base = file_cache.prepare(prefix, _key())
    manifest = json.load(open(base + ".json"))
    assert manifest["format"] == "transfusion_tf.image_cache" and manifest["version"] == 1
    assert manifest["key"] == _key() and base.endswith(manifest["digest"])
    assert manifest["writer"] == {"host": socket.gethostname(), "pid": os.getpid()}
    assert _fill(base)[3] == [3, 3, 3, 3]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert file_cache.prepare(prefix, _key()) == base
    assert f"reading the eval stream of split 'valid' from the cache {base}" in caplog.text
    # Read from the files: the upstream is not run (it would give 100s).
    ds = tf.data.Dataset.range(10).map(lambda i: tf.fill([4], i + 100)).cache(base)
    assert [x.numpy()[0] for x in ds] == list(range(10))


@pytest.mark.parametrize("damage", ["other key", "no manifest"])
def test_a_cache_that_does_not_match_its_key_is_deleted_and_written_again(tmp_path, caplog, damage):
    prefix = str(tmp_path / "cache")
    base = file_cache.prepare(prefix, _key())
    _fill(base)
    if damage == "other key":
        manifest = json.load(open(base + ".json"))
        manifest["key"]["image_size"] = 999  # As a hash collision or a hand edit would.
        json.dump(manifest, open(base + ".json", "w"))
        reason = "its manifest holds another key"
    else:
        os.remove(base + ".json")
        reason = "it has no manifest"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert file_cache.prepare(prefix, _key()) == base
    assert f"cache {base}: {reason}; deleting its 2 files and caching again" in caplog.text
    assert not os.path.exists(base + ".index")
    assert json.load(open(base + ".json"))["key"] == _key()
    assert _fill(base, 3) == [[0] * 4, [1] * 4, [2] * 4]


_PARTIAL_WRITER = """
import os, sys, time
import tensorflow as tf
from pipelines import file_cache
key = file_cache.cache_key(
    stream="eval", split="valid", image_size=32, channels=3, resize_mode="pad",
    preprocessing="inception", source="files", members=file_cache.membership(["a"]))
base = file_cache.prepare(sys.argv[1], key)
ds = tf.data.Dataset.range(10).map(lambda i: tf.fill([4], i)).cache(base)
it = iter(ds)
for _ in range(5):
    next(it)
assert os.path.exists(base + "_0.lockfile") and not os.path.exists(base + ".index")
print(base, flush=True)
time.sleep(120)
"""


def _partial_key():
    return file_cache.cache_key(
        stream="eval", split="valid", image_size=32, channels=3, resize_mode="pad",
        preprocessing="inception", source="files", members=file_cache.membership(["a"]),
    )  # fmt: skip


@pytest.mark.slow
def test_a_cache_a_live_process_is_writing_is_refused_and_rewritten_once_it_is_killed(
    tmp_path, caplog
):
    """One writer process, seen in both states: alive and halfway through its first pass
    (refused), then SIGKILLed there, so that tf.data could not clean up (its half-written
    cache is deleted and written again)."""
    prefix = str(tmp_path / "cache")
    writer = binaries.start("-c", _PARTIAL_WRITER, prefix, stderr=None)
    try:
        base = writer.stdout.readline().strip()
        message = (
            f"cache {base} is being written by process {writer.pid} on {socket.gethostname()}, "
            f"which holds {base}.lock; wait until its first pass is done, or set data.cache to "
            "another prefix"
        )
        with pytest.raises(DataError, match=re.escape(message)):
            file_cache.prepare(prefix, _partial_key())
    finally:
        writer.kill()
        code = writer.wait(timeout=60)
    assert code == -9  # SIGKILL: tf.data could not clean up.
    assert os.path.exists(base + "_0.lockfile") and not os.path.exists(base + ".index")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert file_cache.prepare(prefix, _partial_key()) == base  # Its writer is gone now.
    assert re.search(
        rf"cache {re.escape(base)}: process {writer.pid} on \S+ left it partly written "
        rf"\({re.escape(base)}_0.lockfile\) and has exited; deleting its \d+ files",
        caplog.text,
    )
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".lockfile")]
    assert _fill(base) == [[i] * 4 for i in range(10)]  # All of it, not the first five.
    assert os.path.exists(base + ".index")


def test_a_stream_of_this_process_still_writing_is_refused(tmp_path):
    prefix = str(tmp_path / "cache")
    base = file_cache.prepare(prefix, _key())
    it = iter(tf.data.Dataset.range(10).cache(base))
    next(it)  # tf.data holds the lockfile until the pass ends.
    with pytest.raises(DataError, match=r"is being written by another stream of this process"):
        file_cache.prepare(prefix, _key())
    assert [int(x) for x in it] == list(range(1, 10))
    assert file_cache.prepare(prefix, _key()) == base  # Complete now.


def test_shards_and_parse_functions_are_described_stably(tmp_path):
    import functools

    shard = tmp_path / "train-00000-of-00001"
    shard.write_bytes(b"1234")
    stat = os.stat(shard)
    assert file_cache.shard_identities([str(shard)]) == [
        f"{shard}\t4\t{stat.st_mtime_ns}"
    ]  # fmt: skip
    parse = functools.partial(file_cache.membership, labels=None)
    assert file_cache.describe_function(parse) == ("pipelines.file_cache.membership(labels=None)")
    assert file_cache.describe_function(file_cache.membership) == (
        "pipelines.file_cache.membership()"
    )
