"""Distributed training as real processes on this host: MultiWorkerMirrored with
two workers, and parameter-server training (coordinator, parameter server, two
workers), both launched by the Trainer's own code with TF_CONFIG per process.

One two-worker run is killed mid-way and rerun; every multi-worker assertion is
made on that pair of runs, because each costs minutes on two cores."""
from __future__ import annotations

import os
import re
import signal
import threading
import time

import pytest
import tensorflow_transform as tft

from components.launchers import local_processes
from components.trainer import checkpoints, data, executor, vocabularies
from components.trainer.inputs import TrainInputs

pytestmark = pytest.mark.e2e

_STEP = re.compile(r"^\[trainer\] step (\d+)/\d+  train loss ([\d.]+)", re.M)


def _config(transformed, tmp_path, **trainer):
  config, _, _ = transformed
  return config.model_copy(update={
      "run_dir": str(tmp_path / "run"),
      "trainer": config.trainer.model_copy(update=trainer)})


def _train(config, transformed, root, say=lambda _: None, on_start=lambda _: None):
  _, transform_dir, examples_dir = transformed
  return executor.train(
      TrainInputs(config, config.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
                  data.split_pattern(examples_dir, "train"),
                  data.split_pattern(examples_dir, "eval"), "", str(root / "logs"), say),
      executor.Launch(str(root / "checkpoints"), transform_graph=transform_dir,
                      on_start=on_start))


def _kill_when(replicas, task, path, events):
  """SIGKILLs replica `task` once `path` exists (a checkpoint landed)."""
  victim = next(r for r in replicas if r.name == task)

  def watch():
    while not os.path.exists(path) and victim.process.poll() is None:
      time.sleep(0.05)
    if victim.process.poll() is None:
      victim.process.send_signal(signal.SIGKILL)
      events.append(f"killed {task} after {os.path.basename(path)}")
  threading.Thread(target=watch, daemon=True).start()


def _logged_losses(log_path):
  with open(log_path) as f:
    return [(int(s), float(l)) for s, l in _STEP.findall(f.read())]


@pytest.fixture(scope="module")
def two_workers_killed_then_rerun(transformed, tmp_path_factory):
  """A two-worker run whose second worker is SIGKILLed once the first checkpoint
  has landed, then the same step run again: (config, error, record, lines, ckpt dir)."""
  root = tmp_path_factory.mktemp("two-workers")
  half = transformed[0].trainer.per_replica_batch_size // 2
  config = _config(transformed, root, workers=2, per_replica_batch_size=half)
  events, lines = [], []
  ckpt_dir = []

  def kill_after_first_checkpoint(replicas):
    first = config.trainer.train_steps // config.trainer.num_checkpoints
    _kill_when(replicas, "worker-1", os.path.join(ckpt_dir[0], f"ckpt-{first}.index"), events)

  def say(line):
    if line.startswith("checkpoints: "):
      ckpt_dir.append(line.split(": ", 1)[1])
  with pytest.raises(local_processes.ClusterFailed) as failed:
    _train(config, transformed, root, say, kill_after_first_checkpoint)
  assert events, "worker-1 finished before it could be killed"
  steps_after_kill = checkpoints.list_steps(ckpt_dir[0])
  record = _train(config, transformed, root, lines.append)
  return config, str(failed.value), steps_after_kill, record, lines, ckpt_dir[0]


def test_a_killed_worker_fails_the_step_with_its_name(two_workers_killed_then_rerun):
  _, error, *_ = two_workers_killed_then_rerun
  assert error.startswith("worker-1 was killed by SIGKILL"), error
  assert "\n" not in error


def test_rerun_resumes_every_worker_from_the_last_checkpoint_and_ends_at_the_budget(
    two_workers_killed_then_rerun):
  config, _, steps_after_kill, record, lines, ckpt_dir = two_workers_killed_then_rerun
  assert steps_after_kill, "no checkpoint survived the kill"
  assert record.start_step == steps_after_kill[-1]
  assert record.final_step == config.trainer.train_steps
  assert record.strategy == "CollectiveAllReduceStrategy" and record.replicas == 2
  assert record.global_batch_size == 2 * config.trainer.per_replica_batch_size
  assert any(f"resumed from {ckpt_dir}/ckpt-{steps_after_kill[-1]}" in line for line in lines)
  # Only the chief wrote: no private directory of worker 1 is left behind.
  assert sorted(os.listdir(ckpt_dir)) == sorted(
      [f for s in checkpoints.list_steps(ckpt_dir)
       for f in (f"ckpt-{s}.index", f"ckpt-{s}.data-00000-of-00001")]
      + ["checkpoint", "replica-logs", "training_record.json", checkpoints.STATE_FILE,
         vocabularies.DIRECTORY])  # what a later warm start remaps ids from


