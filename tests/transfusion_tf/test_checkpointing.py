"""Run checkpoints: resume falls back past damaged ones, lookups name what exists."""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from errors import UsageError
from slim_weights.checkpoint import CheckpointReadError
from transfusion_tf import checkpointing


def _model():
    inputs = tf.keras.Input((3,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2, name="dense")(inputs))
    model.compile(optimizer=tf.keras.optimizers.Adam(), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _saved_run(workdir, steps=(2, 4, 6)):
    """Checkpoints at `steps` whose kernel is filled with the step; returns the kernels."""
    model = _model()
    ckpts = checkpointing.RunCheckpoints(str(workdir), model, model.optimizer)
    kernels = {}
    for step in steps:
        kernel = np.full((3, 2), float(step), np.float32)
        model.get_layer("dense").kernel.assign(kernel)
        model.optimizer.iterations.assign(step)
        ckpts.save(step)
        kernels[step] = kernel
    return kernels


def _resume(workdir, restore_from=""):
    model = _model()
    ckpts = checkpointing.RunCheckpoints(
        str(workdir), model, model.optimizer, restore_from=str(restore_from)
    )
    return ckpts, model, ckpts.restore_latest()


def _truncate(path):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


DAMAGE = {  # name -> (how, words TF's reader gives none of)
    "truncated_data": (lambda p: _truncate(p + ".data-00000-of-00001"), "is truncated"),
    "truncated_index": (lambda p: _truncate(p + ".index"), "index is damaged"),
    "missing_data": (lambda p: os.remove(p + ".data-00000-of-00001"), "data file missing"),
    "missing_index": (lambda p: os.remove(p + ".index"), "index missing"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_sets_a_damaged_newest_checkpoint_aside_and_uses_the_previous(
    tmp_path, caplog, damage
):
    kernels = _saved_run(tmp_path)
    directory = tmp_path / "checkpoints"
    how, words = DAMAGE[damage]
    how(str(directory / "ckpt-6"))
    with caplog.at_level(logging.WARNING):
        ckpts, model, restored = _resume(tmp_path)
    assert restored == str(directory / "ckpt-4")
    np.testing.assert_array_equal(model.get_layer("dense").kernel.numpy(), kernels[4])
    assert int(model.optimizer.iterations.numpy()) == 4
    assert f"damaged checkpoint {directory}/ckpt-6" in caplog.text and words in caplog.text
    assert f"resuming from {directory}/ckpt-4, the newest intact checkpoint" in caplog.text
    set_aside = sorted(os.listdir(directory / "damaged"))
    assert set_aside and all(name.startswith("ckpt-6.") for name in set_aside)
    assert checkpointing.available_steps(str(tmp_path)) == [2, 4]
    # The state file now ends at ckpt-4, and saving goes on from there.
    assert checkpointing.recorded_checkpoints(str(directory)) == [
        str(directory / "ckpt-4"),
        str(directory / "ckpt-2"),
    ]
    ckpts.save(6)
    assert ckpts.kept == [str(directory / f"ckpt-{s}") for s in (2, 4, 6)]


def test_when_no_checkpoint_is_intact_the_run_stops_and_a_rerun_starts_afresh(tmp_path):
    _saved_run(tmp_path, steps=(2, 4))
    directory = tmp_path / "checkpoints"
    for step in (2, 4):
        _truncate(str(directory / f"ckpt-{step}.data-00000-of-00001"))
    with pytest.raises(
        checkpointing.NoIntactCheckpoint,
        match=rf"no intact checkpoint in {directory}: {directory}/ckpt-4, {directory}/ckpt-2 "
        rf"are damaged .* moved to {directory}/damaged; rerunning the same command starts "
        "again from the initial weights",
    ) as info:
        _resume(tmp_path)
    assert info.value.exit_code == 1
    assert "checkpoint" in os.listdir(directory / "damaged")
    assert _resume(tmp_path)[2] is None


def test_a_damaged_state_file_falls_back_to_the_checkpoints_on_disk(tmp_path, caplog):
    kernels = _saved_run(tmp_path)
    (tmp_path / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-')
    with caplog.at_level(logging.WARNING):
        _, model, restored = _resume(tmp_path)
    assert restored == str(tmp_path / "checkpoints" / "ckpt-6")
    np.testing.assert_array_equal(model.get_layer("dense").kernel.numpy(), kernels[6])
    assert "checkpoints/checkpoint is damaged; using the checkpoints on disk" in caplog.text


def test_a_worker_resuming_from_another_directory_leaves_its_files_alone(tmp_path):
    _saved_run(tmp_path / "chief")
    chief = tmp_path / "chief" / "checkpoints"
    _truncate(str(chief / "ckpt-6.index"))
    _, _, restored = _resume(tmp_path / "worker", restore_from=tmp_path / "chief")
    assert restored == str(chief / "ckpt-4")
    assert not (chief / "damaged").exists() and (chief / "ckpt-6.index").exists()


def test_checkpoint_path_names_the_bad_request(tmp_path):
    _saved_run(tmp_path, steps=(2, 4))
    directory = tmp_path / "checkpoints"
    assert checkpointing.checkpoint_path(str(tmp_path)) == str(directory / "ckpt-4")
    assert checkpointing.checkpoint_path(str(tmp_path), "2") == str(directory / "ckpt-2")
    with pytest.raises(
        UsageError, match="checkpoint 'abc': expected 'latest', 'best', 'init' or a step"
    ):
        checkpointing.checkpoint_path(str(tmp_path), "abc")
    with pytest.raises(checkpointing.CheckpointNotFound, match=r"no '8' .*available: \[2, 4\]"):
        checkpointing.checkpoint_path(str(tmp_path), "8")
    with pytest.raises(FileNotFoundError, match="no 'init' checkpoint"):
        checkpointing.checkpoint_path(str(tmp_path), "init")
    with pytest.raises(
        checkpointing.CheckpointNotFound,
        match=r"no 'best' checkpoint .*\('best' exists in runs with train.keep_best=True\)",
    ):
        checkpointing.checkpoint_path(str(tmp_path), "best")


def test_the_best_checkpoint_replaces_the_previous_and_a_resume_drops_a_later_one(tmp_path):
    model = _model()
    ckpts = checkpointing.RunCheckpoints(str(tmp_path), model, model.optimizer, max_to_keep=1)
    best = tmp_path / "checkpoints" / "best"
    kernel = model.get_layer("dense").kernel
    for step in (2, 4, 6):
        kernel.assign(np.full((3, 2), float(step), np.float32))
        ckpts.save(step)
        if step in (2, 4):
            ckpts.save_best(step, {"metric": "auc", "value": step / 10})
    assert checkpointing.available_steps(str(tmp_path)) == [6]  # Rotation spares best/.
    assert sorted(os.listdir(best)) == ["best.json", "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    assert checkpointing.best_record(str(tmp_path)) == {
        "step": 4,
        "checkpoint": "ckpt-4",
        "metric": "auc",
        "value": 0.4,
    }
    path = checkpointing.checkpoint_path(str(tmp_path), "best")
    assert path == str(best / "ckpt-4")
    fresh = _model()
    checkpointing.restore_weights(fresh, path)
    np.testing.assert_array_equal(fresh.get_layer("dense").kernel.numpy(), 4.0)
    ckpts.drop_best_after(4)  # A resume at step 4 keeps the best of step 4 ...
    assert checkpointing.best_record(str(tmp_path))["step"] == 4
    ckpts.drop_best_after(2)  # ... one at step 2 redoes the evaluation of step 4.
    assert checkpointing.best_record(str(tmp_path)) is None and os.listdir(best) == []


def test_restore_weights_names_a_truncated_file_and_assigns_nothing(tmp_path):
    _saved_run(tmp_path, steps=(2,))
    path = str(tmp_path / "checkpoints" / "ckpt-2")
    _truncate(path + ".data-00000-of-00001")
    model = _model()
    before = model.get_layer("dense").kernel.numpy()
    with pytest.raises(
        CheckpointReadError, match=rf"{path}\.data-00000-of-00001 is truncated: reading variable"
    ):
        checkpointing.restore_weights(model, path)
    np.testing.assert_array_equal(model.get_layer("dense").kernel.numpy(), before)
