"""Your own images, listed in one CSV (`data.name=csv`): N-way or multi-label classification.

Not a table of the paper: the paper's recipe (a CBR or an ImageNet network, random init or
transfer, an evaluation log for steps-to-metric) on a user's dataset. Layout
(docs/data.md): `<root>/labels.csv` with a header and one row per image, `image` (a path
relative to the root), `label` (class 0..N-1) and optionally `patient` (a patient's images
stay in one split). 80/10/10 split by patient, stratified by class; the finished run
evaluates `test` into metrics.json.

This file declares the fields a user sets for such data (`task_options.num_classes`,
`task_options.labels`, `data.options.labels_file`), so they can be overridden on the
command line: ml_collections refuses an override of a field the config does not hold.

Commands:
  python -m pipelines.inspect --dataset=csv --root=/data/mine
  python -m transfusion_tf.train --config=transfusion_tf/configs/own_data.py \
      --config.data.root=/data/mine --config.task_options.num_classes=3 --workdir=runs/mine

Variants (the part after the colon):
  (none)       N-way softmax (`task_options.num_classes`, default 2; a label at or above
               it is refused before training, naming the count needed); main metric top-1
               accuracy.
  multi_label  one sigmoid output per label column, the columns named by
               `task_options.labels` (e.g. --config.task_options.labels='("effusion","edema")');
               cells 1, 0 or blank (unknown: masked); main metric the mean ROC AUC.
  test         a few steps of a tiny CBR, for the test suite.
"""

from __future__ import annotations

from transfusion_tf.configs import variants
from transfusion_tf.configs.base import base_config


def get_config(arg: str = ""):
    variants.check("own_data", arg, ("", "multi_label", "test"))
    c = base_config()
    c.data.name = "csv"
    c.data.options.labels_file = "labels.csv"
    c.data.image_size = 224
    c.train.batch_size = 32
    variants.steps(c, total=10_000, eval_every=500, log_every=50)
    c.schedule.warmup_steps = 500
    c.task = "classification"
    c.task_options.num_classes = 2
    c.task_options.top_k = 5
    c.eval.final_splits = ("test",)
    if arg == "multi_label":
        c.task = "multi_label"
        del c.task_options["num_classes"], c.task_options["top_k"]
        c.task_options.labels = ("finding",)
        # One list of names for the reader's columns and the task's outputs.
        c.data.options.label_columns = c.task_options.get_ref("labels")
    elif arg == "test":
        variants.tiny_test(c)
        c.eval.final_splits = ()
    return c
