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
from components.trainer import data, executor, loop, strategy
from components.trainer.inputs import TrainInputs
from components.config import HyperParameters, Strategy

from tests.conftest import REPO


def _train(config, transform_dir, examples_dir, ckpt_dir, log_dir, **overrides):
  if overrides:
    config = config.model_copy(update={"trainer": config.trainer.model_copy(update=overrides)})
  return loop.train(TrainInputs(
      config, config.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
      data.split_pattern(examples_dir, "train"), data.split_pattern(examples_dir, "eval"),
      str(ckpt_dir), str(log_dir), progress=lambda _: None))


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
  # ...and restored: Adam's iteration count (its bias correction, and the position
  # of a learning-rate schedule) went on from 40, not from a fresh optimizer's 0.
  assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 80


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
      from components.trainer.inputs import TrainInputs
      from components.config import PipelineConfig
      config = PipelineConfig.from_json({config.to_json()!r})
      config = config.model_copy(update={{"trainer": config.trainer.model_copy(
          update={{"strategy": "mirrored", "train_steps": 20, "num_checkpoints": 2}})}})
      record = loop.train(TrainInputs(
          config, config.trainer.hyperparameters, tft.TFTransformOutput({transform_dir!r}),
          data.split_pattern({examples_dir!r}, "train"),
          data.split_pattern({examples_dir!r}, "eval"), {str(tmp_path / "ckpt")!r},
          {str(tmp_path / "logs")!r}, progress=lambda _: None))
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


def _rewrite(src_pattern: str, dest_dir, transform=lambda records: records, shards=1):
  """The records of a split written again (as another Ingest run would), optionally
  changed; returns the new file pattern."""
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      tf.io.gfile.glob(src_pattern), compression_type="GZIP")]
  records = transform(records)
  os.makedirs(dest_dir)
  for i in range(shards):
    with tf.io.TFRecordWriter(os.path.join(dest_dir, f"part-{i}.gz"), options="GZIP") as w:
      for r in records[i::shards]:
        w.write(r)
  return os.path.join(dest_dir, "*")


def test_new_data_or_config_trains_in_a_fresh_checkpoint_directory(transformed, tmp_path):
  """A rerun on the same rows resumes; other rows or another training config must
  never resume onto the old run's checkpoints."""
  config, transform_dir, examples_dir = transformed
  config = config.model_copy(update={"trainer": config.trainer.model_copy(
      update={"train_steps": 40, "num_checkpoints": 2})})
  tft_output = tft.TFTransformOutput(transform_dir)
  train_pattern = data.split_pattern(examples_dir, "train")
  eval_pattern = data.split_pattern(examples_dir, "eval")
  hp = config.trainer.hyperparameters

  def run(cfg, train, name):
    return executor.train(TrainInputs(cfg, hp, tft_output, train, eval_pattern, "",
                                      str(tmp_path / "logs" / name), progress=lambda _: None),
                          executor.Launch(str(tmp_path / "ckpt")))

  first = run(config, train_pattern, "first")
  assert first.start_step == 0 and first.final_step == 40
  # The same rows, reordered and resharded as another Ingest run writes them: resumes.
  same_rows = _rewrite(train_pattern, tmp_path / "same", lambda r: r[::-1], shards=3)
  again = run(config, same_rows, "again")
  assert again.checkpoint_dir == first.checkpoint_dir and again.start_step == 40
  # One row fewer: new data, a new directory, training from step 0.
  fewer = _rewrite(train_pattern, tmp_path / "fewer", lambda r: r[1:])
  fresh = run(config, fewer, "fewer")
  assert fresh.checkpoint_dir != first.checkpoint_dir and fresh.start_step == 0
  # A setting that changes the trajectory: a new directory too...
  steeper = config.model_copy(update={"trainer": config.trainer.model_copy(
      update={"lr_schedule": "cosine"})})
  other = run(steeper, train_pattern, "cosine")
  assert other.checkpoint_dir not in (first.checkpoint_dir, fresh.checkpoint_dir)
  assert other.start_step == 0
  # ...one that does not (retention) resumes the same run.
  kept = config.model_copy(update={"trainer": config.trainer.model_copy(
      update={"keep_checkpoints": 1})})
  assert run(kept, train_pattern, "kept").checkpoint_dir == first.checkpoint_dir
