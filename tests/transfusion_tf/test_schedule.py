import ml_collections
import pytest
import tensorflow as tf

from tests import tolerances
from transfusion_tf import schedule

# float32 TF arithmetic: a few roundings, the cosine counted as four.
RTOL = tolerances.elementwise_rtol(8)


def lr(step, **kw):
    return float(schedule.learning_rate(step, **kw))


def test_cosine_with_warmup_at_boundary_steps():
    kw = dict(base=1.0, schedule="cosine", total_steps=110, warmup_steps=10)
    assert lr(0, **kw) == pytest.approx(0.1, rel=RTOL)
    assert lr(9, **kw) == pytest.approx(1.0, rel=RTOL)
    assert lr(10, **kw) == pytest.approx(1.0, rel=RTOL)
    assert lr(60, **kw) == pytest.approx(0.5, rel=RTOL)
    assert lr(110, **kw) == pytest.approx(0.0, abs=RTOL)  # Relative to base = 1.
    assert lr(500, **kw) == pytest.approx(0.0, abs=RTOL)
    assert lr(110, **kw, end_factor=0.1) == pytest.approx(0.1, rel=RTOL)


def test_step_and_constant_schedules():
    kw = dict(base=2.0, schedule="step", total_steps=100, boundaries=(5, 10), gamma=0.1)
    assert [lr(s, **kw) for s in (0, 4, 5, 9, 10, 99)] == pytest.approx(
        [2.0, 2.0, 0.2, 0.2, 0.02, 0.02], rel=RTOL
    )
    assert lr(7, base=3.0, schedule="constant", total_steps=10) == 3.0
    assert lr(7, base=3.0, schedule="step", total_steps=10) == 3.0  # No boundaries.


def test_unknown_schedule_and_optimizer():
    with pytest.raises(ValueError, match="valid: constant, cosine, step"):
        schedule.Schedule(base=1.0, schedule="poly", total_steps=10)
    config = ml_collections.ConfigDict(
        dict(name="lamb", momentum=0.9, nesterov=False, weight_decay=0.0, clipnorm=0.0)
    )
    with pytest.raises(ValueError, match="valid: adam, adamw, sgd"):
        schedule.make_optimizer(config, 0.1)


def test_make_optimizer_and_keras_schedule():
    config = ml_collections.ConfigDict(
        dict(name="sgd", momentum=0.8, nesterov=True, weight_decay=1e-4, clipnorm=1.0)
    )
    sched = schedule.Schedule(base=0.5, schedule="constant", total_steps=10)
    opt = schedule.make_optimizer(config, sched)
    assert isinstance(opt, tf.keras.optimizers.SGD)
    assert (opt.momentum, opt.nesterov, opt.weight_decay, opt.clipnorm) == (0.8, True, 1e-4, 1.0)
    assert float(opt.learning_rate) == 0.5
    config.name = "adamw"
    assert isinstance(schedule.make_optimizer(config, sched), tf.keras.optimizers.AdamW)
