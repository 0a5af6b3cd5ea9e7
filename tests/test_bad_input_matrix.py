"""Every bad input the project handles, in one table, each case run.

A row is (case, input, action, error, words, exit status):
  input   builds what the case starts from (a dataset copy, a config, a copy of a finished
          run, a damaged file...) with the builders below;
  action  makes the library call the binary makes (the binaries are thin shells over these
          calls, each run through `errors.run`: tests/test_errors.py checks that);
  error   the exception type raised, or None when the case is handled without stopping
          (a resume past a damaged checkpoint, skipped images...);
  words   a regex (`.` matches newlines too) the message, or without error the action's
          result, must contain;
  status  the binary's exit status: 2 for usage errors, 1 for the rest, None without error.

Error rows run through the real wrapper (`errors.wrap`), which must print one `error:`
line and exit with the status. Adding a case is adding a row; cases the pipelines readers
handle themselves in more detail stay tested in tests/pipelines/. Rows that train, or start
from a copy of the session's trained run, are `slow`.
"""

from __future__ import annotations

import glob
import io
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from ml_collections import config_flags

import errors
from errors import UsageError
from pipelines import datasets, flag_values
from pipelines.errors import DataError
from pipelines.readers import inspection
from pipelines.records import conversion
from pipelines.synthetic import eyepacs as synthetic_retina
from slim_weights import checkpoint, fetch, loading, manifest, registry
from transfusion_tf import (
    callbacks,
    checkpointing,
    evaluation,
    experiment,
    initialization,
    provenance,
    scopes,
    studies,
    surgery,
    trainer,
)
from transfusion_tf.configs import retina
from transfusion_tf.convert_checkpoint import convert_checkpoint


class Inputs:
    """What builders draw on: a scratch directory and the session's fixtures."""

    def __init__(self, tmp_path, eyepacs_root, request, monkeypatch):
        self.tmp = tmp_path
        self.eyepacs_root = eyepacs_root
        self.request = request
        self.monkeypatch = monkeypatch
        self.workdir = str(tmp_path / "workdir")  # Where `train` runs.

    @property
    def run(self) -> str:
        """The session's finished run (`retina_run`), asked for only by the rows using it."""
        return self.request.getfixturevalue("retina_run")[0]

    def path(self, name: str) -> str:
        return str(self.tmp / name)


class Row(NamedTuple):
    case: str
    input: Callable[[Inputs], object]
    action: Callable[[Inputs, object], object]
    error: type[BaseException] | None
    words: str
    status: int | None


# --- Input builders ---------------------------------------------------------------------


def _test_config(fields: dict | None):
    """`retina.py:test` with `fields` ({'train.eval_every': 0, ...}) set."""
    cfg = retina.get_config("test")
    cfg.update_from_flattened_dict(fields or {})
    return cfg


def config(fields: dict | None = None, *, root: str = "eyepacs", workdir: str = ""):
    """A `retina.py:test` config over the EyePACS fixture (`root="empty"`: an empty
    directory, so a check that needs data would fail otherwise); `workdir` names a
    setup from WORKDIRS."""

    def build(inputs: Inputs):
        cfg = _test_config(fields)
        cfg.data.root = inputs.eyepacs_root if root == "eyepacs" else inputs.path(root)
        os.makedirs(cfg.data.root, exist_ok=True)
        if workdir:
            WORKDIRS[workdir](inputs)
        return cfg

    build.over_data = root == "eyepacs" and not workdir  # `train` on it trains.
    return build


def eyepacs(labels=None, files: dict | None = None, fields: dict | None = None):
    """A config over a copy of the EyePACS fixture: `labels` edits trainLabels.csv (list of
    lines -> list of lines), `files` maps globs under the root to new bytes (None deletes)."""

    def build(inputs: Inputs):
        root = inputs.path("eyepacs")
        shutil.copytree(inputs.eyepacs_root, root)
        if labels:
            path = os.path.join(root, "trainLabels.csv")
            lines = open(path).read().splitlines()
            with open(path, "w") as f:
                f.write("\n".join(labels(lines)) + "\n")
        for pattern, data in (files or {}).items():
            for path in glob.glob(os.path.join(root, pattern)):
                if data is None:
                    os.remove(path)
                else:
                    with open(path, "wb") as f:
                        f.write(data)
        cfg = _test_config(fields)
        cfg.data.root = root
        return cfg

    return build


def line(number: int, text: str):
    return lambda lines: [*lines[: number - 1], text, *lines[number:]]


def add(text: str):
    return lambda lines: [*lines, text]


