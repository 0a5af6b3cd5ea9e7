"""Short training runs shared by the analysis tests (trained once per session)."""

import os

import pytest

from tests import session


def _train(root: str, workdir: str, *, seed: int, registry_path: str = "") -> str:
    from transfusion_tf import trainer
    from transfusion_tf.configs import retina

    config = retina.get_config("test")  # cbr_tiny, widths 4-8-8-8, 32 px, 6 steps
    config.data.root = root
    config.seed = seed
    if registry_path:  # Transfer from the registered source-pretrained CBR-Tiny.
        config.init.kind = "imagenet"
        config.init.registry = registry_path
    trainer.train_and_evaluate(config, workdir)
    return workdir


@pytest.fixture(scope="session")
def trained_runs(eyepacs_root, retina_run, source_weights, tmp_path_factory):
    """{"random": [seed0, seed1], "pretrained": [start]} workdirs of CBR-Tiny runs.

    random0 is the session's `retina_run` (the same config, seed 0), under the name the
    analyses label it with. The pretrained run starts from CBR-Tiny weights pretrained on
    the synthetic source task (`init.kind=imagenet` through the study registry path), as
    the paper's transfer arm.
    """

    def train(base):
        os.symlink(retina_run[0], os.path.join(base, "random0"))
        _train(eyepacs_root, os.path.join(base, "random1"), seed=1)
        pretrained = os.path.join(base, "pretrained")
        _train(eyepacs_root, pretrained, seed=2, registry_path=source_weights[0])

    base = str(session.build_once(tmp_path_factory, "analysis_runs", train))
    return {
        "random": [os.path.join(base, f"random{s}") for s in (0, 1)],
        "pretrained": [os.path.join(base, "pretrained")],
    }
