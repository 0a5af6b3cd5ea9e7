"""Tests for pipelines/generate.py (the dataset-writing binary)."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from pipelines import generate, synthetic_chexpert, synthetic_retina

_REPO = pathlib.Path(__file__).resolve().parents[2]


def test_registry():
    assert generate.get_generator("eyepacs") is synthetic_retina.write_eyepacs
    assert generate.get_generator("chexpert") is synthetic_chexpert.write_chexpert
    with pytest.raises(
        ValueError, match=r"unknown dataset 'aptos'; valid names: chexpert, eyepacs"
    ):
        generate.get_generator("aptos")


def test_binary_writes_dataset_and_prints_summary(tmp_path):
    cmd = [
        sys.executable, "-m", "pipelines.generate", "--dataset=eyepacs", f"--root={tmp_path}",
        "--num_patients=3", "--image_size=40", "--seed=2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    result = subprocess.run(cmd, cwd=_REPO, env=env, capture_output=True, text=True, check=True)
    progress, _, summary = result.stdout.partition("{")
    progress = progress.splitlines()
    assert progress and all(re.fullmatch(r"[1-6]/6 images, \d+ images/s", p) for p in progress)
    assert progress[-1].startswith("6/6 images,")
    summary = json.loads("{" + summary)
    assert summary["num_images"] == 6 and summary["image_size"] == 40 and summary["seed"] == 2
    assert sum(summary["grade_counts"].values()) == 6
    assert len(os.listdir(tmp_path / "train")) == 6


def test_binary_writes_chexpert(tmp_path):
    cmd = [
        sys.executable, "-m", "pipelines.generate", "--dataset=chexpert", f"--root={tmp_path}",
        "--num_patients=3", "--image_size=40",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    result = subprocess.run(cmd, cwd=_REPO, env=env, capture_output=True, text=True, check=True)
    progress, _, summary = result.stdout.partition("{")
    summary = json.loads("{" + summary)
    total = summary["train"]["images"] + summary["valid"]["images"]
    assert progress.splitlines()[-1].startswith(f"{total}/{total} images,")
    assert summary["train"]["patients"] == 3 and summary["valid"]["patients"] == 10
    root = tmp_path / "CheXpert-v1.0-small"
    assert summary["root"] == str(root)
    assert sorted(os.listdir(root)) == ["train", "train.csv", "valid", "valid.csv"]


def test_flags_only_in_the_binaries():
    binaries = {"generate.py", "generate_source.py"}
    for path in (_REPO / "pipelines").glob("*.py"):
        if path.name not in binaries:
            assert "absl" not in path.read_text(), path