def run(*edits: Callable[[str], None]):
    """A copy of the session's finished run (checkpoints and evaluations at 2, 4, 6)."""

    def build(inputs: Inputs):
        workdir = inputs.path("run")
        shutil.copytree(inputs.run, workdir)
        for edit in edits:
            edit(workdir)
        return workdir

    build.from_run = True
    return build


def cut(relative: str, keep: float = 0.5):
    def edit(workdir):
        path = os.path.join(workdir, relative)
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[: int(len(data) * keep)])

    return edit


def killed(before: int, rows: int, tail: str = ""):
    """The state a kill leaves after `rows` evaluations, before checkpoint `before` was
    recorded: later checkpoints and train_summary.json missing, `tail` half a row."""

    def edit(workdir):
        os.remove(os.path.join(workdir, "train_summary.json"))
        directory = os.path.join(workdir, "checkpoints")
        for name in glob.glob(os.path.join(directory, "ckpt-*")):
            if int(re.search(r"ckpt-(\d+)", name).group(1)) >= before:
                os.remove(name)
        os.remove(os.path.join(directory, "checkpoint"))
        kept = [f"ckpt-{s}" for s in range(2, before, 2)]
        if kept:
            tf.compat.v1.train.update_checkpoint_state(directory, kept[-1], kept)
        log = os.path.join(workdir, "eval_log.csv")
        lines = open(log).read().splitlines(keepends=True)
        with open(log, "w") as f:
            f.writelines(lines[: rows + 1])
            f.write(tail)

    return edit


def _write(relative: str, text: str):
    def edit(workdir):
        with open(os.path.join(workdir, relative), "w") as f:
            f.write(text)

    return edit


def _hold_lock(inputs):
    inputs.lock = provenance.WorkdirLock(inputs.workdir)


def _under_a_file(inputs):
    open(inputs.path("file"), "w").close()
    inputs.workdir = os.path.join(inputs.path("file"), "run")


def _full_disk(inputs):
    def fsync(fd):
        raise OSError(28, os.strerror(28))  # ENOSPC, where a full disk shows first.

    inputs.monkeypatch.setattr(provenance.os, "fsync", fsync)


WORKDIRS = {"locked": _hold_lock, "under_a_file": _under_a_file, "full_disk": _full_disk}


def truncated_checkpoint(inputs) -> str:
    """A small V2 checkpoint whose data file is cut short."""
    values = {"resnet_v1_50/conv1/weights": np.ones((7, 7, 3, 64), np.float32)}
    path = checkpoint.write_checkpoint(values, inputs.path("cut.ckpt"))
    with open(f"{path}.data-00000-of-00001", "r+b") as f:
        f.truncate(1000)
    return path


def init_from(checkpoint_of: Callable[[Inputs], str] | str):
    """A config starting resnet_v1_50 from the released weights at a given checkpoint."""

    def build(inputs: Inputs):
        path = checkpoint_of(inputs) if callable(checkpoint_of) else checkpoint_of
        fields = {"model.name": "resnet_v1_50", "init.kind": "imagenet", "init.checkpoint": path}
        return config(fields, root="empty")(inputs)

    return build


def tarball_url(members: dict | bytes):
    """A file:// URL of a tarball with these members (bytes, or inputs -> bytes), or of
    these raw bytes."""

    def build(inputs: Inputs):
        path = inputs.path("release.tar.gz")
        if isinstance(members, bytes):
            data = members
        else:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                for name, content in members.items():
                    content = content(inputs) if callable(content) else content
                    info = tarfile.TarInfo(name)
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
            data = buffer.getvalue()
        with open(path, "wb") as f:
            f.write(data)
        return f"file://{path}"

    return build


def small_v1_checkpoint(inputs) -> bytes:
    """A V1 checkpoint holding one of resnet_v1_50's 267 variables."""
    values = {"resnet_v1_50/conv1/weights": np.zeros((7, 7, 3, 64), np.float32)}
    path = checkpoint.write_checkpoint(values, inputs.path("small.ckpt"), version="V1")
    return open(path, "rb").read()


def value(thing):
    return lambda inputs: thing


def path_to(name: str, text: str | None = None):
    """A path in the scratch directory; with `text`, a file holding it (the path returned
    is then its directory's when `name` has one)."""

    def build(inputs: Inputs):
        path = inputs.path(name)
        if text is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return os.path.dirname(path) if "/" in name else path

    return build


# --- Actions ----------------------------------------------------------------------------


def load(inputs, cfg):
    return experiment.load_data(cfg)


def load_skipping(inputs, cfg):
    cfg.data.on_bad_image = "skip"
    data = experiment.load_data(cfg)
    return f"{len(data.bad_images)} skipped: " + "; ".join(b.describe() for b in data.bad_images)


def train(inputs, cfg):
    return trainer.train_and_evaluate(cfg, inputs.workdir)


