"""The learning rate a run trains at after it restores a checkpoint.

Three kinds of restore: a resume after a crash (the run's own checkpoint), a
fine-tuning run (`--resume-from` with `--learning-rate`) and a retraining warm
start (`retrain.warm_start_learning_rate`). Each must train at the configured rate
and schedule, not at whatever the optimizer held when the checkpoint was written.

The rate is read where it acts: Adam's `update_step` receives the rate it applies
to each variable at each step, and a subclass logs it by step. The expected rates
are computed here from the documented rule (the base rate x global batch /
base_batch_size; a linear warm-up; Keras's cosine decay to 10%), not from the
training record that the loop itself writes."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.trainer import data, loop, warm_start
from components.trainer.inputs import TrainInputs

TRAINED_AT = 0.01      # the source checkpoints' rate (trainer.hyperparameters)
FINE_TUNE_AT = 0.0005  # --learning-rate with --resume-from
WARM_START_AT = 0.002  # retrain.warm_start_learning_rate
WARMUP = 10


class RecordingAdam(keras.optimizers.Adam):
  """Adam that writes the rate it applies at step i into `log[i]`."""
  log: tf.Variable = None

  def update_step(self, gradient, variable, learning_rate):
    index = tf.reshape(tf.cast(self.iterations, tf.int64), [1, 1])
    RecordingAdam.log.scatter_nd_update(index, tf.reshape(tf.cast(learning_rate, tf.float32),
                                                          [1]))
    return super().update_step(gradient, variable, learning_rate)


class _Crash(Exception):
  pass


def _with(config, **trainer):
  return config.model_copy(update={"trainer": config.trainer.model_copy(update=trainer)})


def _expected(config, step: int) -> float:
  """The rate at `step` by the rule, with the config's budget as cosine's length."""
  t = config.trainer
  base = t.resume_learning_rate or t.hyperparameters.learning_rate
  peak = base * t.per_replica_batch_size / t.base_batch_size  # one replica here
  if t.warmup_steps and step < t.warmup_steps:
    return peak * (step + 1) / t.warmup_steps
  if t.lr_schedule == "cosine":
    done = min(step, t.train_steps) / t.train_steps
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done)))
  return peak


def _train(config, transformed, checkpoint_dir, tmp_path, *, warm=None, crash_at=None):
  """Trains (in this process, on the recording Adam); returns the rate applied at
  each step, NaN where no step ran."""
  _, transform_dir, examples_dir = transformed
  RecordingAdam.log = tf.Variable(tf.fill([config.trainer.total_steps + 1], math.nan))

  def progress(line: str) -> None:
    if crash_at is not None and line.startswith(f"step {crash_at}/"):
      raise _Crash()  # after the checkpoint of step crash_at is written

  try:
    loop.train(TrainInputs(
        config, config.trainer.hyperparameters, tft.TFTransformOutput(transform_dir),
        data.split_pattern(examples_dir, "train"), data.split_pattern(examples_dir, "eval"),
        str(checkpoint_dir), str(tmp_path / "logs"), progress=progress, warm_start=warm))
  except _Crash:
    pass
  return RecordingAdam.log.numpy()


@pytest.fixture(scope="module", params=["constant", "cosine"])
def rates(request, transformed, tmp_path_factory):
  """Each kind of restore, on one schedule: the rates each run applied. A constant
  rate is a plain number (a variable the checkpoint holds and a restore brings
  back); cosine comes with a warm-up (a schedule, positioned by the restored step)."""
  patch = pytest.MonkeyPatch()
  patch.setattr(keras.optimizers, "Adam", RecordingAdam)  # what training_state.build creates
  tmp = tmp_path_factory.mktemp(f"rates-{request.param}")
  base, _, _ = transformed
  config = _with(base, lr_schedule=request.param,
                 warmup_steps=WARMUP if request.param == "cosine" else 0,
                 hyperparameters=base.trainer.hyperparameters.model_copy(
                     update={"learning_rate": TRAINED_AT}))
  own = tmp / "own"
  try:
    out = {"config": config,
           # Steps 0-20, then a crash; the rerun resumes from ckpt-20 to 60.
           "crashed": _train(config, transformed, own, tmp, crash_at=20),
           "resumed": _train(config, transformed, own, tmp)}
    source = str(own / "ckpt-40")
    tuned = _with(config, train_steps=100, resume_learning_rate=FINE_TUNE_AT)
    out["tuned"] = (tuned, _train(tuned, transformed, tmp / "tuned", tmp, warm=source))
    retrain = config.retrain.model_copy(update={"warm_start_learning_rate": WARM_START_AT,
                                                "warm_start_steps": 30})
    warm = warm_start.with_warm_start_budget(config.model_copy(update={"retrain": retrain}), 40)
    out["warm"] = (warm, _train(warm, transformed, tmp / "warm", tmp, warm=source))
  finally:
    patch.undo()
  return out


def _assert_rates(config, applied, steps) -> None:
  want = np.array([_expected(config, s) for s in steps], dtype=np.float32)
  np.testing.assert_allclose(applied[list(steps)], want, rtol=1e-5,
                             err_msg=f"{config.trainer.lr_schedule} rate at steps {steps}")


def test_a_resume_after_a_crash_continues_the_rate_and_schedule(rates):
  config, crashed, resumed = rates["config"], rates["crashed"], rates["resumed"]
  assert np.isnan(crashed[20:]).all() and np.isnan(resumed[:20]).all()  # no step twice
  _assert_rates(config, crashed, range(0, 20))
  _assert_rates(config, resumed, range(20, 60))


def test_fine_tuning_trains_at_the_new_rate_not_the_checkpoints(rates):
  tuned, applied = rates["tuned"]
  assert np.isnan(applied[:40]).all() and not np.isnan(applied[40:100]).any()
  _assert_rates(tuned, applied, range(40, 100))
  old = TRAINED_AT * tuned.trainer.per_replica_batch_size / tuned.trainer.base_batch_size
  assert applied[40] < old / 2  # (the rule's rate differs from the source's)


def test_a_warm_start_trains_at_the_warm_start_rate(rates):
  warm, applied = rates["warm"]
  assert warm.trainer.train_steps == 70 and warm.trainer.resume_learning_rate == WARM_START_AT
  assert np.isnan(applied[:40]).all() and not np.isnan(applied[40:70]).any()
  _assert_rates(warm, applied, range(40, 70))
