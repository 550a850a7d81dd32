"""`tf.distribute` strategies by flag name: default, mirrored (local devices), multi_worker.

`multi_worker` reads the cluster from the `TF_CONFIG` environment variable (one JSON per process:
`{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}`).
"""
from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for `--strategy=name`. Build it before any other TensorFlow work."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All local GPUs; without GPUs, all logical CPU devices (one unless configured with
        # tf.config.set_logical_device_configuration, as the tests do).
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        raw = os.environ.get("TF_CONFIG", "")
        if not raw:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                             "(cluster and task of this worker)")
        try:
            tf_config = json.loads(raw)
            workers = tf_config["cluster"]["worker"]
            task = tf_config["task"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"TF_CONFIG is not a valid cluster spec ({error}): {raw!r}") from None
        logging.info("multi-worker: task %s of %d workers %s", task, len(workers), workers)
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--strategy={name!r}: expected default, mirrored or multi_worker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one worker that writes summaries, checkpoints and the JSON summary."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_id(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_id is None:
        return 0
    return int(resolver.task_id)