def resume(fields: dict | None = None):
    """Reruns the run's command in the copy. Returns train.log, then what a rerun must
    reproduce of the uninterrupted run: its evaluated steps, their losses, its final
    weights (to 1e-6), and the files set aside as damaged."""

    def action(inputs, workdir):
        trainer.train_and_evaluate(config(fields)(inputs), workdir)
        rows, straight = (callbacks.EvalLog(w).rows() for w in (workdir, inputs.run))
        same_losses = np.allclose(rows["loss"], straight["loss"], rtol=1e-5)
        damaged = os.path.join(workdir, "checkpoints", checkpointing.DAMAGED)
        return "\n".join(
            [
                open(os.path.join(workdir, "train.log")).read(),
                f"eval steps {list(rows['step'])}",
                f"losses as uninterrupted: {same_losses}",
                f"weights as uninterrupted: {_same_weights(workdir, inputs.run)}",
                f"set aside: {sorted(os.listdir(damaged)) if os.path.isdir(damaged) else []}",
            ]
        )

    return action


def _same_weights(a: str, b: str) -> bool:
    readers = [tf.train.load_checkpoint(checkpointing.checkpoint_path(w)) for w in (a, b)]
    keys = [k for k in readers[0].get_variable_to_shape_map() if k.startswith("model/")]
    return len(keys) > 10 and all(
        np.allclose(readers[0].get_tensor(k), readers[1].get_tensor(k), rtol=0, atol=1e-6)
        for k in keys
    )


def evaluate(**options):
    return lambda inputs, workdir: evaluation.evaluate_run(workdir, **options)


def corrupt_test_image(workdir):
    """Points the run at a dataset copy whose first test image has garbage inside."""
    cfg = experiment.load_config(workdir)
    root = os.path.join(os.path.dirname(workdir), "eyepacs")
    shutil.copytree(cfg.data.root, root)
    cfg.data.root = root
    row = experiment.load_data(cfg).splits["test"].rows().iloc[0]
    data = open(row["path"], "rb").read()
    with open(row["path"], "wb") as f:
        f.write(data[:3] + np.random.default_rng(0).bytes(len(data) - 5) + data[-2:])
    experiment.save_config(cfg, workdir)


def convert_dataset(inputs, out):
    return conversion.convert_dataset(
        "eyepacs", inputs.eyepacs_root, out, split_fractions={"train": 1.0}
    )


def surgery_transfer(inputs, weights):
    pretrained, fresh = weights
    return surgery.transfer(pretrained, fresh, exclude=("logits",))


def load_into_tiny(inputs, values):
    model_input = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(4, 3, name="net/conv1")(model_input)
    model = tf.keras.Model(model_input, x, name="tiny")
    return loading.load_into(model, values)


def convert(inputs, path):
    return convert_checkpoint("resnet_v1_50", path, inputs.path("out/x.h5"))


def fetch_into(directory: str = "ckpt"):
    def action(inputs, url):
        return fetch.fetch_checkpoint(
            manifest.get_entry("resnet_v1_50"), inputs.path(directory), url=url
        )

    return action


def bad_flags(inputs, argv):
    values = flags.FlagValues()
    flags.DEFINE_integer("total_steps", 1, "Steps.", flag_values=values)
    flags.DEFINE_string("workdir", None, "Run directory.", flag_values=values, required=True)
    return errors.parse_flags(["prog", *argv], values)


def config_flag(inputs, argv):
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "Experiment config.", flag_values=values)
    return errors.parse_flags(["prog", *argv], values)


def config_overrides(inputs, argv):
    """The train binary's flag parsing of `--config=retina.py:test` and `argv` overrides."""
    argv = ["prog", f"--config={retina.__file__}:test", *argv]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "", flag_values=values, sys_argv=argv)
    return errors.parse_flags(argv, values)


def call(function, *args, **kwargs):
    return lambda inputs, _: function(*args, **kwargs)


def read_registry(inputs, path):
    return registry.find_weights("cbr_tiny", path)


# --- The table --------------------------------------------------------------------------

EMPTY = "empty"
# (pretrained, the model's fresh weights): conv/kernel differs in shape.
WEIGHTS_OF_OTHER_SHAPE = (
    {"conv/kernel": np.zeros((3, 3)), "logits/kernel": np.zeros(2)},
    {"conv/kernel": np.zeros((3, 4)), "logits/kernel": np.zeros(2)},
)
SGD_BLOWING_UP = {"optimizer.name": "sgd", "schedule.name": "step", "schedule.gamma": 1e8}
# Which overflow comes first after a second jump of the learning rate at step 6 (the
# evaluation's logits or a batch-norm moving variance) depends on the last bits of a
# CPU's float32 arithmetic; either way ckpt-4 is then passed over for its evaluation.

