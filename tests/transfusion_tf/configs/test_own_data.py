"""own_data.py: its documented command lines parse; the data they name loads and fits the head."""

import os
import sys

import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags
from PIL import Image

from transfusion_tf import experiment
from transfusion_tf.configs import own_data

FILE = own_data.__file__
# Twelve images of six patients, two each; classes 0-2; two label columns for multi-label.
ROWS = [(f"images/p{p}_{k}.png", (p + k) % 3, f"p{p}") for p in range(1, 7) for k in (0, 1)]
CELLS = ["1,0", "0,", "1,1", ",0", "0,1", "1,1"]


def parse(monkeypatch, *overrides: str, variant: str = ""):
    """The train binary's `--config` flag over this file, parsed from a command line.

    config_flags reads overrides from sys.argv, so the command line is put there too.
    """
    values = flags.FlagValues()
    config = config_flags.DEFINE_config_file("config", None, "", values, lock_config=True)
    argv = ["train", f"--config={FILE}{':' + variant if variant else ''}", *overrides]
    monkeypatch.setattr(sys, "argv", argv)
    values(argv)
    return config.value


@pytest.fixture
def root(tmp_path):
    os.makedirs(tmp_path / "images")
    for image, label, _ in ROWS:
        Image.fromarray(np.full((8, 12, 3), 40 * label, np.uint8)).save(tmp_path / image)
    lines = [f"{i},{label},{CELLS[k % 6]},{p}" for k, (i, label, p) in enumerate(ROWS)]
    with open(tmp_path / "labels.csv", "w") as f:
        f.write("\n".join(["image,label,effusion,edema,patient", *lines]) + "\n")
    return str(tmp_path)


def small(config, root):
    config.data.root = root
    config.data.split_fractions = {"train": 0.5, "valid": 0.5}
    config.eval.final_splits = ()
    return config


def test_the_documented_overrides_parse(monkeypatch):
    config = parse(
        monkeypatch, "--config.data.root=/data/mine", "--config.task_options.num_classes=3"
    )
    assert (config.data.name, config.data.root, config.task) == (
        "csv",
        "/data/mine",
        "classification",
    )
    assert dict(config.task_options) == {"num_classes": 3, "top_k": 5}
    labels = '--config.task_options.labels=("effusion","edema")'
    config = parse(monkeypatch, labels, variant="multi_label")
    assert config.task == "multi_label" and config.task_options.labels == ("effusion", "edema")
    # The reader's columns follow the task's labels: one list of names.
    assert dict(config.data.options) == {
        "labels_file": "labels.csv",
        "label_columns": ("effusion", "edema"),
    }
    with pytest.raises(ValueError, match="unknown own_data config variant 'x'"):
        own_data.get_config("x")


def test_classes_load_and_a_head_too_small_is_named(monkeypatch, root):
    config = small(parse(monkeypatch, variant="test"), root)
    with pytest.raises(ValueError, match=r"holds label 2 but the task has 2 outputs.*at least 3"):
        experiment.load_data(config)
    config.task_options.num_classes = 3
    data = experiment.load_data(config)
    assert sum(len(part.rows()) for part in data.splits.values()) == 12
    assert experiment.build_model(config).output_shape == (None, 3)


def test_multi_label_columns_load_with_their_masks(monkeypatch, root):
    labels = '--config.task_options.labels=("effusion","edema")'
    config = small(parse(monkeypatch, labels, variant="multi_label"), root)
    with config.unlocked():  # A tiny model: the variant itself is paper-sized.
        config.data.image_size, config.model.options.widths = 32, (4, 8, 8, 8)
    data = experiment.load_data(config)
    cell = {"1": (1.0, 1.0), "0": (0.0, 1.0), "": (0.0, 0.0)}  # (label, mask) by hand.
    expected = {
        image: [cell[c] for c in CELLS[k % 6].split(",")] for k, (image, _, _) in enumerate(ROWS)
    }
    seen = 0
    for part in data.splits.values():
        for row in part.rows().itertuples():
            pairs = expected[row.image]
            assert list(row.label) == [p[0] for p in pairs], row.image
            assert list(row.mask) == [p[1] for p in pairs], row.image
            seen += 1
    assert seen == 12
    assert experiment.get_task(config).main_metric == "mean_auc"
    assert experiment.build_model(config).output_shape == (None, 2)
