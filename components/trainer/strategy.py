"""Choosing a tf.distribute strategy from the hardware, or from the config."""
from __future__ import annotations

import json
import os

import tensorflow as tf
from absl import logging

from components.config import Strategy


def cluster_workers() -> int:
  """Workers named in TF_CONFIG (set by a TFJob or by hand); 0 when there is none."""
  tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
  return len(tf_config.get("cluster", {}).get("worker", []))


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


def choose(requested: Strategy = Strategy.AUTO) -> tf.distribute.Strategy:
  gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
  kind = decide(requested, len(gpus), cluster_workers())
  if kind == Strategy.MULTI_WORKER_MIRRORED:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  elif kind == Strategy.MIRRORED:
    # All GPUs; without GPUs, every logical CPU device (one, unless configured).
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices=gpus or cpus)
  else:
    strategy = tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
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