# fmt: off
ROWS = [
    # Label files (pipelines readers; tests/pipelines/ holds the per-dataset detail).
    Row("label file missing", eyepacs(files={"trainLabels.csv": None}), load, DataError, r"trainLabels.csv: label file not found", 1),  # noqa: E501
    Row("label file without a required column", eyepacs(line(1, "image,grade")), load, DataError, r"missing required column\(s\) \['level'\]; found columns \['image', 'grade'\]", 1),  # noqa: E501
    Row("row with a cell missing", eyepacs(add("1_left")), load, DataError, r"trainLabels.csv line 82: 1 cells, expected 2", 1),  # noqa: E501
    Row("label value outside the grades", eyepacs(line(2, "1_left,7")), load, DataError, r"line 2: level='7' is not one of \[0, 1, 2, 3, 4\]", 1),  # noqa: E501
    Row("label value not a number", eyepacs(line(2, "1_left,x")), load, DataError, r"line 2: level='x' is not one of", 1),  # noqa: E501
    Row("duplicate image id", eyepacs(add("1_left,0")), load, DataError, r"line 82: duplicate image '1_left' \(first seen on line 2\)", 1),  # noqa: E501
    Row("image id not {patient}_{left|right}", eyepacs(line(2, "1-left,0")), load, DataError, r"line 2: image id '1-left' is not of the form", 1),  # noqa: E501
    Row("image path escaping the dataset root", eyepacs(line(2, "../../1_left,0")), load, DataError, r"line 2: image path '.*' escapes the root", 1),  # noqa: E501
    # Images.
    Row("missing image file", eyepacs(files={"train/1_left.jpeg": None}), load, DataError, r"bad image .*train/1_left.jpeg: missing file \(.*trainLabels.csv line 2\); set data.on_bad_image='skip'", 1),  # noqa: E501
    Row("truncated image", eyepacs(files={"train/1_left.jpeg": b"\xff\xd8\xff\xe0 cut"}), load, DataError, r"1_left.jpeg: truncated JPEG .*line 2\)", 1),  # noqa: E501
    Row("empty image file", eyepacs(files={"train/1_left.jpeg": b""}), load, DataError, r"1_left.jpeg: empty file", 1),  # noqa: E501
    Row("not an image", eyepacs(files={"train/1_left.jpeg": b"hello"}), load, DataError, r"1_left.jpeg: not a JPEG, PNG or TIFF file", 1),  # noqa: E501
    Row("bad images with on_bad_image=skip", eyepacs(files={"train/1_left.jpeg": None, "train/2_left.jpeg": b""}), load_skipping, None, r"^2 skipped: .*1_left.jpeg: missing file .*line 2\); .*2_left.jpeg: empty file", None),  # noqa: E501
    Row("every image of a split bad (skip)", eyepacs(files={"train/*": None}, fields={"data.on_bad_image": "skip"}), load, DataError, r"every image of split '\w+' is missing or corrupt", 1),  # noqa: E501
    Row("corrupt data inside a well-formed JPEG, found mid-evaluation", run(corrupt_test_image), evaluate(split="test"), DataError, r"corrupt image .*: cannot decode: .* line \d+\): .*data.image_scan=decode", 1),  # noqa: E501
    Row("empty split", config({"data.split_fractions": {"train": 0.98, "valid": 0.01, "test": 0.01}}), load, DataError, r"split '(valid|test)' is empty \(40 patients", 1),  # noqa: E501
    Row("converted dataset without its manifest", config({"data.name": "tfrecords"}, root=EMPTY), train, DataError, r"manifest.json: no manifest", 1),  # noqa: E501
    # Config values, refused before any data is read (data.root is an empty directory).
    Row("train.checkpoint_every=0", config({"train.checkpoint_every": 0}, root=EMPTY), train, UsageError, r"^bad config: train.checkpoint_every=0 must be >= 1$", 2),  # noqa: E501
    Row("train.eval_every=0", config({"train.eval_every": 0}, root=EMPTY), train, UsageError, r"train.eval_every=0 must be >= 1", 2),  # noqa: E501
    Row("total_steps not a multiple of the loop", config({"train.total_steps": 7}, root=EMPTY), train, UsageError, r"train.total_steps=7 must be a positive multiple of gcd\(train.checkpoint_every, train.eval_every\)=2", 2),  # noqa: E501
    Row("eval split the dataset does not have", config({"data.eval_split": "validation"}, root=EMPTY), train, UsageError, r"data.eval_split='validation' is not a split of this dataset; it has \['test', 'train', 'valid'\]", 2),  # noqa: E501
    Row("split fractions not summing to 1", config({"data.split_fractions.valid": 0.5}, root=EMPTY), train, UsageError, r"data.split_fractions=.* must be >= 0 and sum to 1", 2),  # noqa: E501
    Row("unknown model name", config({"model.name": "nope"}, root=EMPTY), train, UsageError, r"bad config: model.name: unknown model 'nope'; valid: cbr_large_t, ", 2),  # noqa: E501
    Row("unknown dataset name", config({"data.name": "nope"}, root=EMPTY), train, UsageError, r"bad config: data.name: unknown dataset 'nope'; valid: aptos, ", 2),  # noqa: E501
    Row("unknown init kind", config({"init.kind": "nope"}, root=EMPTY), train, initialization.InitError, r"unknown init.kind 'nope'; valid: random, imagenet", 2),  # noqa: E501
    # Fine-tuning fields (configs/base.py), refused before any data is read but one.
    Row("train.trainable_scopes naming no layer", config({"train.trainable_scopes": "block4,blok3"}, root=EMPTY), train, scopes.ScopeError, r"^train.trainable_scopes: \['blok3'\] select no variable of cbr_tiny; give endpoints \(block1, block2, block3, block4, pre_logits, logits\) or variable scopes", 2),  # noqa: E501
    Row("train.trainable_scopes not names", config({"train.trainable_scopes": ("block4", 3)}, root=EMPTY), train, UsageError, r"^bad config: train.trainable_scopes: expected 'scope,scope' or a sequence of scope names, got \('block4', 3\)$", 2),  # noqa: E501
    Row("init.exclude_scopes with nothing pretrained", config({"init.exclude_scopes": "block4"}, root=EMPTY), train, initialization.InitError, r"^init.exclude_scopes=\['block4'\]: init.kind=random copies no pretrained weights to exclude$", 2),  # noqa: E501
    Row("init.exclude_scopes not names", config({"init.exclude_scopes": 4}, root=EMPTY), train, UsageError, r"^bad config: init.exclude_scopes: expected 'scope,scope' or a sequence of scope names, got 4$", 2),  # noqa: E501
    Row("train.label_smoothing=1", config({"train.label_smoothing": 1.0}, root=EMPTY), train, UsageError, r"^bad config: train.label_smoothing=1.0 must be a number in \[0, 1\)$", 2),  # noqa: E501
    Row("train.class_weights of the wrong length", config({"train.class_weights": (1.0, 2.0)}, root=EMPTY), train, UsageError, r"^bad config: train.class_weights=\(1.0, 2.0\): expected '', 'balanced' or 5 positive weights$", 2),  # noqa: E501
    Row("train.class_weights unknown name", config({"train.class_weights": "inverse"}, root=EMPTY), train, UsageError, r"train.class_weights='inverse': expected '', 'balanced' or 5 positive weights", 2),  # noqa: E501
    Row("train.class_weights for a multi-label task", config({"task": "chexpert5", "train.class_weights": "balanced"}, root=EMPTY), train, UsageError, r"train.class_weights='balanced': class weights apply to single-label tasks \(dr_grade, classification\), not chexpert5", 2),  # noqa: E501
    Row("train.class_weights=balanced with a grade absent from training", eyepacs(lambda lines: [re.sub(r",4$", ",3", x) for x in lines], fields={"train.class_weights": "balanced"}), train, UsageError, r"train.class_weights='balanced': classes \[4\] have no training example, so their weight n / \(K \* 0\) is undefined; give explicit weights", 2),  # noqa: E501
    Row("train.ema_decay=1", config({"train.ema_decay": 1.0}, root=EMPTY), train, UsageError, r"^bad config: train.ema_decay=1.0 must be a number in \[0, 1\)$", 2),  # noqa: E501
    Row("train.ema_decay not a number", value(["--config.train.ema_decay=abc"]), config_overrides, flags.IllegalFlagValueError, r"flag --config.train.ema_decay=abc: could not convert string to float: 'abc'", 2),  # noqa: E501
    Row("train.early_stopping=-1", config({"train.early_stopping": -1}, root=EMPTY), train, UsageError, r"^bad config: train.early_stopping=-1 must be an integer >= 0 \(0: off\)$", 2),  # noqa: E501
    Row("train.early_stopping not an integer", value(["--config.train.early_stopping=2.5"]), config_overrides, flags.IllegalFlagValueError, r"flag --config.train.early_stopping=2.5: invalid literal for int\(\)", 2),  # noqa: E501
    Row("train.early_stopping_min_delta<0", config({"train.early_stopping_min_delta": -0.1}, root=EMPTY), train, UsageError, r"^bad config: train.early_stopping_min_delta=-0.1 must be a number >= 0$", 2),  # noqa: E501
    Row("train.keep_best not a boolean", value(["--config.train.keep_best=maybe"]), config_overrides, flags.IllegalFlagValueError, r"flag --config.train.keep_best=maybe: \('Non-boolean argument to boolean flag', 'maybe'\)", 2),  # noqa: E501
    Row("eval.use_ema not a boolean", value(["--config.eval.use_ema=2"]), config_overrides, flags.IllegalFlagValueError, r"flag --config.eval.use_ema=2: \('Non-boolean argument to boolean flag', '2'\)", 2),  # noqa: E501
    Row("bad flag value", value(["--workdir=w", "--total_steps=abc"]), bad_flags, flags.IllegalFlagValueError, r"flag --total_steps=abc: invalid literal", 2),  # noqa: E501
    Row("unknown config variant", value([f"--config={retina.__file__}:nope"]), config_flag, flags.IllegalFlagValueError, r"^flag --config=.*/retina.py:nope: Error whilst parsing config file: ValueError: unknown retina config variant 'nope'; valid: '', 'gpu', 'demo', 'test' \(--helpfull lists the flags\)$", 2),  # noqa: E501
    Row("missing required flag", value(["--total_steps=3"]), bad_flags, flags.IllegalFlagValueError, r"flag --workdir=None: Flag --workdir must have a value", 2),  # noqa: E501
    Row("unknown study", value(None), call(studies.load_study, "nope"), studies.UnknownStudy, r"unknown study 'nope'; valid: ", 2),  # noqa: E501
    Row("unknown dataset to inspect", value(None), call(inspection.inspect_dataset, "nope", "/x"), UsageError, r"unknown dataset 'nope'; valid: aptos, chexpert, csv, eyepacs", 2),  # noqa: E501
    Row("unknown dataset to load", value(None), call(datasets.load_dataset, "nope", "/x", split_fractions={}), UsageError, r"unknown dataset 'nope'; valid: aptos", 2),  # noqa: E501
    Row("reader option flag without '='", value(None), call(flag_values.parse_key_values, ["views"]), UsageError, r"expected key=value, got 'views'", 2),  # noqa: E501
    Row("synthetic set of no patients", path_to("synthetic"), lambda inputs, root: synthetic_retina.write_eyepacs(root, num_patients=0, image_size=8, seed=0), UsageError, r"num_patients must be >= 1, got 0", 2),  # noqa: E501
    # Workdirs.
    Row("workdir in use by a live run", config(workdir="locked"), train, provenance.WorkdirLocked, r"workdir .* is in use by another run \(pid \d+ on", 1),  # noqa: E501
    Row("workdir that cannot be created or written", config(workdir="under_a_file"), train, provenance.WorkdirNotWritable, r"workdir .*/file/run is not writable: Not a directory", 1),  # noqa: E501
    Row("workdir on a full disk", config(workdir="full_disk"), train, provenance.WorkdirNotWritable, r"is not writable: No space left on device", 1),  # noqa: E501
    Row("a different config for an existing run", run(), resume({"seed": 3}), UsageError, r"holds a run with a different config \(fields \['seed'\]\)", 2),  # noqa: E501
    Row("conversion into a finished conversion", path_to("out/manifest.json", "{}"), convert_dataset, DataError, r"out already holds a converted dataset \(manifest.json\)", 1),  # noqa: E501
    # Run files.
    Row("evaluate: not a training workdir", path_to("empty_dir"), evaluate(), experiment.NotARun, r"empty_dir/config.json not found: is .* a training workdir\?", 1),  # noqa: E501
    Row("evaluate: damaged config.json", run(cut("config.json")), evaluate(), provenance.DamagedFile, r"config.json is damaged \(line \d+ column \d+: .*\); it records the run's config", 1),  # noqa: E501
    Row("evaluate: damaged metrics.json", run(_write("metrics.json", '{"test": ')), evaluate(), provenance.DamagedFile, r"metrics.json is damaged \(line 1 column 10: Expecting value\)", 1),  # noqa: E501
    Row("evaluate --checkpoint=abc", run(), evaluate(checkpoint="abc"), UsageError, r"^checkpoint 'abc': expected 'latest', 'best', 'init' or a step number$", 2),  # noqa: E501
    Row("evaluate --checkpoint=best of a run without keep_best", run(), evaluate(checkpoint="best"), checkpointing.CheckpointNotFound, r"no 'best' checkpoint in .*; available: \[2, 4, 6\] \(plus 'init' if saved\) \('best' exists in runs with train.keep_best=True\)", 1),  # noqa: E501
    Row("evaluate --ema of a run without weight averages", run(), evaluate(ema=True), UsageError, r"run: this run kept no weight average \(train.ema_decay=0\); score without it", 2),  # noqa: E501
    Row("evaluate a step without a checkpoint", run(), evaluate(checkpoint="8"), checkpointing.CheckpointNotFound, r"no '8' checkpoint in .*; available: \[2, 4, 6\]", 1),  # noqa: E501
    Row("resume: damaged provenance.json", run(cut("provenance.json")), resume(), provenance.DamagedFile, r"provenance.json is damaged \(line \d+ column \d+: .*\); move it aside to keep the earlier launches", 1),  # noqa: E501
    Row("resume: damaged eval_log.csv row", run(_write("eval_log.csv", "step,loss\n2,1.0\nx,y\n")), resume(), provenance.DamagedFile, r"eval_log.csv line 3 is damaged", 1),  # noqa: E501
    Row("evaluate a split the dataset does not have", run(), evaluate(split="validation"), UsageError, r"unknown split 'validation'; this dataset has \['test', 'train', 'valid'\]", 2),  # noqa: E501
    # Checkpoints.
    Row("evaluate: truncated checkpoint data", run(cut("checkpoints/ckpt-6.data-00000-of-00001")), evaluate(), checkpoint.CheckpointReadError, r"checkpoints/ckpt-6.data-00000-of-00001 is truncated: reading variable", 1),  # noqa: E501
    Row("evaluate: truncated checkpoint index", run(cut("checkpoints/ckpt-6.index")), evaluate(), checkpoint.CheckpointReadError, r"checkpoints/ckpt-6.index is damaged \(truncated or not a checkpoint index", 1),  # noqa: E501
    Row("resume: truncated newest checkpoint", run(killed(8, 3), cut("checkpoints/ckpt-6.data-00000-of-00001")), resume(), None, r"damaged checkpoint .*ckpt-6.data-00000-of-00001 is truncated.*resuming from .*ckpt-4, the newest intact checkpoint.*at step 4.*eval steps \[2, 4, 6\]\nlosses as uninterrupted: True\nweights as uninterrupted: True\nset aside: \['ckpt-6.data-00000-of-00001', 'ckpt-6.index'\]$", None),  # noqa: E501
    Row("resume: every checkpoint damaged", run(*(cut(f"checkpoints/ckpt-{s}.index") for s in (2, 4, 6))), resume(), checkpointing.NoIntactCheckpoint, r"no intact checkpoint in .*checkpoints: .*ckpt-6, .*ckpt-4, .*ckpt-2 are damaged .*; rerunning the same command starts again from the initial weights", 1),  # noqa: E501
    Row("init.checkpoint missing", init_from("/nonexistent/model.ckpt"), train, initialization.InitCheckpointError, r"init.checkpoint: no checkpoint at /nonexistent/model.ckpt", 1),  # noqa: E501
    Row("init.checkpoint truncated", init_from(truncated_checkpoint), train, initialization.InitCheckpointError, r"init.checkpoint: .*cut.ckpt.data-00000-of-00001 is truncated", 1),  # noqa: E501
    Row("convert: checkpoint missing", value("/nonexistent/model.ckpt"), convert, checkpoint.CheckpointReadError, r"no checkpoint at /nonexistent/model.ckpt", 1),  # noqa: E501
    Row("convert: truncated checkpoint", truncated_checkpoint, convert, checkpoint.CheckpointReadError, r"cut.ckpt.data-00000-of-00001 is truncated: reading variable", 1),  # noqa: E501
    Row("pretrained variables that do not match the model", value(WEIGHTS_OF_OTHER_SHAPE), surgery_transfer, surgery.SurgeryError, r"conv/kernel.*pretrained \(3, 3\).*\(3, 4\)", 1),  # noqa: E501
    Row("checkpoint variables that do not match the model", value({"net/conv1/weights": np.zeros((3, 3, 3, 4), np.float32)}), load_into_tiny, loading.CheckpointMismatchError, r"checkpoint and model 'tiny' do not match by name.*1 model variables with no checkpoint variable: \['net/conv1/biases'\]", 1),  # noqa: E501
    Row("damaged weights registry", path_to("weights.json", "{"), read_registry, registry.RegistryError, r"weights.json is not a weights registry", 1),  # noqa: E501
    # Downloads.
    Row("download URL ending in '/'", value("http://127.0.0.1:1/"), fetch_into(), UsageError, r"URL http://127.0.0.1:1/ names no file; give the tarball's own URL \(the release is resnet_v1_50_2016_08_28.tar.gz\)", 2),  # noqa: E501
    Row("download --dir that is a file", path_to("ckpt", "<html>"), lambda inputs, target: fetch_into()(inputs, "http://127.0.0.1:1/x.tar.gz"), fetch.DownloadError, r"ckpt is a file, not a directory", 1),  # noqa: E501
    Row("download: an HTML page instead of a tarball", tarball_url(b"<html>Proxy login</html>"), fetch_into(), fetch.DownloadError, r"release.tar.gz is not a readable tar archive .*moved it to .*release.tar.gz.bad", 1),  # noqa: E501
    Row("download: member escaping --dir", tarball_url({"../evil.txt": b"x"}), fetch_into(), fetch.UnsafeArchiveError, r"unsafe members \['../evil.txt \(path leaves", 1),  # noqa: E501
    Row("download: tarball without the checkpoint", tarball_url({"README": b"hi"}), fetch_into(), fetch.MissingMember, r"has no member 'resnet_v1_50.ckpt'; members: \['README'\]", 1),  # noqa: E501
    Row("download: member './resnet_v1_50.ckpt' is found (then its inventory checked)", tarball_url({"./resnet_v1_50.ckpt": small_v1_checkpoint}), fetch_into(), checkpoint.InventoryError, r"resnet_v1_50.ckpt does not match the expected inventory: 266 missing", 1),  # noqa: E501
    # Interrupted runs: a rerun of the same command logs each evaluation once.
    Row("killed after an evaluation, before its checkpoint", run(killed(6, 3)), resume(), None, r"resumed from .*ckpt-4 at step 4.*eval steps \[2, 4, 6\]\nlosses as uninterrupted: True\nweights as uninterrupted: True\nset aside: \[\]$", None),  # noqa: E501
    Row("killed mid-write of an evaluation row", run(killed(6, 2, tail="6,24,1.")), resume(), None, r"resumed from .*ckpt-4 at step 4.*eval steps \[2, 4, 6\]\nlosses as uninterrupted: True\nweights as uninterrupted: True\nset aside: \[\]$", None),  # noqa: E501
    Row("killed before the first checkpoint", run(killed(2, 1)), resume(), None, r"^(?!.*resumed from).*eval steps \[2, 4, 6\]\nlosses as uninterrupted: True\nweights as uninterrupted: True\nset aside: \[\]$", None),  # noqa: E501
    # Non-finite training.
    Row("NaN loss", config({**SGD_BLOWING_UP, "schedule.gamma": float("inf"), "schedule.boundaries": (4,)}), train, callbacks.NonFiniteLossError, r"^non-finite training loss \(nan\) at step 6; stopped without saving. Last good checkpoint: .*/ckpt-4\. Lower", 1),  # noqa: E501
    Row("finite weights whose predictions overflow", config({**SGD_BLOWING_UP, "schedule.boundaries": (3,)}), train, callbacks.NonFiniteLossError, r"^non-finite logits for 10 of 10 examples \(finite weights that overflow float32 activations\) at the evaluation of step 4; stopped without saving. Last good checkpoint: .*/ckpt-2\.", 1),  # noqa: E501
    Row("last checkpoint with finite weights evaluates to non-finite logits", config({**SGD_BLOWING_UP, "schedule.boundaries": (3, 5), "train.eval_every": 6}), train, callbacks.NonFiniteLossError, r"step 6\b.*; stopped without saving. Last good checkpoint: .*/ckpt-2\. \(.*/ckpt-4 has finite weights, but evaluating it gives non-finite logits for 10 of 10", 1),  # noqa: E501
]
# fmt: on


