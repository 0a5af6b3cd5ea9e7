"""The trainer's callbacks without training: eval_log.csv truncation, the NaN stop's message."""

import types

import pytest

from transfusion_tf import callbacks, provenance


def _log(tmp_path, steps, tail=""):
    log = callbacks.EvalLog(str(tmp_path))
    for step in steps:
        log.append({"step": step, "auc": step / 10})
    if tail:
        with open(log.path, "a") as f:
            f.write(tail)
    return log


def _steps(log):
    rows = log.rows()
    return list(rows["step"]) if len(rows) else []


@pytest.mark.parametrize(
    ("steps", "tail", "restored", "kept"),
    [
        ([2, 4, 6], "", 4, [2, 4]),  # Killed after evaluating 6, before saving ckpt-6.
        ([2, 4], "", 4, [2, 4]),  # Nothing to drop: the file is left alone.
        ([2, 4], "", None, []),  # Killed before the first checkpoint: the run restarts.
        ([0, 2], "", None, []),  # eval_at_start's row of step 0 is redone too.
        ([2, 4], "6,0.", 4, [2, 4]),  # Killed mid-write of a row.
        ([], "st", None, []),  # Killed mid-write of the header.
    ],
    ids=["after_eval", "clean", "before_first_ckpt", "eval_at_start", "cut_row", "cut_header"],
)
def test_truncate_after_keeps_exactly_the_rows_up_to_the_restored_step(
    tmp_path, steps, tail, restored, kept
):
    log = _log(tmp_path, steps, tail)
    log.truncate_after(restored)
    assert _steps(log) == kept
    log.append({"step": 8, "auc": 0.8})  # Appending works after any of them.
    assert _steps(log) == [*kept, 8]


def test_a_damaged_row_is_named(tmp_path):
    log = _log(tmp_path, [2], tail="x,y\n")
    with pytest.raises(provenance.DamagedFile, match=r"eval_log.csv line 3 is damaged"):
        log.truncate_after(2)


def _failed_guard(step, value=None, bad_variables=(), evaluation=""):
    guard = callbacks.NonFiniteLossGuard()
    guard.failed_step, guard.value = step, value
    guard.bad_variables, guard.evaluation = list(bad_variables), evaluation
    return guard


KEPT = ["/w/checkpoints/ckpt-2", "/w/checkpoints/ckpt-4"]


def test_the_last_good_checkpoint_is_the_newest_kept_one_by_default():
    error = _failed_guard(8, value=float("nan")).error(KEPT)
    assert str(error).startswith(
        "non-finite training loss (nan) at step 8; stopped without saving. Last good "
        "checkpoint: /w/checkpoints/ckpt-4. Lower optimizer.learning_rate"
    )
    assert error.exit_code == 1


def test_a_checkpoint_whose_weights_gave_the_bad_loss_is_not_the_last_good_one():
    # The loss of step 5 is computed with the weights saved as ckpt-4.
    error = _failed_guard(5, value=float("inf")).error(KEPT)
    assert (
        "Last good checkpoint: /w/checkpoints/ckpt-2. (/w/checkpoints/ckpt-4 has finite "
        "weights, but its weights gave the non-finite loss of step 5.)"
    ) in str(error)


def test_a_checkpoint_that_evaluates_to_non_finite_logits_is_not_the_last_good_one():
    asked = []

    def evaluation_problem(path):
        asked.append(path)
        return "evaluating it gives non-finite logits for 3 of 3 examples" if "4" in path else None

    guard = _failed_guard(6, evaluation="non-finite logits for 3 of 3 examples (finite ...)")
    text = str(guard.error(KEPT, evaluation_problem))
    assert text.startswith("non-finite logits for 3 of 3 examples (finite ...) at the evaluation")
    assert "step 6; stopped without saving. Last good checkpoint: /w/checkpoints/ckpt-2. (" in text
    assert "ckpt-4 has finite weights, but evaluating it gives non-finite logits" in text
    assert asked == KEPT[::-1]
    none = str(_failed_guard(2, value=float("nan")).error([]))
    assert "Last good checkpoint: none (the failure came before the first checkpoint)." in none
    all_bad = str(_failed_guard(6, value=1.0).error(KEPT, lambda path: "bad"))
    assert "Last good checkpoint: none kept. (/w/checkpoints/ckpt-4 has" in all_bad


def test_periodic_saves_nothing_after_a_failed_evaluation():
    guard = _failed_guard(None)
    guard.check_variables = lambda: True
    saved = []
    periodic = callbacks.Periodic(
        guard=guard,
        evaluate=lambda step: setattr(guard, "failed_step", step),
        save=saved.append,
        eval_every=2,
        checkpoint_every=2,
        total_steps=6,
    )
    periodic.model = types.SimpleNamespace(
        optimizer=types.SimpleNamespace(iterations=types.SimpleNamespace(numpy=lambda: 4))
    )
    periodic.on_epoch_end(1)
    assert saved == [] and guard.failed_step == 4


def test_train_log_line_has_step_of_total_images_per_second_and_an_eta(monkeypatch, caplog):
    import logging

    import tensorflow as tf

    model = types.SimpleNamespace(optimizer=types.SimpleNamespace(iterations=tf.Variable(10)))
    logger = callbacks.TrainLogger(
        writer=None, schedule=lambda step: 0.5, log_every=5, total_steps=40, batch_size=8
    )
    logger.set_model(model)
    clock = iter([100.0, 102.0, 104.0, 130.0])
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="absl"):
        logger.on_train_begin()  # A launch resumed at step 10: the ETA counts from there.
        for step, loss in ((15, 0.75), (16, 0.5), (20, 0.25), (40, 0.125)):
            model.optimizer.iterations.assign(step)
            logger.on_train_batch_end(0, {"loss": loss})
    # 5 steps in 2 s: 20 images/s and 0.4 s/step for 25 steps; then 10 steps in 4 s; the
    # last line has no ETA. Step 16 is not a multiple of log_every: no line.
    assert [r.getMessage() for r in caplog.records] == [
        "step 15/40  loss 0.7500  lr 0.5  20.0 images/s  ETA 0:00:10",
        "step 20/40  loss 0.2500  lr 0.5  20.0 images/s  ETA 0:00:08",
        "step 40/40  loss 0.1250  lr 0.5  6.2 images/s",
    ]
    assert logger.images_per_second == [20.0, 20.0, 6.153846153846154]
