"""Best evaluation and early stopping, decided on given sequences of the main metric."""

import math

import pytest

from transfusion_tf.model_selection import Selection


def _stop(values, patience, min_delta=0.0, start=2, every=2):
    steps = range(start, start + every * len(values), every)
    return Selection.replay(steps, values, patience=patience, min_delta=min_delta)


def test_a_plateau_stops_after_patience_evaluations():
    # Improves at 2, 4, 6; then 8, 10 do not beat 0.8: patience 2 stops at step 10.
    selection = _stop([0.6, 0.7, 0.8, 0.8, 0.79], patience=2)
    assert selection.stopped_at == 10 and selection.best == (6, 0.8)
    with pytest.raises(ValueError, match="evaluation of step 12: the run stopped at 10"):
        selection.record(12, 0.95)
    assert selection.summary() == {
        "stopped_at": 10,
        "patience": 2,
        "min_delta": 0.0,
        "best_step": 6,
    }
    assert _stop([0.6, 0.7, 0.8, 0.8, 0.79], patience=3).stopped_at is None


def test_an_improvement_resets_the_count():
    assert _stop([0.5, 0.4, 0.6, 0.5, 0.4], patience=2).stopped_at == 10
    assert _stop([0.5, 0.4, 0.6, 0.5, 0.7], patience=2).stopped_at is None


def test_min_delta_counts_small_gains_as_none():
    # None of the gains after the first beats 0.5 by more than 0.01.
    values = [0.5, 0.505, 0.508, 0.509]
    assert _stop(values, patience=3, min_delta=0.01).stopped_at == 8
    assert _stop(values, patience=3).stopped_at is None
    # The reference moves only on an improvement: 0.5 -> 0.52 beats it by 0.02.
    assert _stop([0.5, 0.505, 0.52, 0.525], patience=2, min_delta=0.01).stopped_at is None


def test_nan_never_improves_and_best_skips_it():
    selection = _stop([math.nan, 0.7, math.nan, math.nan], patience=2)
    assert selection.stopped_at == 8 and selection.best == (4, 0.7)
    assert _stop([math.nan], patience=1).best is None


def test_never_stops_at_step_zero_and_zero_patience_never_stops():
    assert _stop([math.nan, math.nan], patience=1, start=0).stopped_at == 2
    assert _stop([0.9, 0.1, 0.1, 0.1, 0.1], patience=0).stopped_at is None


def test_record_reports_each_new_best_and_ties_keep_the_first():
    selection = Selection()
    assert [selection.record(s, v) for s, v in [(2, 0.5), (4, 0.5), (6, 0.7), (8, 0.6)]] == [
        True,
        False,
        True,
        False,
    ]
    assert selection.best == (6, 0.7)
    with pytest.raises(ValueError, match="evaluation of step 8 after step 8"):
        selection.record(8, 0.9)