def _param(row: Row):
    """The row as a test case: `slow` when it starts from the trained run or trains."""
    trains = getattr(row.input, "from_run", False) or (
        row.action is train and getattr(row.input, "over_data", False)
    )
    return pytest.param(row, id=row.case, marks=[pytest.mark.slow] if trains else [])


@pytest.fixture
def inputs(tmp_path, eyepacs_root, request, monkeypatch):
    made = Inputs(tmp_path, eyepacs_root, request, monkeypatch)
    yield made
    if hasattr(made, "lock"):
        made.lock.release()


def test_the_table_names_each_case_once():
    names = [row.case for row in ROWS]
    assert len(names) == len(set(names)) and len(names) >= 60


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_bad_input(row, inputs, capsys):
    given = row.input(inputs)
    if row.error is None:
        result = row.action(inputs, given)
        assert re.search(row.words, str(result), re.DOTALL), result
        return
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        errors.wrap(lambda argv: row.action(inputs, given))(["prog"])
    error = exit_info.value.__context__
    assert isinstance(error, row.error), repr(error)
    assert exit_info.value.code == row.status
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    assert [n for n, text in enumerate(lines) if text.startswith("error:")] == [0], err
    message = "\n".join([lines[0].removeprefix("error: "), *(s[2:] for s in lines[1:])])
    assert re.search(row.words, message, re.DOTALL), message
