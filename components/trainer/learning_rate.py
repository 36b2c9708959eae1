"""The learning rate: linear scaling with the global batch, an optional linear
warm-up, then the configured schedule.

The linear scaling rule (Goyal et al., 2017) keeps the update per example the
same when the batch grows with the replicas; early in training a scaled rate
is too large for the still-random weights, hence the warm-up.
"""
from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from components.config import PipelineConfig


@dataclasses.dataclass(frozen=True)
class Plan:
  base: float          # the hyperparameter (or resume_learning_rate)
  scaled: float        # base * global_batch / base_batch_size
  global_batch: int
  warmup_steps: int
  schedule: str

  def describe(self, per_replica: int, replicas: int, base_batch: int) -> str:
    text = (f"global batch {self.global_batch} ({per_replica} per replica x {replicas} "
            f"replica(s)), learning rate {self.scaled:g} ({self.base:g} x "
            f"{self.global_batch}/{base_batch})")
    if self.warmup_steps:
      text += f", warmed up linearly over {self.warmup_steps} steps"
    return text + (", cosine decay" if self.schedule == "cosine" else "")


class LinearWarmUp(keras.optimizers.schedules.LearningRateSchedule):
  """`after` (a rate or a schedule), ramped up linearly over the first steps.

  Its position is the optimizer's iteration count, which is checkpointed, so a
  resumed run continues the same curve."""

  def __init__(self, after, warmup_steps: int, peak: float):
    self.after, self.warmup_steps, self.peak = after, warmup_steps, peak

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    later = self.after(step) if callable(self.after) else tf.constant(self.after, tf.float32)
    ramp = self.peak * (step + 1.0) / float(self.warmup_steps)
    return tf.where(step < self.warmup_steps, ramp, later)

  def get_config(self):
    return {"warmup_steps": self.warmup_steps, "peak": self.peak}


def plan(config: PipelineConfig, base_lr: float, replicas: int) -> Plan:
  t = config.trainer
  global_batch = t.per_replica_batch_size * replicas
  return Plan(base=base_lr, scaled=base_lr * global_batch / t.base_batch_size,
              global_batch=global_batch, warmup_steps=t.warmup_steps, schedule=t.lr_schedule)


def schedule(config: PipelineConfig, p: Plan):
  """What the optimizer gets: a float when the rate is constant (so that a
  fine-tuning run can replace a restored rate), otherwise a schedule."""
  lr = p.scaled
  if p.schedule == "cosine":
    lr = keras.optimizers.schedules.CosineDecay(
        p.scaled, decay_steps=config.trainer.train_steps, alpha=0.1)
  if p.warmup_steps:
    lr = LinearWarmUp(lr, p.warmup_steps, p.scaled)
  return lr
