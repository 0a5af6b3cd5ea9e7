"""Strategies on CPU: MirroredStrategy over 2 logical devices, MultiWorker with 2 processes."""

import json
import os
import re

import pandas as pd
import portpicker
import pytest

from tests import binaries, tolerances
from transfusion_tf import checkpointing, distribution

ARGS = [
    "--config=transfusion_tf/configs/retina.py:test",
    "--config.train.total_steps=4",
    "--config.train.eval_every=2",
    "--config.train.checkpoint_every=2",
    # The details' gradients run in the strategy's replica context, on the chief only.
    "--config.eval.tensorboard_details=true",
    # Both workers score the final splits whole; the chief writes the outputs.
    "--config.eval.final_splits=('valid', 'test')",
    "--config.train.keep_best=true",  # Every worker saves it, in step; the chief's is kept.
]
LOSS = re.compile(r"step (\d+)/4  loss ([0-9.]+)")


def test_tf_config_parsing(monkeypatch):
    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )
    assert distribution.num_workers() == 2 and not distribution.is_chief()
    assert distribution.task_id() == "worker_1"
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert distribution.is_chief()
    monkeypatch.delenv("TF_CONFIG")
    assert distribution.num_workers() == 0 and distribution.is_chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        distribution.num_workers()


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus(eyepacs_root, tmp_path):
    script = (
        "import sys, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "two = [tf.config.LogicalDeviceConfiguration()] * 2\n"
        "tf.config.set_logical_device_configuration(cpu, two)\n"
        "from absl import app\n"
        "from transfusion_tf import train\n"
        "sys.argv = ['train'] + sys.argv[1:]\n"
        "app.run(train.main)\n"
    )
    workdir = tmp_path / "mirrored"
    binaries.run("-c", script, *ARGS, f"--config.data.root={eyepacs_root}", f"--workdir={workdir}")
    launch = json.loads((workdir / "provenance.json").read_text())["launches"][0]
    assert (launch["strategy"], launch["replicas"]) == ("MirroredStrategy", 2)
    assert checkpointing.available_steps(str(workdir)) == [2, 4]
    assert _detail_steps(workdir) == [2, 4]


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_with_two_processes(two_workers):
    workdir, outputs = two_workers["workdir"], two_workers["outputs"]
    losses = [dict(LOSS.findall(err)) for _, err in outputs]
    assert sorted(map(int, losses[0])) == list(range(1, 5))
    assert losses[0] == losses[1]  # Cross-worker all-reduced, so identical on both.
    assert checkpointing.available_steps(str(workdir)) == [2, 4]  # The chief's.
    best = checkpointing.checkpoint_path(str(workdir), "best")
    assert os.path.exists(f"{best}.index") and best.endswith(f"best/ckpt-{_best_step(workdir)}")
    launch = json.loads((workdir / "provenance.json").read_text())["launches"]
    assert len(launch) == 1 and launch[0]["strategy"] == "MultiWorkerMirroredStrategy"
    assert launch[0]["replicas"] == 2
    assert len((workdir / "eval_log.csv").read_text().splitlines()) == 3
    assert _detail_steps(workdir) == [2, 4]
    # The final evaluation scores every image of each split, and the step-4 weights'
    # validation loss is the one the step-4 evaluation logged (a mean of the same 10
    # losses, summed maybe in another order).
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert (metrics["valid"]["examples"], metrics["test"]["examples"]) == (10, 10)
    predictions = pd.read_csv(workdir / "predictions_test.csv")
    assert sorted(predictions["image"]) == sorted(_split_images(workdir, "test"))
    logged = pd.read_csv(workdir / "eval_log.csv").set_index("step").loc[4, "loss"]
    tolerance = tolerances.reduction_atol(10, logged) + logged * tolerances.elementwise_rtol(4)
    assert abs(metrics["valid"]["loss"] - logged) <= tolerance
    # Both left together: no worker was declared failed by the coordination service.
    assert not [err for _, err in outputs if "set to ERROR" in err or "heartbeat" in err]


def _best_step(workdir) -> int:
    """The step of the first evaluation with the highest main metric (AUC)."""
    rows = pd.read_csv(workdir / "eval_log.csv")
    return int(rows.loc[rows["auc"].idxmax(), "step"])


def _split_images(workdir, split: str) -> list[str]:
    from transfusion_tf import experiment

    data = experiment.load_data(experiment.load_config(str(workdir)))
    return list(data.splits[split].rows()["image"])


def _detail_steps(workdir) -> list[int]:
    """The steps with a block gradient norm and a confusion table in the eval events."""
    import tensorflow as tf

    tags = {}
    directory = workdir / "tensorboard" / "eval"
    for name in os.listdir(directory):
        for event in tf.compat.v1.train.summary_iterator(str(directory / name)):
            tags.setdefault(event.step, set()).update(v.tag for v in event.summary.value)
    wanted = {"gradient_norm/block1", "confusion_matrix_counts/grade"}
    return sorted(step for step, found in tags.items() if wanted <= found)


