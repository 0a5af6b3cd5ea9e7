"""The moving average of the weights: what it averages, its arithmetic against NumPy, and
how checkpoints hold it and give it back."""

import numpy as np
import pytest
import tensorflow as tf

from tests import tolerances
from transfusion_tf import checkpointing, finetuning, models, weight_average
from transfusion_tf.configs import retina


def _model():
    model = models.get_model(
        "cbr_tiny", num_classes=5, input_shape=(32, 32, 3), widths=(4, 8, 8, 8)
    )
    finetuning.freeze(model, ["block4", "logits"])
    return model


def _manual(values, decay):
    """The average of `values[0]` (after initialisation), `values[1]` (after step 1), ...
    as TF-Slim's ExponentialMovingAverage with num_updates keeps it, in NumPy float32."""
    average = np.array(values[0], np.float32)
    for step, value in enumerate(values[1:], 1):
        d = min(np.float32(decay), np.float32(1 + step) / np.float32(10 + step))
        average -= (np.float32(1) - d) * (average - value)
    return average


def test_it_averages_what_training_changes():
    model = _model()
    average = weight_average.WeightAverage(model, 0.99)
    assert list(average.averages) == [
        "block4/conv/kernel:0",
        "block4/bn/gamma:0",
        "block4/bn/beta:0",
        "block4/bn/moving_mean:0",
        "block4/bn/moving_variance:0",
        "logits/kernel:0",
        "logits/bias:0",
    ]
    with pytest.raises(ValueError, match="ema decay must be in"):
        weight_average.WeightAverage(model, 1.0)


def test_updates_match_numpy_and_applied_swaps_back_exactly():
    model = _model()
    average = weight_average.WeightAverage(model, 0.5)
    kernel = model.get_layer("logits").kernel
    rng = np.random.default_rng(0)
    values = [kernel.numpy()]
    for step in range(1, 8):
        # (1 + t) / (10 + t) < 0.5 for t < 8: the warm-up rule sets every decay here.
        kernel.assign(rng.normal(size=kernel.shape).astype(np.float32))
        values.append(kernel.numpy())
        average.update(tf.constant(step, tf.int64))
    expected = _manual(values, 0.5)
    got = average.averages[kernel.name].numpy()
    # 3 roundings per step, 7 steps, on values of magnitude < 5 (normal draws).
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerances.elementwise_rtol(21) * 5)
    assert not np.allclose(got, kernel.numpy())
    raw = kernel.numpy()
    with average.applied():
        np.testing.assert_array_equal(kernel.numpy(), got)
    np.testing.assert_array_equal(kernel.numpy(), raw)
    average.reset()
    np.testing.assert_array_equal(average.averages[kernel.name].numpy(), raw)


def test_the_decay_warms_up_as_num_updates_says():
    model = _model()
    average = weight_average.WeightAverage(model, 0.999)
    bias = model.get_layer("logits").bias
    bias.assign(np.ones(5, np.float32))
    average.update(tf.constant(1))  # d = min(0.999, 2/11): the average moves 9/11 of the way.
    np.testing.assert_allclose(
        average.averages[bias.name].numpy(), 9 / 11, rtol=tolerances.elementwise_rtol(4)
    )


def test_checkpoints_hold_the_averages_and_restore_them(tmp_path):
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    model.optimizer.build(model.trainable_variables)
    average = weight_average.WeightAverage(model, 0.9)
    for var in average.averages.values():
        var.assign(var + 1.0)
    ckpts = checkpointing.RunCheckpoints(
        str(tmp_path), model, model.optimizer, averages=average.averages
    )
    path = ckpts.save(2)
    init = ckpts.save_init()
    assert checkpointing.has_averages(path) and checkpointing.has_averages(init)
    saved = {v.name: v.numpy() for v in model.variables}
    fresh = _model()
    checkpointing.restore_weights(fresh, path, ema=True)
    for var in fresh.variables:
        expected = saved[var.name] + (1.0 if var.name in average.averages else 0.0)
        np.testing.assert_array_equal(var.numpy(), np.float32(expected), err_msg=var.name)
    checkpointing.restore_weights(fresh, path)
    for var in fresh.variables:
        np.testing.assert_array_equal(var.numpy(), saved[var.name], err_msg=var.name)

    plain = checkpointing.RunCheckpoints(str(tmp_path / "plain"), model, model.optimizer)
    plain_path = plain.save(2)
    assert not checkpointing.has_averages(plain_path)
    with pytest.raises(checkpointing.NoWeightAverage, match="holds no weight averages"):
        checkpointing.restore_weights(fresh, plain_path, ema=True)


def test_scores_average_follows_the_config_unless_told():
    config = retina.get_config("test")
    assert not weight_average.scores_average(config)
    assert not weight_average.scores_average(config, ema=False)
    with pytest.raises(ValueError, match="kept no weight average"):
        weight_average.scores_average(config, ema=True)
    config.train.ema_decay = 0.99
    assert weight_average.scores_average(config)
    assert not weight_average.scores_average(config, ema=False)
    config.eval.use_ema = False
    assert not weight_average.scores_average(config)
    assert weight_average.scores_average(config, ema=True)
