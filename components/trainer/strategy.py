"""Choosing a tf.distribute strategy from the hardware, or from the config."""
from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging

from pipelines.config import Strategy


def _cluster_workers() -> int:
  tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
  return len(tf_config.get("cluster", {}).get("worker", []))


def choose(requested: Strategy = Strategy.AUTO) -> tf.distribute.Strategy:
  """auto: MultiWorkerMirrored when TF_CONFIG names several workers, Mirrored on a
  host with several GPUs, otherwise one device (the GPU if there is one)."""
  gpus = tf.config.list_logical_devices("GPU")
  if requested == Strategy.AUTO:
    if _cluster_workers() > 1:
      requested = Strategy.MULTI_WORKER_MIRRORED
    elif len(gpus) > 1:
      requested = Strategy.MIRRORED
    else:
      requested = Strategy.ONE_DEVICE
  if requested == Strategy.MULTI_WORKER_MIRRORED:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  elif requested == Strategy.MIRRORED:
    strategy = tf.distribute.MirroredStrategy()
  else:
    strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
  logging.info("distribution strategy: %s, %d replica(s)", type(strategy).__name__,
               strategy.num_replicas_in_sync)
  return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Only the chief writes checkpoints and exports to the shared locations."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return (resolver.task_type == "chief" or
          (resolver.task_type == "worker" and resolver.task_id == 0 and
           "chief" not in resolver.cluster_spec().as_dict()))
