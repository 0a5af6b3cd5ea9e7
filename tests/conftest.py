"""Shared test fixtures: quiet TF logs, tiny datasets in real layouts."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from tests import fixtures


@pytest.fixture(scope="session")
def eyepacs_root(tmp_path_factory):
    """40 patients (80 images, 40 px) in the EyePACS layout; treat as read-only."""
    root = tmp_path_factory.mktemp("eyepacs")
    return fixtures.write_eyepacs(str(root), fixtures.balanced_grades(40))


@pytest.fixture(scope="session")
def chexpert_root(tmp_path_factory):
    """A tiny synthetic CheXpert-v1.0-small set (24 + 16 patients, 40 px); read-only.

    Seed 1 puts both classes of every pathology and some lateral views into valid.csv.
    Returns the directory holding `CheXpert-v1.0-small/`.
    """
    from pipelines import synthetic_chexpert

    root = str(tmp_path_factory.mktemp("chexpert"))
    synthetic_chexpert.write_chexpert(
        root, num_patients=24, image_size=40, num_valid_patients=16, seed=1
    )
    return root