def test_both_workers_report_the_same_losses(two_workers_killed_then_rerun):
  *_, record, _, ckpt_dir = two_workers_killed_then_rerun
  logs = os.path.join(ckpt_dir, "replica-logs")
  chief, other = (_logged_losses(os.path.join(logs, f"worker-{i}.log")) for i in (0, 1))
  assert chief and chief == other
  assert [s for s, _ in chief] == [h["step"] for h in record.history
                                   if h["step"] > record.start_step]


def test_two_workers_follow_one_worker_at_the_same_global_batch(
    two_workers_killed_then_rerun, transformed, tmp_path):
  """Same global batch and learning rate, so the same expected trajectory; the
  workers read different shards, so not the same batches. Tolerance: 0.03 of
  loss at every checkpoint (the losses fall by about 0.2 over the run)."""
  config, *_, record, _, _ = two_workers_killed_then_rerun
  single = _train(_config(transformed, tmp_path, workers=1,
                          per_replica_batch_size=record.global_batch_size),
                  transformed, tmp_path)
  assert single.global_batch_size == record.global_batch_size
  assert single.learning_rate == record.learning_rate
  assert [h["step"] for h in single.history] == [h["step"] for h in record.history]
  for one, two in zip(single.history, record.history):
    assert abs(one["train_loss"] - two["train_loss"]) < 0.03, (one, two)
    assert abs(one["eval"]["loss"] - two["eval"]["loss"]) < 0.03, (one, two)
  assert record.history[-1]["train_loss"] < record.history[0]["train_loss"] - 0.05


@pytest.fixture(scope="module")
def transformed_tf2(tmp_path_factory, taxi_slice):
  """The taxi slice with a transform graph written in TF2 mode, as the pipeline's
  Transform writes it for parameter-server training."""
  from components.config import load_config
  from components.trainer import standalone_inputs
  config = load_config(overrides={
      "trainer.train_steps": 60, "trainer.num_checkpoints": 3,
      "trainer.per_replica_batch_size": 32, "trainer.strategy": "parameter_server",
      "trainer.workers": 2, "trainer.ps": 1})
  out = tmp_path_factory.mktemp("transformed-tf2")
  transform_dir, examples_dir = standalone_inputs.build(config, taxi_slice / "data.csv", out)
  assert not tft.TFTransformOutput(transform_dir)._exported_as_v1  # pylint: disable=protected-access
  return config, transform_dir, examples_dir


def test_parameter_server_training_survives_a_killed_worker(transformed_tf2, tmp_path):
  """1 parameter server, 2 workers and a coordinator; worker 1 is SIGKILLed once
  the first checkpoint has landed. The coordinator finishes the whole budget on
  worker 0, with checkpoints at the exact virtual-epoch boundaries."""
  # 300 steps: the kill lands well before the end (a step takes milliseconds).
  config = _config(transformed_tf2, tmp_path, train_steps=300)
  events, lines, ckpt_dir = [], [], []

  def say(line):
    lines.append(line)
    if line.startswith("checkpoints: "):
      ckpt_dir.append(line.split(": ", 1)[1])

  def kill_after_first_checkpoint(replicas):
    _kill_when(replicas, "worker-1", os.path.join(ckpt_dir[0], "ckpt-100.index"), events)
  record = _train(config, transformed_tf2, tmp_path, say, kill_after_first_checkpoint)
  assert events == ["killed worker-1 after ckpt-100.index"]
  assert any(line.startswith("worker-1 was killed by SIGKILL; the coordinator carries on")
             for line in lines), lines
  assert record.strategy == "ParameterServerStrategyV2"
  assert record.final_step == config.trainer.train_steps == 300
  assert [h["step"] for h in record.history] == [100, 200, 300]
  assert checkpoints.list_steps(ckpt_dir[0]) == [100, 200, 300]
  assert record.history[-1]["train_loss"] < record.history[0]["train_loss"]
