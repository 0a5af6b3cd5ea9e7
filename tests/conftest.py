"""Shared test fixtures: quiet TF logs, tiny datasets in real layouts, the session's
training runs (built once for all xdist workers: `tests/session.py`)."""

import contextlib
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from tests import binaries, fixtures, session

# Files holding the suite's longest tests (a study run end to end, training subprocesses,
# full-size slim graphs), longest first: `make test`'s xdist workers start these before the
# rest so that neither worker is left running one of them alone at the end.
LONGEST_FILES_FIRST = (
    "tests/transfusion_tf/studies/test_runner.py",
    "tests/transfusion_tf/test_initialization.py",
    "tests/transfusion_tf/test_distribution.py",
    "tests/transfusion_tf/test_train.py",
    "tests/analysis/test_run_analysis.py",
    "tests/slim_weights/test_convert.py",
    "tests/transfusion_tf/models/test_initializers_vs_slim.py",
    "tests/transfusion_tf/models/test_resnet_v1.py",
    "tests/transfusion_tf/models/test_inception_v3.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with `LONGEST_FILES_FIRST` handed out first."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFilesFirst(LoadFileScheduling):
        def _assign_work_unit(self, node):
            for scope in reversed(LONGEST_FILES_FIRST):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LongestFilesFirst(config, log)


# Session fixtures that train or take seconds: every test using one (directly or through
# another fixture) is `slow`.
SLOW_FIXTURES = frozenset({"retina_run", "source_weights", "trained_runs", "release_tarball"})


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """The guard below also covers the fixtures a test sets up (a module fixture that trains
    makes each test using it slow)."""
    with _refusing_training_and_processes(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _refusing_training_and_processes(item):
        yield


@contextlib.contextmanager
def _refusing_training_and_processes(item):
    """Fails a test that trains or starts a process, in its body or its fixtures, without the
    `slow` marker, so `make test-fast` (`-m "not slow"`) stays free of both. A run the trainer
    refuses before writing its initial weights (a bad config, a locked workdir) did not
    train."""
    if item.get_closest_marker("slow"):
        yield
        return
    from transfusion_tf import trainer

    def refused(what):
        return AssertionError(f"{item.nodeid} {what}: mark it @pytest.mark.slow")

    def no_process(*args, **kwargs):
        raise refused("starts a process")

    def train_without_training(config, workdir):
        try:
            train(config, workdir)
        except Exception as error:
            if os.path.isdir(os.path.join(workdir, "checkpoints", "init")):
                raise refused("trains") from error
            raise
        raise refused("trains")

    train = trainer.train_and_evaluate
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(binaries, "_popen", no_process)
        patch.setattr(trainer, "train_and_evaluate", train_without_training)
        yield


@pytest.fixture(scope="session")
def eyepacs_root(tmp_path_factory):
    """40 patients (80 images, 40 px) in the EyePACS layout; treat as read-only."""
    root = session.build_once(
        tmp_path_factory,
        "eyepacs",
        lambda directory: fixtures.write_eyepacs(directory, fixtures.balanced_grades(40)),
    )
    return str(root)


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
    """The session's one finished `retina.py:test` run on `eyepacs_root` (seed 0): 6 steps,
    checkpoints and evaluations at 2, 4, 6. Read-only: copy the workdir before changing
    anything.

    Returns (workdir, the train summary as train_summary.json holds it).
    """

    def train(workdir):
        from transfusion_tf import trainer
        from transfusion_tf.configs import retina

        config = retina.get_config("test")
        config.data.root = eyepacs_root
        trainer.train_and_evaluate(config, workdir)

    workdir = str(session.build_once(tmp_path_factory, "retina_run", train))
    with open(os.path.join(workdir, "train_summary.json")) as f:
        return workdir, json.load(f)


@pytest.fixture(scope="session")
def source_weights(tmp_path_factory):
    """A CBR-Tiny (widths 4-8-8-8) pretrained 4 steps on a tiny synthetic source task
    (20 classes, 32 px, seed 7) and registered in-process. Read-only.

    Returns (the registry's path, the pretraining workdir).
    """

    def pretrain(base):
        from slim_weights import registry
        from transfusion_tf import trainer, weights_export
        from transfusion_tf.configs import source_pretrain

        root, run = os.path.join(base, "data"), os.path.join(base, "run")
        fixtures.write_tiny_source(root)
        config = source_pretrain.get_config("test")
        config.data.root = root
        config.seed = 7  # Not a retina seed: 4 steps barely move a seed-0 init off its start.
        trainer.train_and_evaluate(config, run)
        registry.register(weights_export.export_run(run), os.path.join(base, "weights.json"))

    base = session.build_once(tmp_path_factory, "source_weights", pretrain)
    return str(base / "weights.json"), str(base / "run")
