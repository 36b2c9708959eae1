"""One measurement of bench.distribution, in a fresh process (a strategy is made
once per process, and each run must start cold):

  python -m bench._distribution_job MODE CONFIG_JSON TRANSFORM_DIR EXAMPLES_DIR WORK_DIR

MODE: input (the input pipeline alone), loop (our training loop, one process),
fit (plain Keras `fit` on the same data and model), cluster (our loop as
trainer.workers / trainer.ps processes). Prints one JSON line.
"""
from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(mode: str, config_json: str, transform_dir: str, examples_dir: str, work: str) -> None:
  import keras
  import tensorflow_transform as tft

  from components.config import PipelineConfig
  from components.trainer import cluster, data, evaluation, loop, model as model_lib
  from components.trainer.inputs import TrainInputs
  config = PipelineConfig.from_json(config_json)
  t = config.trainer
  tft_output = tft.TFTransformOutput(transform_dir)
  train = data.split_pattern(examples_dir, "train")
  inputs = TrainInputs(config, t.hyperparameters, tft_output, train,
                       data.split_pattern(examples_dir, "eval"), os.path.join(work, "ckpt"),
                       os.path.join(work, "logs"), progress=lambda _: None)
  if mode == "input":
    batches = iter(data.make_dataset(train, tft_output, t.per_replica_batch_size,
                                     training=True, seed=t.seed))
    next(batches)  # the graph is built and the first files opened: not throughput
    began = time.monotonic()
    for _ in range(t.train_steps):
      next(batches)
    seconds = time.monotonic() - began
  elif mode == "fit":
    model = model_lib.build_model(config, t.hyperparameters,
                                  model_lib.vocab_sizes_of(config, tft_output),
                                  model_lib.num_classes_of(config, tft_output))
    loss = model_lib.loss_fn(config)
    model.compile(optimizer=keras.optimizers.Adam(t.hyperparameters.learning_rate),
                  loss=lambda y, p: loss(evaluation.prepare_labels(config, y), p))
    dataset = data.make_dataset(train, tft_output, t.per_replica_batch_size, training=True,
                                seed=t.seed)
    began = time.monotonic()
    model.fit(dataset, steps_per_epoch=t.train_steps, epochs=1, verbose=0)
    seconds = time.monotonic() - began
  elif mode == "loop":
    seconds = loop.train(inputs).seconds
  elif mode == "cluster":
    seconds = cluster.train_locally(inputs, transform_dir).seconds
  else:
    sys.exit(f"unknown mode {mode!r}")
  print(json.dumps({"seconds": seconds, "steps": t.train_steps}))


if __name__ == "__main__":
  main(*sys.argv[1:])
