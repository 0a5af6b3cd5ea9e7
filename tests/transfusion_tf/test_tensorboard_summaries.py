"""TensorBoard details of each evaluation: block histograms, gradient norms, ROC/PR curves,
confusion matrices; read back from the event files of a tiny run and checked by hand."""

import collections
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tests import tolerances
from transfusion_tf import experiment, tasks, tensorboard_summaries, trainer
from transfusion_tf.configs import chexpert as chexpert_config
from transfusion_tf.configs import retina

BLOCKS = ("block1", "block2", "block3", "block4", "logits")  # cbr_tiny's endpoints with variables.
# cbr_tiny widths (4, 8, 8, 8), 5x5 convs on RGB, 8 -> 5 logits: kernel sizes and filters.
KERNEL_VALUES = {"block1": 5 * 5 * 3 * 4, "block2": 5 * 5 * 4 * 8, "block3": 5 * 5 * 8 * 8,
                 "block4": 5 * 5 * 8 * 8, "logits": 8 * 5}  # fmt: skip
FILTERS = {"block1": 4, "block2": 8, "block3": 8, "block4": 8, "logits": 5}


def events(directory) -> dict:
    """{step: {tag: (plugin name, value ndarray)}} of a TensorBoard event directory."""
    found = collections.defaultdict(dict)
    for name in os.listdir(directory):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                found[event.step][value.tag] = (plugin, tf.make_ndarray(value.tensor))
    return dict(found)


def _png_shape(image_summary: np.ndarray) -> tuple:
    width, height, png = image_summary
    decoded = tf.io.decode_png(png).numpy()
    assert decoded.shape[:2] == (int(height), int(width))
    return decoded.shape


@pytest.fixture(scope="module")
def details_run(eyepacs_root, tmp_path_factory):
    """A retina test run with details, no bootstrap (NaN CIs) and the valid split scored
    again at the end (predictions_valid.csv holds the step-6 predictions)."""
    workdir = str(tmp_path_factory.mktemp("details_run"))
    config = retina.get_config("test")
    config.data.root = eyepacs_root
    config.eval.tensorboard_details = True
    config.eval.final_splits = ("valid",)
    config.eval.bootstrap_samples = 0
    config.eval.log_bootstrap_samples = 0
    trainer.train_and_evaluate(config, workdir)
    return workdir, events(os.path.join(workdir, "tensorboard", "eval"))


@pytest.mark.slow
def test_every_evaluation_writes_the_details_with_their_tags_and_shapes(details_run):
    _, found = details_run
    assert sorted(found) == [2, 4, 6]
    for step, values in found.items():
        plugins = {tag: plugin for tag, (plugin, _) in values.items()}
        expected = {
            **{f"weights/{b}": "histograms" for b in BLOCKS},
            **{f"gradient_norms/{b}": "histograms" for b in BLOCKS},
            **{f"gradient_norm/{b}": "scalars" for b in BLOCKS},
            "pr_curve/referable_dr": "pr_curves",
            "roc_pr_curves": "images",
            "confusion_matrix": "images",
            "confusion_matrix_counts/grade": "text",
        }
        assert expected.items() <= plugins.items(), step
        assert set(plugins) - set(expected) == {"loss", "auc", "auprc", "kappa", "accuracy"} | {
            f"auc_grade{k}" for k in range(5)
        }  # The scalars; NaN CIs (no bootstrap) are not written.
        for block in BLOCKS:  # Histogram rows: (left edge, right edge, count).
            assert values[f"weights/{block}"][1][:, 2].sum() == KERNEL_VALUES[block]
            assert values[f"gradient_norms/{block}"][1][:, 2].sum() == FILTERS[block]
            assert values[f"gradient_norm/{block}"][1] > 0
        assert values["pr_curve/referable_dr"][1].shape == (6, 201)
        assert _png_shape(values["roc_pr_curves"][1]) == (320, 720, 3)  # 9 x 4 in at 80 dpi.
        assert _png_shape(values["confusion_matrix"][1]) == (348, 348, 3)  # 0.55 * 5 + 1.6 in.
        assert values["confusion_matrix_counts/grade"][1].shape == (6, 6)


