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
