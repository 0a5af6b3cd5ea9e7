"""Choosing the tf.distribute strategy, and who writes files in a multi-worker run.

One host: `MirroredStrategy` over all visible GPUs (the CPU when there are none). Several
hosts: `MultiWorkerMirroredStrategy`, selected when `TF_CONFIG` names more than one worker;
only the chief writes checkpoints, logs and summaries into the workdir.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import tensorflow as tf
from absl import logging
from tensorflow.python.eager import context


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from e


def num_workers() -> int:
    cluster = _tf_config().get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy if TF_CONFIG names several workers, else Mirrored.

    Mirrored uses every visible GPU; without GPUs, every logical CPU device (one, unless the
    process split the CPU with `tf.config.set_logical_device_configuration`, which is how
    the multi-replica path is tested on CPU-only machines).
    """
    if num_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


def leave_together(name: str, timeout_seconds: int = 3600) -> None:
    """In a multi-worker run, waits until every worker has called this with `name`.

    TF 2.15's coordination service marks a worker that exits while another still runs as
    failed once its heartbeats stop (about 10 s), which aborts the other's collectives
    and logs errors; so every worker waits here for the others. A no-op on one worker.
    """
    if num_workers() > 1:
        context.context().wait_at_barrier(name, timeout_seconds * 1000)


def exit_together() -> None:
    """Ends this process of a multi-worker run once every worker is here; does not return.

    A worker's normal exit in TF 2.15 can stop its heartbeats and then stall in the
    coordination service's teardown, long enough (10 s) for the service to declare it
    failed and log errors after a successful run. So each worker exits without that
    teardown (`os._exit`, after flushing its logs), the chief last: it hosts the service
    and waits (at most a minute) until the others' servers have closed.
    """
    leave_together("transfusion_tf exit")
    if is_chief():
        deadline = time.monotonic() + 60
        for address in _other_addresses():
            while time.monotonic() < deadline and _accepts_connections(address):
                time.sleep(0.05)
    logging.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _other_addresses() -> list[str]:
    config = _tf_config()
    task = config.get("task", {})
    own = (task.get("type"), int(task.get("index", 0)))
    return [
        address
        for job, addresses in config.get("cluster", {}).items()
        for index, address in enumerate(addresses)
        if (job, index) != own and job in ("chief", "worker")
    ]


def _accepts_connections(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def is_chief() -> bool:
    """True unless TF_CONFIG makes this process a non-chief worker.

    With no `chief` job, worker 0 is the chief (the Keras/TF convention).
    """
    config = _tf_config()
    task = config.get("task", {})
    if not task or num_workers() <= 1:
        return True
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def worker_index() -> int:
    """This process's input pipeline among `num_workers()`: the chief first, then workers.

    Matches tf.distribute's own numbering (the chief is 0 when there is one); 0 without
    TF_CONFIG.
    """
    config = _tf_config()
    task = config.get("task", {})
    if not task or num_workers() <= 1:
        return 0
    chiefs = len(config.get("cluster", {}).get("chief", []))
    if task.get("type") == "chief":
        return 0
    return chiefs + int(task.get("index", 0))


def task_id() -> str:
    task = _tf_config().get("task", {})
    return f"{task.get('type', 'worker')}_{task.get('index', 0)}"


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name (MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__