def test_the_chief_waits_for_every_other_task_of_the_cluster(monkeypatch):
    cluster = {"chief": ["h:0"], "worker": ["h:1", "h:2"], "ps": ["h:3"]}
    config = {"cluster": cluster, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribution._other_addresses() == ["h:0", "h:2"]  # Parameter servers: not ours.
    config["task"] = {"type": "chief", "index": 0}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribution._other_addresses() == ["h:1", "h:2"]


def test_worker_index_counts_the_chief_first(monkeypatch):
    cluster = {"chief": ["h:0"], "worker": ["h:1", "h:2"]}
    for task, index in ((("chief", 0), 0), (("worker", 0), 1), (("worker", 1), 2)):
        config = {"cluster": cluster, "task": {"type": task[0], "index": task[1]}}
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
        assert distribution.worker_index() == index
    monkeypatch.delenv("TF_CONFIG")
    assert distribution.worker_index() == 0


# One worker of a 2-worker MultiWorkerMirroredStrategy, run twice (one launch serves both
# multi-worker tests: starting the workers is most of their time). First it builds the
# trainer's record stream (experiment.train_input) of a converted split (argv[1]), with the
# image id as the label, and prints what its replica gets in 20 steps from the start and in
# 5 steps resumed at step 3. Then it runs the train binary's main with the other arguments
# (which makes its own strategy, as `python -m transfusion_tf.train` does).
_WORKER = """
import dataclasses, json, sys
from absl import app
from pipelines import datasets
from transfusion_tf import distribution, experiment, train
from transfusion_tf.configs import retina

strategy = distribution.make_strategy()
split = datasets.load_dataset("tfrecords", sys.argv[1], split_fractions={}).splits["train"]

def parse(record, source):
    example = split.parse(record, source=source)
    return {"image": example["image"], "label": example["rows"]["image"]}

config = retina.get_config("test")
config.data.shuffle_buffer = 8
seen = []
for start, steps in ((0, 20), (3 * config.train.batch_size, 5)):
    stream = experiment.train_input(
        config,
        dataclasses.replace(split, parse=parse),
        start_example=start,
        preprocessing="inception",
    )
    batches = iter(strategy.experimental_distribute_dataset(stream))
    seen.append([])
    for _ in range(steps):
        _, ids = next(batches)
        local = strategy.experimental_local_results(ids)
        seen[-1].append([i.decode() for t in local for i in t.numpy()])
print("SEEN " + json.dumps(seen), flush=True)
sys.argv = ["train", *sys.argv[2:]]
app.run(train.main)
"""


def _tf_config(cluster: dict, index: int) -> str:
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


@pytest.fixture(scope="module")
def two_workers(eyepacs_root, tmp_path_factory):
    """One launch of two local workers (`_WORKER`): each reads the records converted from
    `eyepacs_root` (4 train shards), then trains `ARGS` into one workdir.

    Returns {"records": the converted dataset, "workdir": the run's Path, "outputs":
    [(stdout, stderr)] per worker, "seen": per worker, the ids of its 20 batches from the
    start and of its 5 resumed at step 3}.
    """
    from pipelines.records import conversion

    base = tmp_path_factory.mktemp("two_workers")
    records, workdir = str(base / "tfr"), base / "multi"
    conversion.convert_dataset(
        "eyepacs", eyepacs_root, records, split_fractions={"train": 0.75, "valid": 0.25},
        num_shards=4,
    )  # fmt: skip
    ports = [portpicker.pick_unused_port() for _ in range(2)]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    args = [*ARGS, f"--config.data.root={eyepacs_root}", f"--workdir={workdir}"]
    processes = [
        binaries.start("-c", _WORKER, records, *args, env={"TF_CONFIG": _tf_config(cluster, i)})
        for i in range(2)
    ]
    outputs = [binaries.finish(p) for p in processes]
    seen = [json.loads(out.split("SEEN ", 1)[1].splitlines()[0]) for out, _ in outputs]
    return {"records": records, "workdir": workdir, "outputs": outputs, "seen": seen}


@pytest.mark.slow
def test_two_workers_train_on_disjoint_shards_and_resume_exactly(two_workers):
    from pipelines import datasets

    split = datasets.load_dataset("tfrecords", two_workers["records"], split_fractions={})
    ids = split.splits["train"].rows()["image"].to_numpy()
    by_worker = [set(ids[0:15]) | set(ids[30:45]), set(ids[15:30]) | set(ids[45:60])]
    for worker, (straight, resumed) in enumerate(two_workers["seen"]):
        assert all(len(step) == 2 for step in straight)  # Batch 4: 2 per worker and step.
        assert {i for step in straight for i in step} == by_worker[worker]  # Its shards, all.
        assert resumed == straight[3:8]  # Resumed at step 3: the same batches.
    assert by_worker[0] | by_worker[1] == set(ids) and not by_worker[0] & by_worker[1]