@pytest.mark.slow
def test_counts_match_a_hand_count_of_the_predictions_csv(details_run):
    workdir, found = details_run
    predictions = pd.read_csv(os.path.join(workdir, "predictions_valid.csv"))  # Step 6.
    grades = [f"p_grade{k}" for k in range(5)]
    predicted = predictions[grades].to_numpy().argmax(axis=1)
    hand = [[0] * 5 for _ in range(5)]
    for true, guess in zip(predictions["label"], predicted, strict=True):
        hand[true][guess] += 1
    table = found[6]["confusion_matrix_counts/grade"][1].astype(str)
    assert list(table[0]) == ["true (rows) / predicted (columns)"] + [
        f"grade {k}" for k in range(5)
    ]
    assert [list(row[1:].astype(int)) for row in table[1:]] == hand
    assert [row[0] for row in table[1:]] == [f"grade {k}" for k in range(5)]
    curve = found[6]["pr_curve/referable_dr"][1]  # Rows tp, fp, tn, fn, precision, recall.
    referable = predictions["label"] >= 2
    score = predictions["referable_score"]
    for index, threshold in ((0, 0.0), (100, 0.5), (200, 1.0)):
        tp, fp = (
            int((referable & (score >= threshold)).sum()),
            int((~referable & (score >= threshold)).sum()),
        )
        assert list(curve[:4, index]) == [tp, fp, (~referable).sum() - fp, referable.sum() - tp]


@pytest.mark.slow
def test_the_console_shows_progress_the_final_evaluation_and_no_nan(details_run):
    workdir, _ = details_run
    log = open(os.path.join(workdir, "train.log")).read()
    steps = [line.split(" INFO ")[1] for line in log.splitlines() if " INFO step " in line]
    assert [s.split("  ")[0] for s in steps] == [f"step {k}/6" for k in range(1, 7)]
    assert all(" images/s  ETA 0:" in s for s in steps[:-1]) and "ETA" not in steps[-1]
    assert "evaluating the valid split with the step-6 weights ..." in log
    final = log[log.index("final valid:") :]
    assert "referable-DR AUC" in final and "CI" not in final
    evals = [line for line in log.splitlines() if " eval step " in line]
    assert len(evals) == 3 and "nan" not in log and "auc_ci_low" not in log


def _chexpert_arrays():
    """6 views of 4 studies, 5 outputs; `edema` counted only where its label is 1."""
    task = tasks.get_task("chexpert5")
    label = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 1, 1], [1, 1, 0, 1, 0],
                      [0, 0, 1, 1, 1], [1, 0, 0, 1, 1], [0, 1, 1, 1, 0]], np.float32)  # fmt: skip
    mask = np.ones_like(label)
    mask[2, 1] = mask[5, 4] = 0
    # No study mean of probabilities lies within rounding of the 0.5 threshold (a view's
    # logits and their negation would average to 0.5 exactly, decided by the last bit).
    logits = np.array([[2, -1, 0.5, -3, 1], [-1.5, 1.5, -0.25, 2.5, 2], [0.1, 0.2, -1, 1, -1],
                       [-0.1, -2, 1, 2, 0.5], [1.5, 0.5, -2, -1, 3], [-1, 2, 0, 0.5, -2]],
                      np.float32)  # fmt: skip
    table = pd.DataFrame({"study": ["a", "a", "b", "c", "c", "d"]})
    for j, key in enumerate(task.keys):
        table[f"label_{key}"], table[f"mask_{key}"] = label[:, j], mask[:, j]
    return task, label, mask, logits, table


def _hand_confusion(true, predicted):
    counts = [[0, 0], [0, 0]]
    for t, p in zip(true, predicted, strict=True):
        counts[int(t)][int(p)] += 1
    return counts


@pytest.mark.parametrize("aggregate", ["none", "mean"])
def test_multi_label_tables_per_pathology_and_curves_without_single_class_ones(tmp_path, aggregate):
    task, label, mask, logits, table = _chexpert_arrays()
    config = chexpert_config.get_config("test")
    config.eval.aggregate = aggregate
    model = experiment.build_model(config)
    targets = np.stack([label, mask], axis=1)
    dataset = tf.data.Dataset.from_tensor_slices((np.zeros([6, 32, 32, 3], np.float32), targets))
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=3):
        details = tensorboard_summaries.EvaluationDetails(model, config)
        details.write(logits=logits, table=table, dataset=dataset.batch(4))
    writer.close()
    found = events(str(tmp_path))[3]
    if aggregate == "mean":  # Studies: mean probability of the views; labels max, masks max.
        probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
        groups = [[0, 1], [2], [3, 4], [5]]
        scores = np.array([probs[g].mean(axis=0) for g in groups])
        label = np.array([(label * mask)[g].max(axis=0) for g in groups])
        mask = np.array([mask[g].max(axis=0) for g in groups])
    else:
        scores = 1 / (1 + np.exp(-logits.astype(np.float64)))
    for j, key in enumerate(task.keys):
        counted = mask[:, j] > 0
        hand = _hand_confusion(label[counted, j], scores[counted, j] >= 0.5)
        counts = found[f"confusion_matrix_counts/{key}"][1].astype(str)
        assert [list(row[1:].astype(int)) for row in counts[1:]] == hand, key
        two_classes = len(set(label[counted, j])) == 2
        assert (f"pr_curve/{key}" in found) == two_classes, key
    assert "pr_curve/edema" not in found  # Every edema label is 1.
    assert {"roc_pr_curves", "confusion_matrix"} <= set(found)
    height, width, _ = _png_shape(found["confusion_matrix"][1])
    assert (height, width) == (216, 5 * 216)  # Five panels of 0.55 * 2 + 1.6 in at 80 dpi.


