"""What a checkpoint holds: the model, its optimizer, and the step and epoch
counters, built under the distribution strategy's scope.

Built the same way for a new run, a resumed one and a warm start (whose source
is first built at its own vocabulary sizes, restore.py), so that every
checkpoint's variables match.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from components.config import HyperParameters, PipelineConfig
from components.trainer import model as model_lib, transfer


@dataclasses.dataclass
class TrainingState:
  model: keras.Model
  optimizer: keras.optimizers.Optimizer
  step: tf.Variable  # the global step: a resume continues from it
  epoch: tf.Variable  # virtual epochs done
  checkpoint: tf.train.Checkpoint  # all of the above, as one checkpoint saves and reads them


def build(config: PipelineConfig, hp: HyperParameters, tft_output,
          strategy: tf.distribute.Strategy, learning_rate,
          sizes: Optional[dict] = None) -> TrainingState:
  """sizes: embedding sizes other than this transform graph's (an earlier run's)."""
  with strategy.scope():
    keras.utils.set_random_seed(config.trainer.seed)
    model = model_lib.build_model(config, hp, sizes or model_lib.vocab_sizes_of(config, tft_output),
                                  model_lib.num_classes_of(config, tft_output))
    optimizer = keras.optimizers.Adam(learning_rate)
    if transfer.is_transfer(config):  # slots for every layer some stage will train
      transfer.set_stage(config, model, max(transfer.Stages(config).layers))
    # Slots now, not lazily inside the first tf.function step: under Mirrored
    # that fails, and a restore needs the slots to exist to fill them.
    optimizer.build(model.trainable_variables)
    if transfer.is_transfer(config):
      transfer.set_stage(config, model, transfer.Stages(config).layers[0])
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
  checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, epoch=epoch)
  return TrainingState(model, optimizer, step, epoch, checkpoint)
