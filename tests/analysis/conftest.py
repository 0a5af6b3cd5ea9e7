"""Short training runs shared by the analysis tests (trained once per session)."""

import os

import pytest

from pipelines.synthetic import source as synthetic_source
from slim_weights import registry
from transfusion_tf import trainer, weights_export
from transfusion_tf.configs import retina, source_pretrain


def _train(root: str, workdir: str, *, seed: int, registry_path: str = "") -> str:
    config = retina.get_config("test")  # cbr_tiny, widths 4-8-8-8, 32 px, 6 steps
    config.data.root = root
    config.seed = seed
    if registry_path:  # Transfer from the registered source-pretrained CBR-Tiny.
        config.init.kind = "imagenet"
        config.init.registry = registry_path
    trainer.train_and_evaluate(config, workdir)
    return workdir


def _pretrain_source(base: str) -> str:
    """A CBR-Tiny pretrained on a tiny synthetic source task and registered: the registry."""
    root, run = os.path.join(base, "source_data"), os.path.join(base, "source_run")
    synthetic_source.write_source(
        root, num_classes=20, train_per_class=2, validation_per_class=1, image_size=32,
        train_shards=2, validation_shards=1,
    )  # fmt: skip
    config = source_pretrain.get_config("test")  # cbr_tiny, widths 4-8-8-8, as _train's
    config.data.root = root
    config.seed = 7  # Not a retina seed: 4 steps barely move a seed-0 init off random0's.
    trainer.train_and_evaluate(config, run)
    path = os.path.join(base, "weights.json")
    registry.register(weights_export.export_run(run), path)
    return path


@pytest.fixture(scope="session")
def trained_runs(eyepacs_root, tmp_path_factory):
    """{"random": [seed0, seed1], "pretrained": [start]} workdirs of CBR-Tiny runs.

    The pretrained run starts from CBR-Tiny weights pretrained on the synthetic source task
    (`init.kind=imagenet` through the study registry path), as the paper's transfer arm.
    """
    base = str(tmp_path_factory.mktemp("analysis_runs"))
    weights = _pretrain_source(base)
    return {
        "random": [_train(eyepacs_root, os.path.join(base, f"random{s}"), seed=s) for s in (0, 1)],
        "pretrained": [
            _train(eyepacs_root, os.path.join(base, "pretrained"), seed=2, registry_path=weights)
        ],
    }
