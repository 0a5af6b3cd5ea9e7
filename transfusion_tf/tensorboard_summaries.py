"""What TensorBoard shows of each evaluation beyond its scalars (`eval.tensorboard_details`).

The trainer writes these into `tensorboard/eval/` at every evaluation, at the evaluated
step, next to the metric scalars:

  weights/<block>          histogram: every kernel value of the block (conv and dense
                           kernels; batch norm and biases left out, their scales differ)
  gradient_norms/<block>   histogram: the L2 norm of the gradient of each output filter
                           (unit) of the block's kernels
  gradient_norm/<block>    scalar: the L2 norm of the block's whole gradient (every
                           trainable variable of it)
  roc_pr_curves            image: ROC and precision-recall curves of the task's binary
                           scores, one line per score
  pr_curve/<name>          each precision-recall curve for TensorBoard's PR Curves tab
                           (201 thresholds evenly in [0, 1])
  confusion_matrix         image: counts, true class by row, one panel per table
  confusion_matrix_counts/<name>  text: the same counts as a table

Blocks are the model's endpoints (`models.variable_endpoints`), bottom to top: one
histogram per block, never one per variable, keeps the cost bounded.

Gradients: of the training loss (the task's loss plus weight decay) at the current
weights, on one fixed batch, recomputed at each evaluation: the first examples of the
evaluation stream (at most `train.batch_size / replicas`), in inference mode. Not a
training batch: drawing one would advance the training stream that resuming replays
exactly, and training-mode batch norm would move its statistics; the same batch at every
evaluation also keeps the histograms comparable across steps.

Binary scores (curves): dr_grade, the referable-DR score P(grade >= 2) against
grade >= 2 (its main metric, `auc`); multi-label tasks, each output's probability against
its label over the rows whose mask counts (the main metric averages their AUCs);
classification, none. A score whose rows hold one class has no curve.

Confusion tables: dr_grade, true grade by argmax grade (`grade`, 5 x 5); classification,
true class by argmax class (`class`) up to `MAX_CONFUSION_CLASSES` classes; multi-label,
one 2 x 2 per output at probability 0.5 over its counted rows (rows true negative and
positive, columns predicted negative and positive), named by the output's key.

With `eval.aggregate` the curves and tables count studies, as the metrics do.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn import metrics as skm
from tensorboard.plugins.pr_curve import metadata as pr_curve_metadata

from transfusion_tf import experiment, metrics, models, tasks

MAX_CONFUSION_CLASSES = 20  # A larger matrix is unreadable as an image.
PR_THRESHOLDS = 201  # TensorBoard's default for PR curves.
DPI = 80


@dataclasses.dataclass(frozen=True)
class Confusion:
    """Counts of true (rows) by predicted (columns) classes.

    Attributes:
      rows: names of the true classes.
      columns: names of the predicted classes.
      counts: (len(rows), len(columns)) int64.
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    counts: np.ndarray

    def table(self) -> np.ndarray:
        """The counts as strings with a header row and column, (rows + 1, columns + 1)."""
        header = [["true (rows) / predicted (columns)", *self.columns]]
        body = [
            [name, *(str(int(c)) for c in row)]
            for name, row in zip(self.rows, self.counts, strict=True)
        ]
        return np.array(header + body, dtype=object).astype(str)


