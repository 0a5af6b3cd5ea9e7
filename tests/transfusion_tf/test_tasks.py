import numpy as np
import pytest
import tensorflow as tf

from tests import tolerances
from transfusion_tf import tasks

# A float32 loss: softplus/log per entry (four roundings each) and a mean over 10 entries.
LOSS_RTOL = tolerances.elementwise_rtol(4) + tolerances.reduction_atol(10, 1.0)


def test_referable_score_is_sum_of_grades_2_to_4():
    task = tasks.get_task("dr_grade")
    # Probabilities chosen so grade 1 has the argmax yet the referable score is 0.6.
    probs = np.array([[0.1, 0.3, 0.2, 0.2, 0.2], [0.5, 0.4, 0.05, 0.03, 0.02]])
    columns = task.prediction_columns(np.log(probs))
    np.testing.assert_allclose(columns["referable_score"], [0.6, 0.1])
    np.testing.assert_allclose(columns["p_grade1"], [0.3, 0.4])


def test_dr_metrics_by_hand():
    task = tasks.get_task("dr_grade")
    labels = np.array([0, 1, 2, 4])
    probs = np.array(
        [
            [0.7, 0.1, 0.1, 0.05, 0.05],  # referable score .2
            [0.2, 0.3, 0.3, 0.1, 0.1],  # .5
            [0.1, 0.5, 0.2, 0.1, 0.1],  # .4, predicted grade 1
            [0.0, 0.1, 0.1, 0.1, 0.7],  # .9
        ]
    )
    out = task.evaluate(labels, np.log(probs + 1e-12), bootstrap_samples=0)
    # Referable: rows 2, 3. Pairs: (.4 > .2), (.4 < .5), (.9 > .2), (.9 > .5) -> 3/4.
    assert out["auc"] == pytest.approx(0.75)
    assert out["accuracy"] == pytest.approx(0.75)  # Argmax grades 0, 1, 1, 4.
    expected_loss = -np.mean(np.log([0.7, 0.3, 0.2, 0.7]))
    assert out["loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert out["examples"] == 4 and np.isnan(out["auc_ci_low"])
    # One-vs-rest, each grade's one positive against the other three rows:
    #   grade 0: .7 above .2, .1, .0 -> 3/3; grade 1: .3 above .1, .1, below .5 -> 2/3;
    #   grade 2: .2 above .1, .1, below .3 -> 2/3.
    assert out["auc_grade0"] == pytest.approx(1.0)
    assert out["auc_grade1"] == pytest.approx(2 / 3)
    assert out["auc_grade2"] == pytest.approx(2 / 3)
    assert np.isnan(out["auc_grade3"])  # No grade-3 example: one-vs-rest AUC undefined.
    assert out["auc_grade4"] == 1.0
    # Quadratic kappa, grades 0, 1, 2, 4 against argmax 0, 1, 1, 4 (row 1 ties grades 1
    # and 2; argmax takes 1). Observed sum of (i - j)^2: 1 (the 2 -> 1). Expected: label
    # counts t = (1, 1, 1, 0, 1), predicted p = (1, 2, 0, 0, 1), sum t_i p_j (i - j)^2 / 4
    # = (18 + 10 + 10 + 34) / 4 = 18 (rows i = 0, 1, 2, 4). Kappa = 1 - 1/18.
    assert out["kappa"] == pytest.approx(17 / 18)
    # AUPRC as average precision over scores .9 (+), .5, .4 (+), .2: precision 1 at
    # recall 1/2, 2/3 at recall 1 -> (1 + 2/3) / 2.
    assert out["auprc"] == pytest.approx(5 / 6)


def test_shape_check_and_unknown_task():
    with pytest.raises(ValueError, match=r"logits shape \(2, 3\) != \(2, 5\)"):
        tasks.get_task("dr_grade").evaluate(np.array([0, 1]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="valid: chexpert5, classification, dr_grade"):
        tasks.get_task("chexpert_200")
    with pytest.raises(ValueError, match=r"'dr_grade' does not take options \['num_classes'\]"):
        tasks.get_task("dr_grade", num_classes=5)


def test_classification_metrics_by_hand():
    task = tasks.get_task("classification", num_classes=4, top_k=2)
    assert task.num_outputs == 4 and task.main_metric == "accuracy"
    logits = np.log(
        np.array(
            [
                [0.7, 0.1, 0.1, 0.1],  # label 0: top-1 right
                [0.4, 0.3, 0.2, 0.1],  # label 1: second -> top-2 right
                [0.1, 0.2, 0.3, 0.4],  # label 0: last -> wrong
                [0.25, 0.25, 0.25, 0.25],  # label 2: ties -> classes 0, 1 first: wrong
            ]
        )
    )
    labels = np.array([0, 1, 0, 2])
    out = task.evaluate(labels, logits, bootstrap_samples=0)
    assert out["accuracy"] == 0.25 and out["top2"] == 0.5 and out["examples"] == 4
    assert out["loss"] == pytest.approx(-np.mean(np.log([0.7, 0.3, 0.1, 0.25])))
    with_ci = task.evaluate(labels, logits, bootstrap_samples=200)
    assert 0.0 <= with_ci["accuracy_ci_low"] <= 0.25 <= with_ci["accuracy_ci_high"] <= 1.0
    columns = task.prediction_columns(logits)
    np.testing.assert_array_equal(columns["predicted"], [0, 0, 3, 0])
    np.testing.assert_allclose(columns["p_predicted"], [0.7, 0.4, 0.4, 0.25])
    assert [m.name for m in task.keras_metrics()] == ["accuracy", "top2"]
    assert tasks.get_task("classification", num_classes=3).k == 3  # top-5 capped at N
    with pytest.raises(ValueError, match="num_classes >= 2"):
        tasks.get_task("classification")


def _targets(labels, mask):
    return np.stack([np.asarray(labels, np.float32), np.asarray(mask, np.float32)], axis=1)


def test_masked_bce_by_hand():
    loss = tasks.get_task("chexpert5").loss()
    y = _targets(np.ones((2, 5)), [[1, 1, 1, 1, 1], [1, 0, 0, 0, 1]])
    # Zero logits: every entry costs log 2; 7 of 10 entries count, the mean is over all 10.
    assert float(loss(y, np.zeros((2, 5), np.float32))) == pytest.approx(
        0.7 * np.log(2), rel=LOSS_RTOL
    )
    logits = np.array([[2.0, -1.0, 0.5, 0.0, 3.0]] * 2, np.float32)
    labels = np.array([[1, 0, 0, 1, 1], [0, 1, 1, 1, 0]], np.float32)
    mask = np.array([[1, 1, 0, 1, 1], [1, 1, 1, 0, 0]], np.float32)
    p = 1 / (1 + np.exp(-logits))
    bce = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    expected = (bce * mask).sum() / 10
    assert float(loss(_targets(labels, mask), logits)) == pytest.approx(expected, rel=LOSS_RTOL)
    assert np.isfinite(float(loss(_targets(labels, mask), 1e4 * logits)))  # Stable.
    # Inside a compiled model the loss sees (batch, 2, 5) targets as the pipeline feeds them.
    model = tf.keras.Sequential([tf.keras.Input((5,)), tf.keras.layers.Dense(5, use_bias=False)])
    model.compile(loss=loss)
    model.layers[0].set_weights([np.eye(5, dtype=np.float32)])
    assert model.evaluate(logits, _targets(labels, mask), verbose=0) == pytest.approx(
        expected,
        rel=LOSS_RTOL + tolerances.reduction_atol(5, 1.0),  # and an identity Dense
    )


def test_multilabel_metrics_by_hand():
    task = tasks.get_task("chexpert5")
    assert task.num_outputs == 5 and task.main_metric == "mean_auc"
    labels = np.array(
        [[1, 1, 0, 0, 1], [0, 1, 1, 0, 0], [1, 0, 1, 1, 0], [0, 0, 0, 1, 1]], np.float32
    )
    mask = np.ones_like(labels)
    mask[3, 1] = 0  # Row 3 does not count for Cardiomegaly.
    probs = np.array(
        [
            [0.9, 0.2, 0.1, 0.3, 0.8],
            [0.4, 0.7, 0.6, 0.2, 0.3],
            [0.3, 0.1, 0.5, 0.9, 0.4],
            [0.2, 0.99, 0.2, 0.8, 0.35],
        ]
    )
    out = task.evaluate(_targets(labels, mask), np.log(probs / (1 - probs)), bootstrap_samples=0)
    # Atelectasis: positives .9 .3 vs negatives .4 .2: pairs (.9>.4)(.9>.2)(.3<.4)(.3>.2) -> 3/4.
    assert out["auc_atelectasis"] == pytest.approx(0.75)
    # Cardiomegaly without row 3 (.99 would be a negative above every positive): .2 .7 vs .1.
    assert out["auc_cardiomegaly"] == pytest.approx(1.0) and out["labelled_cardiomegaly"] == 3
    assert out["auc_consolidation"] == pytest.approx(1.0)  # .6 .5 vs .1 .2.
    assert out["auc_edema"] == pytest.approx(1.0)  # .9 .8 vs .3 .2.
    assert out["auc_pleural_effusion"] == pytest.approx(0.75)  # .8 .35 vs .3 .4: (.35 < .4) -> 3/4.
    assert out["mean_auc"] == pytest.approx(np.mean([0.75, 1, 1, 1, 0.75]))
    assert out["positives_edema"] == 2 and out["examples"] == 4
    bce = -(labels * np.log(probs) + (1 - labels) * np.log(1 - probs))
    assert out["loss"] == pytest.approx((bce * mask).sum() / mask.sum())
    assert np.isnan(out["mean_auc_ci_low"])
    columns = task.prediction_columns(np.log(probs / (1 - probs)))
    np.testing.assert_allclose(columns["p_pleural_effusion"], probs[:, 4])


def test_multi_label_task_takes_its_outputs_from_the_options():
    task = tasks.get_task("multi_label", labels=("Pleural Effusion", "edema"))
    assert task.num_outputs == 2 and task.keys == ("pleural_effusion", "edema")
    assert task.main_metric == "mean_auc" and task.name == "multi_label"
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.float32)
    probs = np.array([[0.8, 0.3], [0.3, 0.6], [0.6, 0.7], [0.1, 0.4]])
    out = task.evaluate(
        _targets(labels, np.ones_like(labels)), np.log(probs / (1 - probs)), bootstrap_samples=0
    )
    assert out["auc_pleural_effusion"] == pytest.approx(1.0)  # .8 .6 vs .3 .1.
    assert out["auc_edema"] == pytest.approx(1.0)  # .6 .7 vs .3 .4.
    assert list(task.target_columns(_targets(labels, np.ones_like(labels)))) == [
        "label_pleural_effusion", "mask_pleural_effusion", "label_edema", "mask_edema",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"multi_label needs task_options.labels"):
        tasks.get_task("multi_label")


def test_multilabel_bootstrap_resamples_patients():
    task = tasks.get_task("chexpert5")
    rng = np.random.default_rng(0)
    labels = (rng.uniform(size=(60, 5)) < 0.4).astype(np.float32)
    logits = 2 * labels + rng.normal(size=(60, 5))
    out = task.evaluate(
        _targets(labels, np.ones_like(labels)), logits, np.arange(60) // 2, bootstrap_samples=100
    )
    for key in ("mean_auc", "auc_edema", "auc_atelectasis"):
        assert out[f"{key}_ci_low"] < out[key] < out[f"{key}_ci_high"], key


def test_study_aggregation_by_hand():
    task = tasks.get_task("chexpert5")
    probs = np.array([[0.2] * 5, [0.6] * 5, [0.9] * 5])
    logits = np.log(probs / (1 - probs))
    labels = np.array([[1, 0, 0, 0, 0]] * 2 + [[0, 0, 0, 0, 1]], np.float32)
    mask = np.array([[1, 1, 1, 1, 0]] * 2 + [[1] * 5], np.float32)
    studies = np.array(["p2/s1", "p2/s1", "p1/s1"])  # Kept in order of first appearance.
    targets, mean_logits, first = task.aggregate(_targets(labels, mask), logits, studies, "mean")
    np.testing.assert_allclose(1 / (1 + np.exp(-mean_logits)), [[0.4] * 5, [0.9] * 5], 1e-6)
    np.testing.assert_array_equal(targets[:, 0], labels[1:])
    np.testing.assert_array_equal(targets[:, 1], mask[1:])
    np.testing.assert_array_equal(first, [0, 2])
    _, max_logits, _ = task.aggregate(_targets(labels, mask), logits, studies, "max")
    np.testing.assert_allclose(1 / (1 + np.exp(-max_logits)), [[0.6] * 5, [0.9] * 5], 1e-6)
    with pytest.raises(ValueError, match="unknown aggregation 'median'"):
        task.aggregate(_targets(labels, mask), logits, studies, "median")
    with pytest.raises(ValueError, match=r"targets \(3, 5\) / logits"):
        task.evaluate(labels, logits)
