"""TFX Tuner entry point (`tuner_fn`): a small KerasTuner random search.

Each trial trains the same model as the Trainer for a short step budget and is
scored on the eval split; the best values feed the Trainer.
"""
from __future__ import annotations

import keras
import keras_tuner as kt
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from components import hyperparameters
from components.trainer import data, evaluation, loop, model as model_lib
from components.config import PipelineConfig


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
  config = PipelineConfig.from_json(fn_args.custom_config["config"])
  tc, t = config.tuner, config.trainer
  tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  sizes = loop.vocab_sizes(config, tft_output)
  classes = loop.num_classes(config, tft_output)

  def build(hp: kt.HyperParameters) -> keras.Model:
    # Same seed for every trial's initial weights (the data order is seeded too):
    # a rerun scores each trial the same and so picks the same best values.
    keras.utils.set_random_seed(t.seed)
    params = hyperparameters.sample(hp, t.hyperparameters)
    model = model_lib.build_model(config, params, sizes, classes)
    model.compile(optimizer=keras.optimizers.Adam(params.learning_rate),
                  loss=model_lib.loss_fn(config))
    return model

  def dataset(pattern, training):
    ds = data.make_dataset(pattern, tft_output, t.per_replica_batch_size,
                           training=training, seed=t.seed)
    if not training:
      ds = ds.unbatch().take(t.eval_examples).batch(data.EVAL_BATCH_SIZE)
    return ds.map(lambda x, y: (x, evaluation.prepare_labels(config, y)))

  tuner = kt.RandomSearch(
      build, objective="val_loss", max_trials=tc.max_trials, seed=t.seed,
      directory=fn_args.working_dir, project_name="search", overwrite=True)
  return TunerFnResult(tuner=tuner, fit_kwargs={
      "x": dataset(fn_args.train_files[0], True),
      "validation_data": dataset(fn_args.eval_files[0], False),
      "steps_per_epoch": tc.steps_per_trial, "epochs": 1, "verbose": 0})
