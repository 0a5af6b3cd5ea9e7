"""Tests for pipelines/generate.py (the dataset-writing binary)."""

import os
import re

import pytest

from pipelines import flag_values, generate
from pipelines.synthetic import aptos as synthetic_aptos
from pipelines.synthetic import chexpert as synthetic_chexpert
from pipelines.synthetic import eyepacs as synthetic_eyepacs
from pipelines.synthetic import messidor2 as synthetic_messidor2
from tests import binaries


def test_registry():
    assert generate.get_generator("eyepacs") is synthetic_eyepacs.write_eyepacs
    assert generate.get_generator("chexpert") is synthetic_chexpert.write_chexpert
    assert generate.get_generator("aptos") is synthetic_aptos.write_aptos
    assert generate.get_generator("messidor2") is synthetic_messidor2.write_messidor2
    with pytest.raises(
        ValueError,
        match=r"unknown dataset 'idrid'; valid names: aptos, chexpert, csv, eyepacs, messidor2",
    ):
        generate.get_generator("idrid")


def test_writer_options_parse_literals_and_strings():
    pairs = ["image_format=original", "ungradable_fraction=0.5", "views=all"]
    assert flag_values.parse_key_values(pairs) == {
        "image_format": "original",
        "ungradable_fraction": 0.5,
        "views": "all",
    }
    with pytest.raises(ValueError, match=r"expected key=value, got 'original'"):
        flag_values.parse_key_values(["original"])
    assert flag_values.parse_fractions("train=0.8, valid=0.2") == {"train": 0.8, "valid": 0.2}
    assert flag_values.parse_fractions("") is None
    with pytest.raises(ValueError, match=r"split fractions must be numbers"):
        flag_values.parse_fractions("train=most")


def _generate(dataset, root, *flags, process=False):
    """(progress lines, summary) of `python -m pipelines.generate` writing `dataset`, in a
    process of its own or (the default) in this one (`binaries.run_main`)."""
    args = ("pipelines.generate", f"--dataset={dataset}", f"--root={root}", *flags)
    result = binaries.run(*args) if process else binaries.run_main(*args)
    assert result.returncode == 0, result.stderr
    return binaries.progress_and_summary(result.stdout)


@pytest.mark.slow
def test_binary_writes_dataset_and_prints_summary(tmp_path):
    progress, summary = _generate(
        "eyepacs", tmp_path, "--num_patients=3", "--image_size=40", "--seed=2", process=True
    )
    assert progress and all(re.fullmatch(r"[1-6]/6 images, \d+ images/s", p) for p in progress)
    assert progress[-1].startswith("6/6 images,")
    assert summary["num_images"] == 6 and summary["image_size"] == 40 and summary["seed"] == 2
    assert sum(summary["grade_counts"].values()) == 6
    assert len(os.listdir(tmp_path / "train")) == 6


def test_binary_writes_chexpert(tmp_path):
    progress, summary = _generate("chexpert", tmp_path, "--num_patients=3", "--image_size=40")
    total = summary["train"]["images"] + summary["valid"]["images"]
    assert progress[-1].startswith(f"{total}/{total} images,")
    assert summary["train"]["patients"] == 3 and summary["valid"]["patients"] == 10
    root = tmp_path / "CheXpert-v1.0-small"
    assert summary["root"] == str(root)
    assert sorted(os.listdir(root)) == ["train", "train.csv", "valid", "valid.csv"]


def test_binary_writes_messidor2_with_a_writer_option(tmp_path):
    option = "--writer_option=image_format=original"
    _, summary = _generate("messidor2", tmp_path, "--num_patients=2", "--image_size=32", option)
    assert summary["num_images"] == 4 and summary["ungradable"] == 1
    names = os.listdir(tmp_path / "IMAGES")
    assert len(names) == 4 and {os.path.splitext(n)[1] for n in names} <= {".tif", ".JPG"}


@pytest.mark.slow
def test_the_registry_and_the_writers_start_without_tensorflow():
    # pipelines.generate reads the specs; only loading a dataset imports TensorFlow.
    code = "import sys, pipelines.generate; print('tensorflow' in sys.modules)"
    result = binaries.run("-c", code)
    assert result.stdout.strip() == "False"
