"""Reading V1/V2 checkpoints, bookkeeping, inventory checks."""

from __future__ import annotations

import os

import numpy as np
import pytest

from slim_weights import checkpoint

VALUES = {
    "net/conv1/weights": np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3),
    "net/conv1/BatchNorm/moving_mean": np.array([1.5, -2.0, 0.25], np.float32),
    "net/conv1/weights/Momentum": np.zeros((2, 2, 2, 3), np.float32),
    "global_step": np.array(1234, np.int64),
}


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_round_trip_keeps_names_values_and_dtypes(tmp_path, version):
    path = checkpoint.write_checkpoint(VALUES, tmp_path / "model.ckpt", version=version)
    if version == "V1":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]
    else:
        assert (tmp_path / "model.ckpt.index").exists()
    read = checkpoint.read_checkpoint(path)
    assert list(read) == sorted(VALUES)
    for name, value in VALUES.items():
        assert read[name].dtype == value.dtype
        np.testing.assert_array_equal(read[name], value)
    assert checkpoint.read_shapes(path) == {
        "global_step": (),
        "net/conv1/BatchNorm/moving_mean": (3,),
        "net/conv1/weights": (2, 2, 2, 3),
        "net/conv1/weights/Momentum": (2, 2, 2, 3),
    }


def test_directory_resolves_to_its_latest_checkpoint(tmp_path):
    import tensorflow as tf

    path = checkpoint.write_checkpoint(VALUES, tmp_path / "model.ckpt-7")
    tf.compat.v1.train.update_checkpoint_state(str(tmp_path), path)
    assert checkpoint.resolve_checkpoint(tmp_path) == path
    assert sorted(checkpoint.read_checkpoint(tmp_path)) == sorted(VALUES)


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_leading_tilde_is_expanded(tmp_path, monkeypatch, version):
    """`--checkpoint=~/...` reaches us unexpanded: bash expands `~` only at a word start."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)  # so a literal '~' directory would show up here
    path = checkpoint.write_checkpoint(VALUES, "~/ckpts/model.ckpt", version=version)
    assert path == str(home / "ckpts" / "model.ckpt")
    assert checkpoint.resolve_checkpoint("~/ckpts/model.ckpt") == path
    assert sorted(checkpoint.read_checkpoint("~/ckpts/model.ckpt")) == sorted(VALUES)
    assert checkpoint.read_shapes("~/ckpts/model.ckpt")["global_step"] == ()
    assert not (tmp_path / "~").exists()
    with pytest.raises(checkpoint.CheckpointReadError, match=f"no checkpoint at {home}/nope"):
        checkpoint.read_checkpoint("~/nope")


def test_missing_and_corrupt_checkpoints_name_the_path(tmp_path):
    with pytest.raises(checkpoint.CheckpointReadError, match="no checkpoint at .*nothing.ckpt"):
        checkpoint.read_checkpoint(tmp_path / "nothing.ckpt")
    with pytest.raises(checkpoint.CheckpointReadError, match="without a 'checkpoint' state"):
        checkpoint.read_checkpoint(tmp_path)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint" * 100)
    with pytest.raises(checkpoint.CheckpointReadError, match="garbage.ckpt is not a readable"):
        checkpoint.read_checkpoint(garbage)
    with pytest.raises(ValueError, match="valid: V1, V2"):
        checkpoint.write_checkpoint(VALUES, tmp_path / "x", version="V3")


def test_split_bookkeeping():
    names = [
        "global_step",
        "beta1_power",
        "net/conv1/weights",
        "net/conv1/weights/Momentum",
        "net/conv1/weights/ExponentialMovingAverage",
        "net/conv1/weights/Adam_1",
        # A layer that happens to be named like a slot, with no parent variable: kept.
        "net/Momentum",
    ]
    model, bookkeeping = checkpoint.split_bookkeeping(names)
    assert model == ["net/conv1/weights", "net/Momentum"]
    assert bookkeeping == [
        "global_step",
        "beta1_power",
        "net/conv1/weights/Momentum",
        "net/conv1/weights/ExponentialMovingAverage",
        "net/conv1/weights/Adam_1",
    ]


def test_check_inventory_lists_every_difference():
    expected = {"a/weights": (3, 3), "b/weights": (1,), "c/weights": (2,)}
    found = {"a/weights": (3, 3), "b/weights": (2,), "d/weights": (1,), "global_step": ()}
    with pytest.raises(checkpoint.InventoryError) as info:
        checkpoint.check_inventory(found, expected, source="x.ckpt")
    message = str(info.value)
    assert "x.ckpt" in message
    assert "1 missing ['c/weights']" in message
    assert "1 unexpected ['d/weights']" in message
    assert "b/weights: (2,) (expected (1,))" in message
    checkpoint.check_inventory({**expected, "global_step": ()}, expected, source="ok")


def _cut(path, keep=0.5):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])


def _flip_a_byte(path):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: _cut(p + ".data-00000-of-00001"), r"{p}\.data-00000-of-00001 is truncated: "),
        (lambda p: _flip_a_byte(p + ".data-00000-of-00001"), r"{p}\.data-00000-of-00001 is "
         r"damaged: reading variable '.*' failed: .*Checksum does not match"),
        (lambda p: _cut(p + ".index"), r"{p}\.index is damaged \(truncated or not a checkpoint"),
        (lambda p: os.remove(p + ".data-00000-of-00001"), r"{p}: data file missing"),
        (lambda p: os.remove(p + ".index"), r"{p}\.index missing \(the checkpoint's data"),
    ],
    ids=["truncated_data", "corrupt_data", "truncated_index", "missing_data", "missing_index"],
)  # fmt: skip
def test_a_damaged_v2_checkpoint_is_named_with_what_is_wrong(tmp_path, damage, message):
    path = checkpoint.write_checkpoint(VALUES, tmp_path / "model.ckpt")
    assert checkpoint.verify_checkpoint(path) == path
    damage(path)
    for read in (checkpoint.verify_checkpoint, checkpoint.read_checkpoint):
        with pytest.raises(checkpoint.CheckpointReadError, match=message.format(p=path)):
            read(path)


def test_a_missing_shard_of_several_is_named(tmp_path):
    path = checkpoint.write_checkpoint(VALUES, tmp_path / "model.ckpt")
    os.rename(f"{path}.data-00000-of-00001", f"{path}.data-00001-of-00002")
    with pytest.raises(
        checkpoint.CheckpointReadError,
        match=rf"data shard\(s\) missing: \['{path}\.data-00000-of-00002'\]",
    ):
        checkpoint.verify_checkpoint(path)


def test_a_truncated_v1_checkpoint_is_named(tmp_path):
    path = checkpoint.write_checkpoint(VALUES, tmp_path / "model.ckpt", version="V1")
    _cut(path, keep=0.9)
    with pytest.raises(checkpoint.CheckpointReadError, match=f"{path}"):
        checkpoint.read_checkpoint(path)