def test_pr_curve_data_counts_by_hand():
    labels = np.array([1, 0, 1, 0, 0, 1], bool)
    scores = np.array([0.9, 0.8, 0.5, 0.5, 0.1, 0.0])
    data = tensorboard_summaries.pr_curve_data(labels, scores, 5)  # Thresholds 0 .25 .5 .75 1.
    assert data.shape == (6, 5) and data.dtype == np.float32
    assert data[0].tolist() == [3, 2, 2, 1, 0]  # tp: positives scoring >= threshold.
    assert data[1].tolist() == [3, 2, 2, 1, 0]  # fp
    assert data[2].tolist() == [0, 1, 1, 2, 3]  # tn
    assert data[3].tolist() == [0, 1, 1, 2, 3]  # fn
    assert data[4].tolist() == [0.5, 0.5, 0.5, 0.5, 0.0]  # No prediction at 1: precision 0.
    np.testing.assert_array_equal(data[5], np.float32([1, 2 / 3, 2 / 3, 1 / 3, 0]))


def test_confusion_tables_of_each_task():
    dr = tasks.get_task("dr_grade")
    logits = np.eye(5, dtype=np.float32)[[0, 2, 2, 4]]
    grade = tensorboard_summaries.confusion_tables(dr, np.array([0, 1, 2, 4]), logits)["grade"]
    expected = np.zeros((5, 5), int)
    expected[0, 0] = expected[1, 2] = expected[2, 2] = expected[4, 4] = 1
    np.testing.assert_array_equal(grade.counts, expected)
    assert grade.table()[3].tolist() == ["grade 2", "0", "0", "1", "0", "0"]
    three = tasks.get_task("classification", num_classes=3)
    tables = tensorboard_summaries.confusion_tables(three, np.array([2, 0]), np.eye(3)[[2, 1]])
    assert tables["class"].counts.tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 1]]
    many = tasks.get_task("classification", num_classes=21)
    assert tensorboard_summaries.confusion_tables(many, np.array([0]), np.zeros([1, 21])) == {}
    assert tensorboard_summaries.binary_scores(three, np.array([2, 0]), np.eye(3)[[2, 1]]) == {}


def test_gradients_inside_a_strategy_match_a_direct_computation_and_move_nothing():
    config = retina.get_config("test")
    config.model.weight_decay = 0.01  # Part of the training loss: in the gradient too.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():  # As in `fit`: the variables are mirrored, the context cross-replica.
        model = experiment.build_model(config)
        compute = tensorboard_summaries.gradient_function(model, tasks.DRGradeTask().loss())
        images = tf.random.stateless_uniform([4, 32, 32, 3], seed=[1, 2])
        labels = tf.constant([0, 2, 4, 1])
        before = [v.numpy() for v in model.variables]
        grads = compute(images, labels)
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.variables, strict=True))
    with tf.GradientTape() as tape:  # Outside the scope: the default replica context.
        logits = model(images, training=False)
        loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
        loss += tf.add_n(model.losses)
    direct = tape.gradient(loss, model.trainable_variables)
    assert len(model.losses) == 5  # One L2 term per kernel.
    assert len(grads) == len(model.trainable_variables) == 14  # 4 x (kernel, gamma, beta) + 2.
    # Traced against eager: the same sums, maybe blocked differently. Longest reduction: a
    # block1 kernel gradient over 4 images x 32 x 32 positions; 5 layers there and back.
    rtol = tolerances.network_rtol(4 * 32 * 32, depth=10)
    for variable, expected in zip(model.trainable_variables, direct, strict=True):
        difference = np.abs(grads[variable.ref()].numpy() - expected.numpy()).max()
        assert difference <= rtol * np.abs(expected.numpy()).max(), variable.name
