"""The full-batch polish: L-BFGS on the whole train split, after the Adam steps.

Memorizing a table is an optimization problem with no noise to average away:
every row is known and there is nothing to generalize to. Mini-batch Adam gets
the worst error over a 29,141-point grid to about 1% of the output range and
stalls there; quasi-Newton steps on the exact full-batch loss take it below 0.1%
(bench/memorize.py). scipy's L-BFGS-B does the search; TensorFlow gives it the
exact loss and gradient over every row.

An L-BFGS run restarts at each virtual epoch (its curvature memory is not in the
checkpoint), so a resumed run repeats the uninterrupted one exactly. Each
iteration counts as one step of the run's budget.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.optimize
import tensorflow as tf

# Past curvature pairs kept: more than scipy's default 10 pays on these small,
# badly conditioned problems.
_MEMORY = 50


class FullBatchPolish:

  def __init__(self, model, per_example_loss: Callable, batches: list, step: tf.Variable,
               prepare_labels: Callable, loss_inputs: Callable):
    """batches: the whole train split as (features, labels), held in memory;
    prepare_labels and loss_inputs: the loop's own, so both phases minimise one loss."""
    self._model, self._step = model, step
    self._variables = model.trainable_variables
    self._shapes = [v.shape for v in self._variables]
    self._sizes = [int(np.prod(s)) for s in self._shapes]
    self._dtype = self._variables[0].dtype
    self._rows = float(sum(int(tf.shape(labels)[0]) for _, labels in batches))
    self._batches = batches

    @tf.function(reduce_retracing=True)
    def batch_loss_and_grads(x, labels):
      with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = tf.reduce_sum(per_example_loss(
            *loss_inputs(model, prepare_labels(labels, out.dtype), out)))
        loss = tf.cast(loss, self._dtype) / self._rows
      return loss, tape.gradient(loss, self._variables)

    self._batch_loss_and_grads = batch_loss_and_grads

  def _set(self, flat: np.ndarray) -> None:
    offset = 0
    for v, shape, size in zip(self._variables, self._shapes, self._sizes):
      v.assign(np.reshape(flat[offset:offset + size], shape).astype(np.dtype(v.dtype)))
      offset += size

  def _loss_and_grad(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
    self._set(flat)
    total, grads = 0.0, [np.zeros(s) for s in self._sizes]
    for x, labels in self._batches:
      loss, batch_grads = self._batch_loss_and_grads(x, labels)
      total += float(loss)
      for g, bg in zip(grads, batch_grads):
        g += np.reshape(bg.numpy(), -1)
    # Regularization (a generalizing baseline's L2) counts once, not per batch.
    if self._model.losses:
      with tf.GradientTape() as tape:
        penalty = tf.cast(tf.add_n(self._model.losses), self._dtype)
      total += float(penalty)
      for g, pg in zip(grads, tape.gradient(penalty, self._variables)):
        if pg is not None:
          g += np.reshape(pg.numpy(), -1)
    return total, np.concatenate(grads)

  def run(self, seed: int, start: int, n: int) -> float:
    """n L-BFGS iterations from the current weights; the final full-batch loss.
    (seed is unused: the full batch has no order.)"""
    del seed
    x0 = np.concatenate([np.reshape(v.numpy(), -1) for v in self._variables]).astype(np.float64)
    result = scipy.optimize.minimize(
        self._loss_and_grad, x0, jac=True, method="L-BFGS-B",
        # No tolerance stops it early: the budget is the step count.
        options={"maxiter": n, "maxcor": _MEMORY, "ftol": 0.0, "gtol": 0.0})
    self._set(result.x)
    # When the line search can go no further, the rest of the epoch's budget is
    # spent: the step count stays the budget, so checkpoints land where planned.
    self._step.assign(start + n)
    return float(result.fun)
