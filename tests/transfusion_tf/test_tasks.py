import numpy as np
import pytest

from transfusion_tf import tasks


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
    assert np.isnan(out["auc_grade3"])  # No grade-3 example: one-vs-rest AUC undefined.
    assert out["auc_grade4"] == 1.0


def test_shape_check_and_unknown_task():
    with pytest.raises(ValueError, match=r"logits shape \(2, 3\) != \(2, 5\)"):
        tasks.get_task("dr_grade").evaluate(np.array([0, 1]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="valid: classification, dr_grade"):
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