class EvaluationDetails:
    """Writes the summaries of the module docstring at each evaluation of one run's model.

    Built once per run: it groups the variables into blocks and traces the gradient
    computation once (again only if the set of trainable variables changes).

    Args:
      model: the run's registry model (it records its endpoints).
      config: the run's config.
    """

    def __init__(self, model: tf.keras.Model, config: ml_collections.ConfigDict):
        self._task = experiment.get_task(config)
        self._aggregate = config.eval.get("aggregate", "none")
        self._blocks = block_variables(model)
        self._gradients = gradient_function(model, self._task.loss())
        replicas = model.distribute_strategy.num_replicas_in_sync
        self._count = max(1, config.train.batch_size // replicas)

    def write(self, *, logits: np.ndarray, table: pd.DataFrame, dataset: tf.data.Dataset) -> None:
        """Writes one evaluation's summaries to the default writer, at its step (call inside
        `writer.as_default(step=step)`).

        Args:
          logits: (n, num_outputs) float32 per example, as `experiment.evaluate_split`
            returns them.
          table: its per-example table (`label`, or multi-label `label_<key>` and
            `mask_<key>`; `study` where the dataset has studies).
          dataset: the evaluated split's eval stream of (images, targets) batches.
        """
        labels, scored = scored_arrays(self._task, table, logits, self._aggregate)
        write_weight_histograms(self._blocks)
        images, targets = next(iter(dataset))
        grads = self._gradients(images[: self._count], targets[: self._count])
        write_gradient_norms(self._blocks, grads)
        write_curves(binary_scores(self._task, labels, scored))
        write_confusion(confusion_tables(self._task, labels, scored))


def scored_arrays(task, table: pd.DataFrame, logits: np.ndarray, aggregate: str):
    """(labels, logits) as the task scores them: the table's targets, views combined per
    study under `aggregate` (`none`, `mean`, `max`)."""
    if isinstance(task, tasks.MultiLabelTask):
        label = table[[f"label_{key}" for key in task.keys]].to_numpy(np.float32)
        mask = table[[f"mask_{key}" for key in task.keys]].to_numpy(np.float32)
        labels = np.stack([label, mask], axis=1)
    else:
        labels = table["label"].to_numpy().astype(np.int64)
    logits = np.asarray(logits, np.float32)
    if aggregate != "none":
        labels, logits, _ = task.aggregate(labels, logits, table["study"].to_numpy(), aggregate)
    return labels, logits


def block_variables(model: tf.keras.Model) -> dict[str, list[tf.Variable]]:
    """{endpoint: its variables}, endpoints bottom to top, those without variables left out."""
    owner = models.variable_endpoints(model)
    blocks = {endpoint: [] for endpoint, _ in models.get_endpoint_layers(model)}
    for variable in model.variables:
        blocks[owner[variable.name]].append(variable)
    return {block: variables for block, variables in blocks.items() if variables}


def write_weight_histograms(blocks: dict[str, list[tf.Variable]]) -> None:
    """`weights/<block>`: one histogram of all kernel values (rank >= 2) of each block."""
    for block, variables in blocks.items():
        kernels = [tf.reshape(v, [-1]) for v in variables if v.shape.rank >= 2]
        if kernels:
            tf.summary.histogram(f"weights/{block}", tf.concat(kernels, 0))


def gradient_function(model: tf.keras.Model, loss: tf.keras.losses.Loss):
    """A function (images, targets) -> {variable.ref(): gradient} on one batch.

    The gradient is of `loss` (its batch mean, as `fit` reduces it) plus the model's
    regularization losses, the model in inference mode (no statistics move), taken in
    the model's strategy's replica context (its variables are mirrored) on the first
    local replica. Trainable variables the loss does not reach (an auxiliary head) are
    left out.
    """
    strategy = model.distribute_strategy

    def replica_gradients(images, targets):
        trainable = model.trainable_variables
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=False), tf.float32)
            # `call`, unreduced: Keras refuses a Loss's own reduction inside a strategy.
            value = tf.reduce_mean(loss.call(targets, logits))
            if model.losses:
                value += tf.add_n([tf.cast(term, tf.float32) for term in model.losses])
        grads = tape.gradient(value, trainable)
        return {i: g for i, g in enumerate(grads) if g is not None}

    @tf.function
    def traced(images, targets, names):
        del names  # Only keys the trace: a changed trainable set traces again.
        return strategy.run(replica_gradients, args=(images, targets))

    def compute(images, targets) -> dict:
        trainable = model.trainable_variables
        found = traced(images, targets, tuple(v.name for v in trainable))
        first = strategy.experimental_local_results
        return {trainable[i].ref(): first(g)[0] for i, g in found.items()}

    return compute


def filter_norms(gradient: tf.Tensor) -> tf.Tensor:
    """(out,) L2 norms of a kernel gradient's output filters (its last axis)."""
    gradient = tf.convert_to_tensor(gradient)
    return tf.norm(tf.reshape(gradient, [-1, gradient.shape[-1]]), axis=0)


def write_gradient_norms(blocks: dict[str, list[tf.Variable]], grads: dict) -> None:
    """`gradient_norm/<block>` scalars and `gradient_norms/<block>` per-filter histograms."""
    for block, variables in blocks.items():
        pairs = [(v, grads[v.ref()]) for v in variables if v.ref() in grads]
        if not pairs:
            continue  # Frozen or not reached by the loss.
        squares = [tf.reduce_sum(tf.square(tf.convert_to_tensor(g))) for _, g in pairs]
        tf.summary.scalar(f"gradient_norm/{block}", tf.sqrt(tf.add_n(squares)))
        filters = [filter_norms(g) for v, g in pairs if v.shape.rank >= 2]
        if filters:
            tf.summary.histogram(f"gradient_norms/{block}", tf.concat(filters, 0))


def binary_scores(task, labels: np.ndarray, logits: np.ndarray) -> dict:
    """{name: (bool labels (m,), float64 scores (m,))} of the task's binary scores (see the
    module docstring); names whose rows hold one class are left out."""
    columns = task.prediction_columns(logits)
    if isinstance(task, tasks.DRGradeTask):
        found = {"referable_dr": (labels >= tasks.REFERABLE_GRADE, columns["referable_score"])}
    elif isinstance(task, tasks.MultiLabelTask):
        found = {}
        for j, key in enumerate(task.keys):
            counted = labels[:, 1, j] > 0
            found[key] = (labels[counted, 0, j] > 0.5, columns[f"p_{key}"][counted])
    else:
        found = {}
    return {name: pair for name, pair in found.items() if len(np.unique(pair[0])) == 2}


