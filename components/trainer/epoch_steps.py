"""What trains one virtual epoch, and what scores it.

Each transfer stage trains its own variables (the head alone, maybe on cached
bottleneck features, then more and more layers of the base), so each stage gets
its own compiled steps and scorer; a model without a pre-trained base has one
stage. After the step budget, trainer.polish_steps of full-batch L-BFGS go on in
epochs of the same length. Under parameter-server training the steps are
scheduled asynchronously on the workers (stepping.py).
"""
from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

from components.trainer import (data, evaluation, model as model_lib, polish, stepping,
                                transfer)
from components.config import ConfigError
from components.trainer.early_stopping import best_index
from components.trainer.run import Run


class EpochSteps:

  def __init__(self, run: Run):
    self._run = run
    inputs, config = run.inputs, run.config
    # While none of a pre-trained base trains, the head alone trains, on the base's
    # bottleneck features, computed once and cached (they cannot change).
    self._bottlenecks = (transfer.Bottlenecks(
        config, run.training.model, inputs.checkpoint_dir, inputs.train_pattern,
        inputs.eval_pattern, inputs.tft_output, evaluation.eval_rows(config), inputs.progress)
                         if transfer.caches_bottlenecks(config) else None)
    self._eval_images: list = []  # read when a stage first needs them
    self._loss_fn = model_lib.loss_fn(config, reduction=None)
    self._transform = _transform_on_workers(run)
    self._polisher = None
    if config.trainer.polish_steps:
      self._polisher = polish.FullBatchPolish(
          run.training.model, self._loss_fn,
          data.eval_batches(inputs.train_pattern, inputs.tft_output, None), run.training.step,
          lambda labels, dtype: evaluation.prepare_labels(config, labels, dtype),
          model_lib.loss_inputs)
    self.stage: Optional[int] = None  # the transfer stage whose steps these are
    self._steps = self.score = None

  def enter(self, stage: int) -> None:
    """The steps and scorer of a training stage: its layers of the base unfreeze."""
    run, config, stages = self._run, self._run.config, self._run.stages
    self.stage, unfrozen = stage, stages.layers[stage]
    model = run.training.model
    if transfer.is_transfer(config):
      names = transfer.set_stage(config, model, unfrozen)
      if len(stages) > 1:
        run.say(f"stage {stage + 1}/{len(stages)}: the head"
                + (f" and {len(names)} layers of the base ({', '.join(names)}), at "
                   f"learning rate x {stages.factor:g}" if names else " alone"))
    if self._bottlenecks and not unfrozen:
      head = model.get_layer("head")
      self._steps = self._compile(head, self._bottlenecks.train())
      self.score = evaluation.EvalScorer(config, head, self._bottlenecks.eval_batches())
      return
    if not self._eval_images:
      self._eval_images.extend(data.eval_batches(
          run.inputs.eval_pattern, run.inputs.tft_output, evaluation.eval_rows(config)))
    self._steps = self._compile(model, None)
    self.score = evaluation.EvalScorer(config, model, self._eval_images)

  def train(self, epoch_index: int, current: int) -> float:
    """Trains the epoch that starts at step `current`, on data shuffled with its
    number (so a resumed run sees the batches of an uninterrupted one): its mean loss."""
    t = self._run.config.trainer
    seed = t.seed + epoch_index
    if current < t.train_steps:
      end = epoch_end(current, self._run.interval, t.train_steps)
      return self._steps.run(seed, current, end - current)
    end = min(current + self._run.interval, t.total_steps)  # the polish, same epoch length
    return self._polisher.run(seed, current, end - current)

  def _compile(self, trained: keras.Model, cached: Optional[tuple]):
    """The steps that train `trained` (the model, or only its head on `cached`
    features); made again at each transfer stage, whose variables differ."""
    run, config, loss_fn = self._run, self._run.config, self._loss_fn
    model, optimizer = run.training.model, run.training.optimizer
    global_batch, inputs, transform = run.lr_plan.global_batch, run.inputs, self._transform

    def replica_step(feats, labels):
      with tf.GradientTape() as tape:
        logits = trained(feats, training=True)
        per_example = loss_fn(*model_lib.loss_inputs(
            model, evaluation.prepare_labels(config, labels, logits.dtype), logits))
        loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        if trained.losses:
          loss += tf.nn.scale_regularization_loss(tf.cast(tf.add_n(trained.losses),
                                                          loss.dtype))
      # The stage's trainable variables (the list is read when this is traced).
      grads = tape.gradient(loss, trained.trainable_variables)
      optimizer.apply_gradients(zip(grads, trained.trainable_variables))
      return tf.cast(loss, tf.float32)

    def dataset_fn(ctx, seed):
      batch = ctx.get_per_replica_batch_size(global_batch) if ctx else global_batch
      if cached is not None:
        return transfer.cached_dataset(*cached, batch, seed, ctx)
      return data.make_dataset(inputs.train_pattern, inputs.tft_output, batch, training=True,
                               seed=seed, input_context=ctx, transform=transform)

    if transform is not None:
      return stepping.Asynchronous(run.strategy, replica_step, run.training.step, optimizer,
                                   dataset_fn)
    return stepping.Synchronous(run.strategy, replica_step, run.training.step, dataset_fn)


def _transform_on_workers(run: Run):
  """Under parameter-server training, the Transform graph as a layer whose lookup
  tables have a copy on each worker; None otherwise (the input pipeline applies it)."""
  if not isinstance(run.strategy, tf.distribute.ParameterServerStrategy):
    return None
  if run.inputs.tft_output._exported_as_v1:  # pylint: disable=protected-access
    raise ConfigError("parameter_server training needs a transform graph written in "
                      "TF2 mode; this one is TF1 (rerun Transform with strategy "
                      "parameter_server in the config)")
  with run.strategy.scope():
    return run.inputs.tft_output.transform_features_layer()


def continue_from_best(run: Run, history: list) -> None:
  """Transfer in stages keeps the best stage: a new stage starts from the best
  checkpoint so far, so a stage that made things worse does not carry its damage
  into the next. (Optimizer state and step go on; only the weights go back.)"""
  if len(run.stages) < 2 or not history:
    return
  sel = run.config.checkpoint_selection
  best = history[best_index(history, sel.metric, sel.mode)]
  if best["step"] == history[-1]["step"]:
    return
  tf.train.Checkpoint(model=run.training.model).read(run.reader.path(best["step"])).expect_partial()
  run.say(f"the last stage did not beat step {best['step']} (eval {sel.metric} "
          f"{best['eval'][sel.metric]:.4f}): the next stage starts from that checkpoint")


def epoch_end(current: int, interval: int, train_steps: int) -> int:
  """The step at which the virtual epoch containing `current` ends. The remainder
  of train_steps / interval joins the last epoch, so there are exactly
  num_checkpoints epochs."""
  end = (current // interval + 1) * interval
  return train_steps if end + interval > train_steps else end

