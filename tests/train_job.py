"""Runs the training loop in its own process, as the Trainer would, so tests and
benchmarks can SIGKILL it:

  python -m tests.train_job CONFIG_JSON TRANSFORM_DIR EXAMPLES_DIR CKPT_DIR [no-checkpoints]

Prints progress lines as they happen and the TrainRecord as JSON at the end."""
import dataclasses
import json
import sys

import tensorflow_transform as tft

from components.trainer import data, loop
from components.trainer.inputs import TrainInputs
from components.config import PipelineConfig


def main(config_json, transform_dir, examples_dir, ckpt_dir, mode=""):
  config = PipelineConfig.from_json(config_json)
  record = loop.train(TrainInputs(
      config, config.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
      data.split_pattern(examples_dir, "train"), data.split_pattern(examples_dir, "eval"),
      ckpt_dir, ckpt_dir + "-logs", progress=lambda m: print(m, flush=True),
      save_checkpoints=mode != "no-checkpoints"))
  print("RECORD " + json.dumps(dataclasses.asdict(record)), flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
