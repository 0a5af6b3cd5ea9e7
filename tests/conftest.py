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
    from pipelines.synthetic import chexpert as synthetic_chexpert

    root = str(tmp_path_factory.mktemp("chexpert"))
    synthetic_chexpert.write_chexpert(
        root, num_patients=24, image_size=40, num_valid_patients=16, seed=1
    )
    return root


@pytest.fixture(scope="session")
def aptos_root(tmp_path_factory):
    """A synthetic APTOS set: 24 patients, 34 PNGs of height 40 px (seed 3); read-only."""
    from pipelines.synthetic import aptos as synthetic_aptos

    root = str(tmp_path_factory.mktemp("aptos"))
    summary = synthetic_aptos.write_aptos(root, num_patients=24, image_size=40, seed=3)
    assert summary["num_images"] == 34
    return root


@pytest.fixture(scope="session")
def messidor2_set(tmp_path_factory):
    """A synthetic Messidor-2 set: 20 exams, 40 images of 40x60 px, 2 ungradable; read-only.

    Returns (root, the writer's summary).
    """
    from pipelines.synthetic import messidor2 as synthetic_messidor2

    root = str(tmp_path_factory.mktemp("messidor2"))
    summary = synthetic_messidor2.write_messidor2(
        root, num_patients=20, image_size=40, seed=5, ungradable_fraction=0.05
    )
    return root, summary


@pytest.fixture(scope="session")
def retina_run(eyepacs_root, tmp_path_factory):
    """A finished `retina.py:test` run on `eyepacs_root`: 6 steps, checkpoints and
    evaluations at 2, 4, 6. Read-only: copy the workdir before changing anything.

    Returns (workdir, the train summary).
    """
    from transfusion_tf import trainer
    from transfusion_tf.configs import retina

    workdir = str(tmp_path_factory.mktemp("retina_run"))
    config = retina.get_config("test")
    config.data.root = eyepacs_root
    return workdir, trainer.train_and_evaluate(config, workdir)