def confusion_counts(true: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
    """(n, n) int64 counts of true class (row) by predicted class (column), classes 0..n-1."""
    true, predicted = np.asarray(true, np.int64), np.asarray(predicted, np.int64)
    return np.bincount(true * n + predicted, minlength=n * n).reshape(n, n)


def confusion_tables(task, labels: np.ndarray, logits: np.ndarray) -> dict[str, Confusion]:
    """{name: Confusion} of the task (see the module docstring)."""
    if isinstance(task, tasks.MultiLabelTask):
        found = {}
        for j, key in enumerate(task.keys):
            counted = labels[:, 1, j] > 0
            true = labels[counted, 0, j] > 0.5
            predicted = logits[counted, j] >= 0  # Probability >= 0.5.
            sides = ("negative", "positive")
            found[key] = Confusion(sides, sides, confusion_counts(true, predicted, 2))
        return found
    n = task.num_outputs
    if n > MAX_CONFUSION_CLASSES:
        return {}
    name = "grade" if isinstance(task, tasks.DRGradeTask) else "class"
    classes = tuple(f"{name} {k}" for k in range(n))
    return {name: Confusion(classes, classes, confusion_counts(labels, logits.argmax(1), n))}


def pr_curve_data(labels: np.ndarray, scores: np.ndarray, num_thresholds: int) -> np.ndarray:
    """(6, num_thresholds) float32 as TensorBoard's PR plugin stores a curve: true positive,
    false positive, true negative and false negative counts, precision and recall of
    `score >= threshold`, thresholds evenly in [0, 1] (precision 0 where no score reaches
    the threshold)."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, np.float64)
    thresholds = np.linspace(0.0, 1.0, num_thresholds)
    positive, negative = np.sort(scores[labels]), np.sort(scores[~labels])
    tp = len(positive) - np.searchsorted(positive, thresholds, side="left")
    fp = len(negative) - np.searchsorted(negative, thresholds, side="left")
    tn, fn = len(negative) - fp, len(positive) - tp
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(len(positive), 1)
    return np.stack([tp, fp, tn, fn, precision, recall]).astype(np.float32)


def write_curves(scores: dict) -> None:
    """`roc_pr_curves` (one image) and `pr_curve/<name>` for each binary score."""
    if not scores:
        return
    for name, (labels, values) in scores.items():
        meta = pr_curve_metadata.create_summary_metadata(
            display_name=name, description="", num_thresholds=PR_THRESHOLDS
        )
        data = pr_curve_data(labels, values, PR_THRESHOLDS)
        tf.summary.write(f"pr_curve/{name}", data, metadata=meta.SerializeToString())
    tf.summary.image("roc_pr_curves", curves_image(scores)[None])


def write_confusion(tables: dict[str, Confusion]) -> None:
    """`confusion_matrix` (one image) and `confusion_matrix_counts/<name>` text tables."""
    if not tables:
        return
    for name, confusion in tables.items():
        tf.summary.text(f"confusion_matrix_counts/{name}", confusion.table())
    tf.summary.image("confusion_matrix", confusion_image(tables)[None])


def curves_image(scores: dict) -> np.ndarray:
    """(height, width, 3) uint8: ROC curves left, precision-recall curves right."""
    from matplotlib.figure import Figure  # Drawing only; not needed to import the trainer.

    figure = Figure(figsize=(9, 4), dpi=DPI)
    roc, pr = figure.subplots(1, 2)
    for name, (labels, values) in scores.items():
        fpr, tpr, _ = skm.roc_curve(labels, values)
        precision, recall, _ = skm.precision_recall_curve(labels, values)
        roc.plot(fpr, tpr, label=f"{name} (AUC {metrics.roc_auc(labels, values):.3f})")
        ap = metrics.auprc(labels, values)
        pr.plot(recall, precision, drawstyle="steps-post", label=f"{name} (AP {ap:.3f})")
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall", ylim=(0, 1.02))
    for axes in (roc, pr):
        axes.legend(loc="lower right" if axes is roc else "lower left", fontsize="small")
    figure.tight_layout()
    return _pixels(figure)


def confusion_image(tables: dict[str, Confusion]) -> np.ndarray:
    """(height, width, 3) uint8: one panel of counts per table, true class by row."""
    from matplotlib.figure import Figure

    side = max(2.6, 0.55 * max(len(c.columns) for c in tables.values()) + 1.6)
    figure = Figure(figsize=(side * len(tables), side), dpi=DPI)
    for axes, (name, confusion) in zip(
        np.atleast_1d(figure.subplots(1, len(tables))), tables.items(), strict=True
    ):
        counts = confusion.counts
        axes.imshow(counts, cmap="Blues", vmin=0)
        for (i, j), count in np.ndenumerate(counts):
            dark = count > counts.max() / 2
            axes.text(j, i, str(count), ha="center", va="center", color="w" if dark else "k")
        axes.set_xticks(range(len(confusion.columns)), confusion.columns, rotation=45)
        axes.set_yticks(range(len(confusion.rows)), confusion.rows)
        axes.set(xlabel="predicted", ylabel="true", title=name)
    figure.tight_layout()
    return _pixels(figure)


def _pixels(figure) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
