"""Short training runs shared by the analysis tests (trained once per session)."""

import os

import pytest

from transfusion_tf import trainer
from transfusion_tf.configs import retina


def _train(root: str, workdir: str, *, seed: int) -> str:
    config = retina.get_config("test")  # cbr_tiny, widths 4-8-8-8, 32 px, 6 steps
    config.data.root = root
    config.seed = seed
    trainer.train_and_evaluate(config, workdir)
    return workdir


@pytest.fixture(scope="session")
def trained_runs(eyepacs_root, tmp_path_factory):
    """{"random": [seed0, seed1], "pretrained": [start]} workdirs of CBR-Tiny runs.

    The "pretrained" run is, until source-task initialisation reaches the trainer, a third
    random seed: the analyses read checkpoints only, so the test exercises the same code.
    """
    base = tmp_path_factory.mktemp("analysis_runs")
    workdir = lambda name: os.path.join(str(base), name)  # noqa: E731
    return {
        "random": [_train(eyepacs_root, workdir(f"random{s}"), seed=s) for s in (0, 1)],
        "pretrained": [_train(eyepacs_root, workdir("pretrained"), seed=2)],
    }
