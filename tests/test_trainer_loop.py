"""The custom training loop: step budget, checkpoints, resume, strategies and
linear learning-rate scaling, on real transformed data."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import tensorflow as tf
import tensorflow_transform as tft

from components.checkpoint_evaluator import scoring
from components.trainer import data, loop, strategy
from components.config import HyperParameters, Strategy

from tests.conftest import REPO


def _train(config, transform_dir, examples_dir, ckpt_dir, log_dir, **overrides):
  if overrides:
    config = config.model_copy(update={"trainer": config.trainer.model_copy(update=overrides)})
  return loop.train(config, config.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
                    data.split_pattern(examples_dir, "train"),
                    data.split_pattern(examples_dir, "eval"), str(ckpt_dir), str(log_dir),
                    progress=lambda _: None)


def test_step_budget_sets_the_checkpoint_schedule(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  record = _train(config, transform_dir, examples_dir, tmp_path / "ckpt", tmp_path / "logs")
  assert record.final_step == 60 and record.start_step == 0
  assert record.checkpoint_interval == 20
  assert [s for s, _ in scoring.list_checkpoints(record.checkpoint_dir)] == [20, 40, 60]
  assert all(math.isfinite(loss) for _, loss in record.train_loss)
  assert tf.io.gfile.glob(str(tmp_path / "logs" / "events.out.tfevents.*"))


def test_rerun_resumes_from_the_latest_checkpoint(transformed, tmp_path):
  config, transform_dir, examples_dir = transformed
  first = _train(config, transform_dir, examples_dir, tmp_path / "ckpt", tmp_path / "l1",
                 train_steps=40, num_checkpoints=2)
  assert first.final_step == 40
  # Same directory, larger budget: continues at step 40 with the optimizer state.
  second = _train(config, transform_dir, examples_dir, tmp_path / "ckpt", tmp_path / "l2",
                  train_steps=80, num_checkpoints=4)
  assert second.start_step == 40 and second.final_step == 80
  assert [s for s, _ in scoring.list_checkpoints(second.checkpoint_dir)] == [20, 40, 60, 80]
  reader = tf.train.load_checkpoint(str(tmp_path / "ckpt" / "ckpt-80"))
  names = [n for n, _ in tf.train.list_variables(str(tmp_path / "ckpt" / "ckpt-80"))]
  assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 80
  assert any(n.startswith("optimizer/") for n in names), "optimizer slots are checkpointed"


def test_auto_strategy_follows_the_hardware():
  assert strategy.decide(Strategy.AUTO, num_gpus=0, num_workers=0) == Strategy.ONE_DEVICE
  assert strategy.decide(Strategy.AUTO, num_gpus=1, num_workers=0) == Strategy.ONE_DEVICE
  assert strategy.decide(Strategy.AUTO, num_gpus=4, num_workers=0) == Strategy.MIRRORED
  assert strategy.decide(Strategy.AUTO, num_gpus=1, num_workers=3) == Strategy.MULTI_WORKER_MIRRORED
  assert strategy.decide(Strategy.ONE_DEVICE, num_gpus=4, num_workers=0) == Strategy.ONE_DEVICE


def test_mirrored_on_two_devices_scales_batch_and_learning_rate(transformed, tmp_path):
  """Two logical CPU devices stand in for two GPUs: a real MirroredStrategy run."""
  config, transform_dir, examples_dir = transformed
  script = textwrap.dedent(f"""
      import json, tensorflow as tf
      cpu = tf.config.list_physical_devices("CPU")[0]
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
      import tensorflow_transform as tft
      from components.trainer import data, loop
      from components.config import PipelineConfig
      config = PipelineConfig.from_json({config.to_json()!r})
      config = config.model_copy(update={{"trainer": config.trainer.model_copy(
          update={{"strategy": "mirrored", "train_steps": 20, "num_checkpoints": 2}})}})
      record = loop.train(config, config.trainer.hyperparameters,
                          tft.TFTransformOutput({transform_dir!r}),
                          data.split_pattern({examples_dir!r}, "train"),
                          data.split_pattern({examples_dir!r}, "eval"),
                          {str(tmp_path / "ckpt")!r}, {str(tmp_path / "logs")!r},
                          progress=lambda _: None)
      import dataclasses
      print(json.dumps(dataclasses.asdict(record)))
      """)
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=REPO, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = json.loads(proc.stdout.strip().splitlines()[-1])
  per_replica = config.trainer.per_replica_batch_size
  assert record["strategy"] == "MirroredStrategy" and record["replicas"] == 2
  assert record["global_batch_size"] == 2 * per_replica
  base = HyperParameters().learning_rate
  assert math.isclose(record["learning_rate"],
                      base * 2 * per_replica / config.trainer.base_batch_size)
  assert record["final_step"] == 20
  assert all(math.isfinite(h["train_loss"]) for h in record["history"])
