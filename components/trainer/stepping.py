"""How the steps of one virtual epoch run, for the two families of strategies.

Synchronous (OneDevice, Mirrored, MultiWorkerMirrored): every replica takes each
step together, on its slice of the global batch, and gradients are all-reduced.
Each epoch reads data shuffled with its own seed, so a resumed run sees the
batches the uninterrupted run would have.

Asynchronous (parameter servers): the coordinator sends closures of a few steps
to whichever worker is free; each worker reads its own differently shuffled
stream. When a worker dies, its closure is sent to another, which may make a
step run twice, so the step counters are set from the coordinator's count at
every join: a checkpoint always holds the exact step budget done so far.
"""
from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf

# Steps run inside one tf.function call: fewer Python round-trips per step.
_STEPS_PER_CALL = 50
# A closure lost with its worker is redone elsewhere: keep them short.
_STEPS_PER_CLOSURE = 10

# (input context or None, shuffle seed or None) -> a dataset of batches
DatasetFn = Callable[[Optional[tf.distribute.InputContext], Optional[int]], tf.data.Dataset]


def _chunks(n: int, size: int):
  while n > 0:
    yield min(size, n)
    n -= size


def _steps_fn(strategy, replica_step, step: tf.Variable):
  @tf.function
  def run_steps(iterator, n):
    total = tf.constant(0.0)
    for _ in tf.range(n):
      per_replica = strategy.run(replica_step, args=next(iterator))
      total += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
      step.assign_add(1)
    return total / tf.cast(n, tf.float32)
  return run_steps


class Synchronous:

  def __init__(self, strategy: tf.distribute.Strategy, replica_step, step: tf.Variable,
               dataset_fn: DatasetFn):
    self._strategy, self._dataset_fn = strategy, dataset_fn
    self._run_steps = _steps_fn(strategy, replica_step, step)

  def run(self, seed: int, start: int, n: int) -> float:
    """Runs steps start..start+n on data shuffled with `seed`: their mean loss."""
    dataset = self._strategy.distribute_datasets_from_function(
        lambda ctx: self._dataset_fn(ctx, seed))
    iterator = iter(dataset)
    weighted = 0.0
    for k in _chunks(n, _STEPS_PER_CALL):
      weighted += float(self._run_steps(iterator, tf.constant(k, tf.int64))) * k
    return weighted / n


class Asynchronous:

  def __init__(self, strategy: tf.distribute.Strategy, replica_step, step: tf.Variable,
               optimizer, dataset_fn: DatasetFn):
    self._coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    self._dataset_fn = dataset_fn
    self._step, self._optimizer = step, optimizer
    self._run_steps = _steps_fn(strategy, replica_step, step)
    self._iterator = None

  def run(self, seed: int, start: int, n: int) -> float:
    if self._iterator is None:  # one stream per worker for the whole run
      self._iterator = iter(self._coordinator.create_per_worker_dataset(
          lambda: self._dataset_fn(None, None)))
    losses = [(self._coordinator.schedule(self._run_steps, args=(
        self._iterator, tf.constant(k, tf.int64))), k) for k in _chunks(n, _STEPS_PER_CLOSURE)]
    self._coordinator.join()
    # Keras 3's own iteration counter is not atomic across workers either.
    self._step.assign(start + n)
    self._optimizer.iterations.assign(start + n)
    return sum(float(loss.fetch()) * k for loss, k in losses) / n
