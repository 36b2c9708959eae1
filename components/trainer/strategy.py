"""Choosing a tf.distribute strategy from the hardware, or from the config."""
from __future__ import annotations

import functools
import json
import os

import tensorflow as tf
from absl import logging

from components.config import Strategy


def _tf_config() -> dict:
  return json.loads(os.environ.get("TF_CONFIG") or "{}")


def cluster_workers() -> int:
  """Workers named in TF_CONFIG (set by a TFJob or by hand); 0 when there is none."""
  return len(_tf_config().get("cluster", {}).get("worker", []))


def task_type() -> str | None:
  """This process's role in TF_CONFIG: chief, worker or ps (None: not in a cluster)."""
  return _tf_config().get("task", {}).get("type")


def decide(requested: Strategy, num_gpus: int, num_workers: int) -> Strategy:
  """auto: MultiWorkerMirrored when TF_CONFIG names several workers, Mirrored on a
  host with several GPUs, otherwise one device (the GPU if there is one)."""
  if requested != Strategy.AUTO:
    return requested
  if num_workers > 1:
    return Strategy.MULTI_WORKER_MIRRORED
  if num_gpus > 1:
    return Strategy.MIRRORED
  return Strategy.ONE_DEVICE


@functools.lru_cache(maxsize=None)
def choose(requested: Strategy = Strategy.AUTO) -> tf.distribute.Strategy:
  """Once per process: a multi-worker strategy must exist before TensorFlow runs
  its first op (collectives are configured at start-up), so a replica creates it
  first and the loop gets the same object."""
  # Listing devices starts the runtime, so the cluster strategies come first.
  kind = decide(requested, 0, cluster_workers())
  if kind == Strategy.MULTI_WORKER_MIRRORED:
    return _log(tf.distribute.MultiWorkerMirroredStrategy())
  if kind == Strategy.PARAMETER_SERVER:
    if task_type() != "chief":
      raise ValueError("parameter_server training runs its loop on the coordinator: "
                       "TF_CONFIG must name this process task type 'chief'")
    return _log(tf.distribute.ParameterServerStrategy(
        tf.distribute.cluster_resolver.TFConfigClusterResolver()))
  gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
  kind = decide(requested, len(gpus), cluster_workers())
  if kind == Strategy.MIRRORED:
    # All GPUs; without GPUs, every logical CPU device (one, unless configured).
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices=gpus or cpus)
  else:
    strategy = tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
  return _log(strategy)


def serve_forever() -> None:
  """A parameter server or a worker of parameter-server training: it holds
  variables or runs the steps the coordinator sends, until it is stopped."""
  resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
  logging.info("serving as %s %d", resolver.task_type, resolver.task_id)
  tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                       task_index=resolver.task_id, protocol="grpc", start=True).join()


def _log(strategy: tf.distribute.Strategy) -> tf.distribute.Strategy:
  logging.info("distribution strategy: %s, %d replica(s)", type(strategy).__name__,
               strategy.num_replicas_in_sync)
  return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Only the chief writes checkpoints and summaries to the shared locations."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return (resolver.task_type == "chief" or
          (resolver.task_type == "worker" and resolver.task_id == 0 and
           "chief" not in resolver.cluster_spec().as_dict()))
